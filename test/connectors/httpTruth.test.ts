import { expect } from "chai";
import { createHttpConnector } from "../../src/connectors/http";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, REST_TOKEN, restConfig, RestStandIn } from "./support/restStandIn";

const SHOW = `query($id: ID!) { request(id: $id) { status deletionPlan { connector category found toErase toKeep } deletionOutcome { connector category erased kept residual matchesPlan } residualRecords { connector category recordType records reason } tasks { connector step status lastError } } }`;

describeEachDatabase("the declarative HTTP connector, through the service", (db) => {
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(async () => {
    standIn = await new RestStandIn().start();
  });
  afterEach(async () => {
    await t?.stop();
    await standIn.stop();
  });

  async function deletion(config = restConfig(standIn)): Promise<any> {
    const connector = createHttpConnector(config, { REST_TEST_TOKEN: REST_TOKEN });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [connector]).start();
    return runVerified(t, SHOW, "DELETION", ADA.email);
  }

  // Ada's notes: n-a1 and n-a2 are past the 5 years SUPPORT is kept, n-a3..n-a5 within them; her 3 invoices are within PAYMENTS' 7 years.
  it("fails the erasure, never COMPLETED, when a DELETE answers 204 and the note is still there", async () => {
    standIn.deleteIgnores = ["n-a2"];
    const request = await deletion();
    expect(request.status).to.equal("FAILED");
    const erase = request.tasks.find((x: any) => x.step === "ERASE");
    expect(erase.lastError).to.equal("Verification after erasure found 1 record(s) still present outside the retention exceptions (SUPPORT: 1); the connector reported erasing 1 of the 3 planned");
    expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a2", "n-a3", "n-a4", "n-a5"]);
  });

  it("plans and keeps all her invoices when the API caps its page size below the configured one", async () => {
    // Asked for 5 a page, the system answers 2 with a Link to the next page.
    standIn.invoicePageCap = 2;
    const config = restConfig(standIn);
    config.resources[1].pagination = { type: "page", pageParam: "page", sizeParam: "per_page", size: 5 };
    const request = await deletion(config);
    expect(request.status).to.equal("COMPLETED");
    const payments = request.deletionPlan.find((l: any) => l.category === "PAYMENTS");
    expect(payments).to.deep.include({ found: 3, toErase: 0, toKeep: 3 });
    expect(request.deletionOutcome.find((l: any) => l.category === "PAYMENTS")).to.deep.include({ erased: 0, kept: 3, residual: 0, matchesPlan: true });
    expect(standIn.invoices.filter((i) => i.user === 1).length).to.equal(3);
  });

  it("ends a numbered listing at a page past the last that answers 404 (\"Invalid page.\"), having read the full page before it, and completes", async () => {
    // Her 3 invoices fill page 1 of 3; page 2 answers 404, as Django REST framework does past the last page.
    standIn.pastLastPage404 = true;
    for (const i of standIn.invoices) if (i.user === 1) i.issued_at = "2001-02-03T00:00:00.000Z";
    const config = restConfig(standIn);
    config.resources[1].pagination = { type: "page", pageParam: "page", sizeParam: "per_page", size: 3 };
    const request = await deletion(config);
    expect(standIn.calls.filter((c) => c.path === "/api/users/1/invoices").map((c) => c.status)).to.include(404);
    expect(standIn.invoices.filter((i) => i.user === 1).map((i) => i.billing_name)).to.deep.equal([null, null, null]);
    expect(request.status, request.tasks.map((x: any) => x.lastError).join(" ")).to.equal("COMPLETED");
    expect(request.deletionOutcome.find((l: any) => l.category === "PAYMENTS")).to.deep.include({ erased: 3, residual: 0, matchesPlan: true });
  });

  // A path the API does not serve (a typo, or an API version retired) answers 404: read as "no one" or
  // "no records", every deletion COMPLETED having erased nothing, her notes and invoices all in place.
  for (const [what, broken] of [
    ["subject.path", (config: ReturnType<typeof restConfig>) => void (config.subject.path = "/user")],
    ["a resource's path", (config: ReturnType<typeof restConfig>) => void (config.resources[0].path = "/users/{subject}/note")],
  ] as const) {
    it(`fails the deletion, never COMPLETED, when ${what} answers 404 (a path the API does not serve)`, async () => {
      const config = restConfig(standIn);
      broken(config);
      const request = await deletion(config);
      expect(request.status).to.equal("FAILED");
      const failed = request.tasks.filter((x: any) => x.status === "FAILED").map((x: any) => x.lastError);
      expect(failed.join(" ")).to.include("(HTTP 404); check");
      expect(standIn.notes.filter((n) => n.user === 1).length).to.equal(5);
      expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name === "Ada Lovelace").length).to.equal(3);
    });
  }

  it("does not search by a placeholder the request cannot fill (a typo, {emial}), nor COMPLETE saying the system holds nothing of hers", async () => {
    const config = restConfig(standIn);
    config.subject.query = { email: "{emial}" };
    // The search needs a kind "emial" that nobody provides: the task is SKIPPED saying so, never run.
    const request = await deletion(config);
    expect(request.status).to.not.equal("COMPLETED");
    expect(request.tasks.filter((x: any) => x.connector === "helpdesk").map((x: any) => `${x.step} ${x.status}`)).to.deep.equal(["ERASE SKIPPED"]);
    expect(standIn.calls.filter((c) => c.path === "/api/users")).to.deep.equal([]);
    expect(standIn.notes.filter((n) => n.user === 1).length).to.equal(5);
  });

  it("counts every note it deleted as erased, when a later DELETE of the same task fails and its retry finishes", async () => {
    // Nothing kept: both notes older than 5 years and two more of hers; the third DELETE answers 503 once.
    for (const n of standIn.notes.filter((x) => x.id === "n-a3" || x.id === "n-a4")) n.created_at = "2015-01-01T00:00:00.000Z";
    standIn.faults.push({ status: 503, method: "DELETE", after: 2 });
    const request = await deletion();
    expect(request.status).to.equal("COMPLETED");
    expect(standIn.calls.filter((c) => c.method === "DELETE").map((c) => c.status)).to.deep.equal([204, 204, 503, 204, 204]);
    expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a5"]);
    const support = request.deletionOutcome.find((l: any) => l.category === "SUPPORT");
    expect(support).to.deep.include({ erased: 4, kept: 1, residual: 0, matchesPlan: true });
  });

  it("keeps a note retention keeps when the API gives its date as epoch seconds in text", async () => {
    // n-a5, inside the 5 years, dated "1664236800" (its instant, as some APIs write it): read as no date, it was erased.
    const note = standIn.notes.find((n) => n.id === "n-a5")!;
    note.created_at = String(Date.parse(note.created_at) / 1000);
    const request = await deletion();
    expect(request.status).to.equal("COMPLETED");
    expect(request.deletionOutcome.find((l: any) => l.category === "SUPPORT")).to.deep.include({ erased: 2, kept: 3 });
    expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a3", "n-a4", "n-a5"]);
  });

  it("keeps a note retention keeps when the API gives its date as a julian day and the resource says recordedAtFormat julianDay", async () => {
    // Every note dated by its julian day (n-a5, inside the 5 years, 2459849.5 for 2022-09-27): read as epoch
    // seconds, n-a3..n-a5 were dated January 1970 and erased.
    for (const note of standIn.notes) (note as any).created_at = Date.parse(note.created_at) / 86_400_000 + 2440587.5;
    const config = restConfig(standIn);
    config.resources[0].recordedAtFormat = "julianDay";
    const request = await deletion(config);
    expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a3", "n-a4", "n-a5"]);
    expect(request.status).to.equal("COMPLETED");
    expect(request.deletionOutcome.find((l: any) => l.category === "SUPPORT")).to.deep.include({ erased: 2, kept: 3 });
  });

  it("fails, before any write, on a number whose unit the resource does not say (a julian day), naming the field, never the value", async () => {
    const note = standIn.notes.find((n) => n.id === "n-a5")!;
    const day = Date.parse(note.created_at) / 86_400_000 + 2440587.5;
    (note as any).created_at = day;
    const request = await deletion();
    expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
    expect(request.status).to.equal("FAILED");
    const errors = request.tasks.map((x: any) => x.lastError ?? "").join(" ");
    expect(errors).to.include("helpdesk: a note record holds a number whose unit cannot be told").and.include("at created_at; check the resource's recordedAtField and recordedAtFormat");
    expect(errors).not.to.include(String(Math.trunc(day)));
  });

  it("fails, before any write, on a record date it cannot read, rather than take the record for undated and erase it", async () => {
    standIn.notes.find((n) => n.id === "n-a5")!.created_at = "last Tuesday";
    const request = await deletion();
    expect(request.status).to.equal("FAILED");
    expect(request.tasks.map((x: any) => x.lastError).join(" ")).to.include("helpdesk: a note record holds a value that is not a date at created_at; check the resource's recordedAtField");
    expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
  });
});
