import { expect } from "chai";
import { ConnectorError, Identities, SubjectRecord, TaskContext } from "../src/connectors/sdk";
import { createManualConnector } from "../src/connectors/manual";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const DAY = 86_400_000;
const ENV = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000", DSR_TASK_MAX_ATTEMPTS: "1" };
const EMAIL = "Ottoline.Grieve@Example.com";
const ARCHIVE = {
  name: "paper-archive",
  categories: ["SUPPORT"],
  supports: ["access", "erasure"] as ("access" | "erasure")[],
  instructions: { collect: "Search the archive boxes and scan what you find.", erase: "Shred the subject's files." },
};
const SHOW = `query($id: ID!) { request(id: $id) { id status dueAt tasks { id connector step status lastError } } }`;
const RETRY = `mutation($id: ID!) { retryTask(id: $id) { id status } }`;
const COMPLETE = `mutation($id: ID!) { completeManualTask(input: { taskId: $id, records: [] }) { status } }`;
const EXTEND = `mutation($id: ID!) { extendDeadline(id: $id, days: 2, reason: "the archive is off-site") { id dueAt } }`;
/** Word for word what the service writes on a task it lapsed (30 days' grace). */
const LAPSED_TEXT =
  "MANUAL_TASK_LAPSED: no one completed this manual step (completeManualTask) within 30 day(s) (DSR_MANUAL_TASK_GRACE_DAYS) after the request's due date, so it was not done; the request is not kept waiting with the subject's data";

/** A system whose every collection fails for good with an error that reads like the service's own lapse of a manual task. */
class Mimic extends ScriptedConnector {
  // eslint-disable-next-line require-yield
  override async *collect(_ids: Identities, _ctx: TaskContext): AsyncIterable<SubjectRecord> {
    throw new ConnectorError(LAPSED_TEXT, "the system's own words", false);
  }
}

/**
 * A lapsed manual task (test/manualTaskLapse.test.ts) and an operator's retryTask: re-queued while its
 * request's due date is still past the grace, the sweep failed it again at once (the retry did nothing),
 * so it is refused, saying what to do; once the due date is extended, the retry is accepted and the step
 * can be done. And only the service's lapse is MANUAL_TASK_LAPSED: no connector's error text can claim it.
 */
