import { expect } from "chai";
import { createHttpConnector } from "../../src/connectors/http";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified, whenEnded } from "../identity/support";
import { ADA, REST_TOKEN, restConfig, RestStandIn } from "./support/restStandIn";

const SHOW = `query($id: ID!) { request(id: $id) { status deletionPlan { connector category found toErase toKeep } deletionOutcome { connector category erased kept residual matchesPlan } tasks { connector step status attempts lastError } } }`;
const FAILED_WRITE = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector category erased kept residual matchesPlan differences { kind records reason } }
  tasks { id step status lastError outcome { erased erasedInDoubt kept residual } }
  auditEvents { action details } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records } } }`;
const RETRY = `mutation($id: ID!) { retryTask(id: $id) { status } }`;

// A write whose answer is lost (a 503 from a proxy after the system deleted, a connection dropped after
// the delete) is retried; the retry no longer lists the record (or meets 404 for it). The system lost it
// through this request, so it is counted erased: once, however many attempts it takes.
describeEachDatabase("the declarative HTTP connector, when the answer to a write that went through is lost, or an error", (db) => {
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(async () => {
    standIn = await new RestStandIn().start();
    // Every note of Ada's past the 5 years SUPPORT is kept but n-a5: 4 to erase, 1 to keep.
    for (const n of standIn.notes.filter((x) => x.id === "n-a3" || x.id === "n-a4")) n.created_at = "2015-01-01T00:00:00.000Z";
  });
  afterEach(async () => {
    await t?.stop();
    await standIn.stop();
  });

  async function deletion(show = SHOW, retryableStatuses?: number[]): Promise<any> {
    const connector = createHttpConnector({ ...restConfig(standIn), ...(retryableStatuses ? { retryableStatuses } : {}) }, { REST_TEST_TOKEN: REST_TOKEN });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [connector]).start();
    return runVerified(t, show, "DELETION", ADA.email);
  }
  const adasNotes = () => standIn.notes.filter((n) => n.user === 1).map((n) => n.id);
  const support = (request: any) => request.deletionOutcome.find((l: any) => l.category === "SUPPORT");

  for (const through of ["answer", "drop"] as const) {
    it(`counts a note erased when its DELETE went through and ${through === "answer" ? "answered 503" : "its connection dropped unanswered"}, and its retry no longer finds it`, async () => {
      standIn.faults.push({ status: 503, method: "DELETE", after: 2, through });
      const request = await deletion();
      // The system itself: 4 of her 5 notes gone, n-a3 by the DELETE whose answer was lost.
      expect(adasNotes()).to.deep.equal(["n-a5"]);
      expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path.startsWith("/api/notes/")).map((c) => `${c.path.slice(11)} ${c.status}`).slice(0, 3)).to.deep.equal(["n-a1 204", "n-a2 204", `n-a3 ${through === "answer" ? 503 : 0}`]);
      expect(request.status, JSON.stringify(request.tasks)).to.equal("COMPLETED");
      expect(request.deletionPlan.find((l: any) => l.category === "SUPPORT")).to.deep.include({ found: 5, toErase: 4, toKeep: 1 });
      expect(support(request)).to.deep.include({ erased: 4, kept: 1, residual: 0, matchesPlan: true });
    });
  }

  it("counts each lost DELETE once when two attempts in a row lose one", async () => {
    // n-a3's DELETE answered 503 in the first attempt; n-a4's in the second (after n-a3's DELETE is sent again and answers 404).
    standIn.faults.push({ status: 503, method: "DELETE", after: 2, through: "answer" });
    let armed = false;
    standIn.onCall = (call) => {
      if (armed || call.method !== "DELETE" || call.path !== "/api/notes/n-a3" || call.status !== 404) return;
      armed = true;
      standIn.faults.push({ status: 503, method: "DELETE", through: "answer" });
    };
    const request = await deletion();
    expect(adasNotes()).to.deep.equal(["n-a5"]);
    expect(request.tasks.find((x: any) => x.step === "ERASE").attempts).to.be.at.least(3);
    expect(request.status, JSON.stringify(request.tasks)).to.equal("COMPLETED");
    expect(support(request)).to.deep.include({ erased: 4, kept: 1, residual: 0, matchesPlan: true });
  });

  it("counts an invoice anonymised when its PATCH went through and answered 503, and its retry lists it as nobody's", async () => {
    for (const i of standIn.invoices) i.issued_at = "2001-01-01T00:00:00.000Z";
    standIn.faults.push({ status: 503, method: "PATCH", after: 1, through: "answer" });
    const request = await deletion();
    expect(standIn.invoices.filter((i) => i.user === 1).map((i) => i.billing_name)).to.deep.equal([null, null, null]);
    expect(request.status, JSON.stringify(request.tasks)).to.equal("COMPLETED");
    expect(request.deletionOutcome.find((l: any) => l.category === "PAYMENTS")).to.deep.include({ erased: 3, residual: 0, matchesPlan: true });
  });

  it("counts her account erased when its DELETE went through and answered 503", async () => {
    // Nothing kept: every note and invoice past its period, so the account goes last.
    for (const n of standIn.notes) n.created_at = "2001-01-01T00:00:00.000Z";
    for (const i of standIn.invoices) i.issued_at = "2001-01-01T00:00:00.000Z";
    standIn.faults.push({ status: 503, method: "DELETE", after: 5, through: "answer" });
    const request = await deletion();
    expect(standIn.users.map((u) => u.id)).to.not.include(1);
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path === "/api/users/1")[0].status).to.equal(503);
    expect(request.status, JSON.stringify(request.tasks)).to.equal("COMPLETED");
    expect(request.deletionOutcome.find((l: any) => l.category === "ACCOUNT")).to.deep.include({ erased: 1, residual: 0, matchesPlan: true });
    expect(support(request)).to.deep.include({ erased: 5, matchesPlan: true });
  });
  // A write that lands, then is answered with an error the connector takes for a refusal (a 400, or a 500
  // the configuration does not retry): the ERASE fails for good, and the operator's retryTask runs it
  // again. What the service reports, at the failure and after the retry, is set against the stand-in's store.
  const erase = (request: any) => request.tasks.find((x: any) => x.step === "ERASE");
  for (const answer of [
    { status: 400, retryableStatuses: undefined },
    { status: 500, retryableStatuses: [429, 503] },
  ]) {
    it(`reports the notes gone after a DELETE landed and answered ${answer.status} (not retried), and its retryTask counts each once`, async () => {
      standIn.faults.push({ status: answer.status, method: "DELETE", after: 2, through: "answer" });
      const failed = await deletion(FAILED_WRITE, answer.retryableStatuses);
      // The system itself: n-a1, n-a2 deleted and answered 204; n-a3 deleted, then answered the error.
      expect(adasNotes()).to.deep.equal(["n-a4", "n-a5"]);
      expect(standIn.calls.filter((c) => c.method === "DELETE").map((c) => `${c.path} ${c.status}`)).to.deep.equal(["/api/notes/n-a1 204", "/api/notes/n-a2 204", `/api/notes/n-a3 ${answer.status}`]);
      expect(failed.status).to.equal("FAILED");
      // Not "nothing erased": the 2 confirmed, and the 1 more the count after the failure found gone (3 gone in all).
      expect(erase(failed).status).to.equal("FAILED");
      expect(erase(failed).outcome).to.deep.include({ erased: 2, erasedInDoubt: 1 });
      expect(erase(failed).lastError).to.match(new RegExp(`HTTP ${answer.status}.*2 record\\(s\\) erased before the failure.*1 more of the plan gone`));
      expect(failed.statusReason).to.contain("1 more of the plan gone");
      expect(failed.auditEvents.find((e: any) => e.action === "task.failed").details.error).to.contain("2 record(s) erased before the failure");

      const sentBefore = standIn.calls.length;
      expect((await t.ok(RETRY, { id: erase(failed).id })).retryTask.status).to.equal("PENDING");
      const retried = await whenEnded(t, FAILED_WRITE, failed.id);
      // 4 of her 5 notes gone (n-a4 by the retry), n-a5 kept.
      expect(adasNotes()).to.deep.equal(["n-a5"]);
      // The retried run (its attempts counted from 1 again) got the failed attempt's note back: n-a3's
      // DELETE is sent again first and answered 404, its own write confirmed (was: never sent again).
      expect(standIn.calls.slice(sentBefore).filter((c) => c.method === "DELETE").map((c) => `${c.path} ${c.status}`)).to.deep.equal(["/api/notes/n-a3 404", "/api/notes/n-a4 204"]);
      expect(retried.status, JSON.stringify(retried.tasks)).to.equal("COMPLETED");
      // n-a3 settled by its note, counted once: 4 erased, not 3 nor 5, and not also ERASED_BY_FAILED_ATTEMPT.
      expect(support(retried)).to.deep.include({ erased: 4, kept: 1, residual: 0, matchesPlan: true });
      expect(support(retried).differences).to.deep.equal([]);
      expect(erase(retried).outcome).to.deep.include({ erased: 4, erasedInDoubt: null });
      // The note is finished with it.
      expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM erasure_units WHERE taskId = ?`, [erase(failed).id]))[0].n), "notes left behind").to.equal(0);
      const { deletionCertificate } = await t.ok(CERTIFICATE, { id: failed.id });
      expect(deletionCertificate.erased.find((e: any) => e.connector === "helpdesk").records).to.equal(4);
    });
  }

  it("reports nothing in doubt when a DELETE was refused without landing, and its retryTask counts only its own", async () => {
    standIn.faults.push({ status: 400, method: "DELETE", after: 2 });
    const failed = await deletion(FAILED_WRITE);
    expect(adasNotes()).to.deep.equal(["n-a3", "n-a4", "n-a5"]);
    expect(erase(failed).outcome).to.deep.include({ erased: 2, erasedInDoubt: 0 });
    await t.ok(RETRY, { id: erase(failed).id });
    const retried = await whenEnded(t, FAILED_WRITE, failed.id);
    expect(adasNotes()).to.deep.equal(["n-a5"]);
    expect(support(retried)).to.deep.include({ erased: 4, kept: 1, matchesPlan: true });
  });
});
