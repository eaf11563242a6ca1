import { expect } from "chai";
import { createHttpConnector } from "../../src/connectors/http";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, REST_TOKEN, restConfig, RestStandIn } from "./support/restStandIn";

const SHOW = `query($id: ID!) { request(id: $id) { status deletionPlan { connector category found toErase toKeep } deletionOutcome { connector category erased kept residual matchesPlan } tasks { connector step status attempts lastError } } }`;

// A write whose answer is lost (a 503 from a proxy after the system deleted, a connection dropped after
// the delete) is retried; the retry no longer lists the record (or meets 404 for it). The system lost it
// through this request, so it is counted erased: once, however many attempts it takes.
describeEachDatabase("the declarative HTTP connector, when the answer to a write that went through is lost", (db) => {
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

  async function deletion(): Promise<any> {
    const connector = createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: REST_TOKEN });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [connector]).start();
    return runVerified(t, SHOW, "DELETION", ADA.email);
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
});