describeEachDatabase("retrying a lapsed manual task", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });
  const rows = (id: string) => t.ds.query(`SELECT status, attempts, lastError FROM tasks WHERE id = ?`, [id]);

  it("refuses retryTask with MANUAL_TASK_LAPSED while the due date is past the grace, changing nothing; accepts it once the deadline is extended", async function () {
    this.timeout(180_000);
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(EMAIL.toLowerCase(), 2).script("collect", { kind: "fatal" }, { kind: "retryable", retryAfterMs: 60_000 });
    t = await new TestService(db(), { ...ENV, DSR_TASK_MAX_ATTEMPTS: "2" }, [accounts, createManualConnector(ARCHIVE)]).start();
    const show = async (id: string) => (await t.ok(SHOW, { id })).request;
    const task = (r: any, connector: string) => r.tasks.find((x: any) => x.connector === connector && x.step === "COLLECT");

    const access = await submit(t, { type: "ACCESS", subject: { email: EMAIL }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: access.id });
    const waiting = await t.waitFor(async () => {
      const r = await show(access.id);
      return task(r, "paper-archive")?.status === "AWAITING_INPUT" && task(r, "accounts")?.status === "FAILED" ? r : undefined;
    }, "the archive waits, the accounts failed", 30_000);
    const archive = task(waiting, "paper-archive").id;
    const accountsTask = task(waiting, "accounts").id;

    // 30 days past due: the archive's step lapses and the request ends FAILED.
    t.clock.set(new Date(new Date(waiting.dueAt).getTime() + 30 * DAY + 1000));
    const ended = await t.waitFor(async () => {
      const r = await show(access.id);
      return task(r, "paper-archive").status === "FAILED" ? r : undefined;
    }, "the archive's step lapsed", 20_000);
    expect(ended.status).to.equal("FAILED");
    expect(task(ended, "paper-archive").lastError).to.equal(LAPSED_TEXT);
    const lapsedRows = await rows(archive);

    // A retry now would only wait past the grace again: refused, saying what to do; nothing changes.
    const refused = await t.gql(RETRY, { id: archive });
    expect(refused.errors?.map((e) => [e.extensions.code, e.extensions.reason])).to.deep.equal([["CONFLICT", "MANUAL_TASK_LAPSED"]]);
    expect(refused.errors![0].message).to.include("submit a new request");
    expect(await rows(archive)).to.deep.equal(lapsedRows);
    const [{ status }] = await t.ds.query(`SELECT status FROM requests WHERE id = ?`, [access.id]);
    expect(status).to.equal("FAILED");
    expect(await t.ds.query(`SELECT action FROM audit_events WHERE requestId = ? AND action IN ('request.reopened', 'task.retried')`, [access.id])).to.deep.equal([]);

    // The accounts' failure is retried (the system asks for a minute): the request is open again, the archive's task still lapsed.
    expect((await t.ok(RETRY, { id: accountsTask })).retryTask.status).to.equal("PENDING");
    await t.waitFor(async () => ((await rows(accountsTask))[0].lastError?.startsWith("The system is busy") ? true : undefined), "the accounts wait a minute", 20_000);
    expect((await show(access.id)).status).to.equal("IN_PROGRESS");
    const again = await t.gql(RETRY, { id: archive });
    expect(again.errors?.map((e) => [e.extensions.code, e.extensions.reason])).to.deep.equal([["CONFLICT", "MANUAL_TASK_LAPSED"]]);
    expect(again.errors![0].message).to.include("extendDeadline");
    expect(await rows(archive)).to.deep.equal(lapsedRows);

    // Extended past the grace, the retry is accepted, the step waits for its person and is done.
    await t.ok(EXTEND, { id: access.id });
    expect((await t.ok(RETRY, { id: archive })).retryTask.status).to.equal("PENDING");
    await t.waitFor(async () => ((await rows(archive))[0].status === "AWAITING_INPUT" ? true : undefined), "the archive waits again", 20_000);
    expect((await rows(archive))[0].lastError, "the lapse no longer said").to.equal(null);
    await new Promise((r) => setTimeout(r, 400));
    expect((await rows(archive))[0].status, "not lapsed again by the sweep").to.equal("AWAITING_INPUT");
    expect((await t.ok(COMPLETE, { id: archive }, Role.PRIVACY_OFFICER)).completeManualTask.status).to.equal("SUCCEEDED");
    t.clock.advance(2 * 60_000);
    const done = await t.waitFor(async () => {
      const r = await show(access.id);
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "the request ended", 30_000);
    expect(done.status, JSON.stringify(done.tasks)).to.equal("COMPLETED");
    expect((await rows(archive))[0].status).to.equal("SUCCEEDED");
  });

  it("never takes a task a connector FAILED with the lapse's own words for a lapsed one", async function () {
    this.timeout(120_000);
    t = await new TestService(db(), ENV, [new Mimic({ name: "ledger", categories: ["ACCOUNT"] }), createManualConnector(ARCHIVE)]).start();
    const access = await submit(t, { type: "ACCESS", subject: { email: EMAIL }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: access.id });
    const waiting = await t.waitFor(async () => {
      const r = (await t.ok(SHOW, { id: access.id })).request;
      return r.tasks.find((x: any) => x.connector === "ledger" && x.step === "COLLECT")?.status === "FAILED" ? r : undefined;
    }, "the ledger's collection failed", 30_000);
    const ledger = waiting.tasks.find((x: any) => x.connector === "ledger" && x.step === "COLLECT");
    const [row] = await rows(ledger.id);
    // The clock past the due date and its grace: the ledger's task is still no lapsed manual step.
    t.clock.set(new Date(new Date(waiting.dueAt).getTime() + 30 * DAY + 1000));
    const complete = await t.gql(COMPLETE, { id: ledger.id }, Role.PRIVACY_OFFICER);
    expect(complete.errors?.map((e) => [e.extensions.code, e.extensions.reason ?? null])).to.deep.equal([["CONFLICT", null]]);
    expect(complete.errors![0].message).to.include("only a task AWAITING_INPUT");
    // Its error kept, said to be reported: it does not start as the service's lapse does.
    expect(row.status).to.equal("FAILED");
    expect(row.lastError).to.include(LAPSED_TEXT);
    expect(row.lastError.startsWith("MANUAL_TASK_LAPSED")).to.equal(false);
    expect(ledger.lastError).to.equal(row.lastError);
    expect(await rows(ledger.id)).to.deep.equal([row]);
    expect((await t.ok(RETRY, { id: ledger.id })).retryTask.status).to.equal("PENDING");
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE requestId = ? AND action = 'task.retried'`, [access.id]);
    expect(Number(n)).to.equal(1);
  });
});
