import { expect } from "chai";
import { createHttpConnector } from "../../src/connectors/http";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, REST_TOKEN, restConfig, RestStandIn } from "./support/restStandIn";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector category erased kept residual matchesPlan differences { kind records reason } }
  tasks { id step status lastError outcome { erased erasedInDoubt kept residual } }
  auditEvents { action details } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records } } }`;

// A write that lands, then is answered with an error the connector takes for a refusal (a 400, or a 500
// the configuration does not retry): the ERASE fails for good, and the operator's retryTask runs it
// again. What the service reports, at the failure and after the retry, is set against the stand-in's store.
describeEachDatabase("the declarative HTTP connector, when a write lands and is answered with an error that fails the erasure", (db) => {
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

  const adasNotes = () => standIn.notes.filter((n) => n.user === 1).map((n) => n.id);
  const support = (request: any) => request.deletionOutcome.find((l: any) => l.category === "SUPPORT");
  const erase = (request: any) => request.tasks.find((x: any) => x.step === "ERASE");

  for (const answer of [
    { status: 400, retryableStatuses: undefined },
    { status: 500, retryableStatuses: [429, 503] },
  ]) {
    it(`reports the notes gone after its DELETE landed and answered ${answer.status} (not retried), and its retryTask counts each once`, async () => {
      standIn.faults.push({ status: answer.status, method: "DELETE", after: 2, through: "answer" });
      const config = { ...restConfig(standIn), ...(answer.retryableStatuses ? { retryableStatuses: answer.retryableStatuses } : {}) };
      t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [createHttpConnector(config, { REST_TEST_TOKEN: REST_TOKEN })]).start();
      const failed = await runVerified(t, SHOW, "DELETION", ADA.email);

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

      const { retryTask } = await t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: erase(failed).id });
      expect(retryTask.status).to.equal("PENDING");
      const retried = await approvedToEndAfterRetry(t, failed.id);
      // 4 of her 5 notes gone (n-a4 by the retry), n-a5 kept.
      expect(adasNotes()).to.deep.equal(["n-a5"]);
      expect(retried.status, JSON.stringify(retried.tasks)).to.equal("COMPLETED");
      const line = support(retried);
      // n-a3 is the failed attempt's (not "erased outside the service"), counted once: 4 erased, not 3 nor 5.
      expect(line).to.deep.include({ erased: 4, kept: 1, residual: 0 });
      expect(line.differences.map((d: any) => `${d.kind} ${d.records}`)).to.deep.equal(["ERASED_BY_FAILED_ATTEMPT 1"]);
      expect(erase(retried).outcome).to.deep.include({ erased: 4, erasedInDoubt: null });
      const { deletionCertificate } = await t.ok(CERTIFICATE, { id: failed.id });
      expect(deletionCertificate.erased.find((e: any) => e.connector === "helpdesk").records).to.equal(4);
    });
  }

  it("reports nothing in doubt when its write was refused without landing, and its retry counts only its own", async () => {
    standIn.faults.push({ status: 400, method: "DELETE", after: 2 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: REST_TOKEN })]).start();
    const failed = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(adasNotes()).to.deep.equal(["n-a3", "n-a4", "n-a5"]);
    expect(erase(failed).outcome).to.deep.include({ erased: 2, erasedInDoubt: 0 });
    await t.ok(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: erase(failed).id });
    const retried = await approvedToEndAfterRetry(t, failed.id);
    expect(adasNotes()).to.deep.equal(["n-a5"]);
    expect(support(retried)).to.deep.include({ erased: 4, kept: 1, matchesPlan: true });
  });
});

/** Reads request `id` (SHOW) until it has ended again after a retryTask, moving the service clock. */
function approvedToEndAfterRetry(t: TestService, id: string): Promise<any> {
  return t.waitFor(
    async () => {
      t.clock.advance(1000);
      const { request } = await t.ok(SHOW, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "request ended after the retry",
    60_000,
  );
}
