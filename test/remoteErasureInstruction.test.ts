import { expect } from "chai";
import { describeEachDatabase } from "./support/databases";
import { approved, ended, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector category plannedFound erased kept residual matchesPlan }
  retentionExceptions { category recordCount holdId status }
  tasks { connector step status lastError } } }`;

/**
 * An erasure whose remote work is still going on is polled with what its erase call was told. A legal
 * hold released while the work ran made the poll's verification expect the held category erased (the
 * erase call had never been given it), and the deletion FAILED ("Verification after erasure found 2
 * record(s) still present ... (SUPPORT: 2)") for records the service had kept under the hold.
 */
describeEachDatabase("an erasure's remote work, polled with what its erase call was told", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("keeps what a hold released meanwhile withheld from the call, then purges it once the deletion has ended", async function () {
    this.timeout(60_000);
    const crm = new ScriptedConnector({ name: "crm", categories: ["ACCOUNT", "SUPPORT"], supports: ["access", "erasure"] });
    crm.data.set(ADA, [
      { category: "ACCOUNT", type: "row", id: "a1", data: { n: 1 } },
      { category: "SUPPORT", type: "note", id: "s1", data: { n: 2 } },
      { category: "SUPPORT", type: "note", id: "s2", data: { n: 3 } },
    ]);
    crm.script("erase", { kind: "remote", pollAfterMs: 1000, polls: 1 });
    // A short lease: the sweep that schedules purges runs every half lease.
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000" }, [crm]).start();
    const hold = (await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["SUPPORT"], reason: "Dispute", caseReference: "CASE-1" }) { id } }`)).placeLegalHold;
    const r = { id: await approved(t, { type: "DELETION", subject: { email: ADA } }) };
    await t.waitFor(async () => ((await t.ok(SHOW, { id: r.id })).request.tasks.some((x: any) => x.step === "ERASE" && x.status === "REMOTE_PROCESSING") ? true : undefined), "the erasure waits for its remote work", 30_000);
    await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Dispute settled") { id } }`, { id: hold.id });
    const done = await ended(t, SHOW, r.id, { tickMs: 500, timeoutMs: 30_000 });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // The system itself: the call erased the account row and was never given the held notes.
    const support = () => (crm.data.get(ADA) ?? []).filter((x) => x.category === "SUPPORT").length;
    expect((crm.data.get(ADA) ?? []).filter((x) => x.category === "ACCOUNT")).to.deep.equal([]);
    expect(done.deletionOutcome).to.deep.equal([
      { connector: "crm", category: "ACCOUNT", plannedFound: 1, erased: 1, kept: 0, residual: 0, matchesPlan: true },
      { connector: "crm", category: "SUPPORT", plannedFound: 2, erased: 0, kept: 2, residual: 0, matchesPlan: true },
    ]);
    // Kept by the hold (released: the purge's to erase, which may already be at work).
    expect(done.retentionExceptions.map((e: any) => ({ ...e, status: undefined }))).to.deep.equal([{ category: "SUPPORT", recordCount: 2, holdId: hold.id, status: undefined }]);
    // The hold is released: the purge erases the notes and closes the exception.
    const purged = await t.waitFor(async () => {
      t.clock.advance(500);
      const now = (await t.ok(SHOW, { id: r.id })).request;
      return now.retentionExceptions.every((e: any) => e.status === "CLOSED") ? now : undefined;
    }, "the released hold's set purged", 30_000);
    expect(support(), "the notes are gone from the system").to.equal(0);
    expect(purged.tasks.find((x: any) => x.step === "PURGE")).to.include({ status: "SUCCEEDED" });
  });
});
