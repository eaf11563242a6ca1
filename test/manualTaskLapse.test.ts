import { expect } from "chai";
import { createManualConnector } from "../src/connectors/manual";
import { Role } from "../src/domain/enums";
import { purgeExpiredExports } from "../src/export/purge";
import { CALLBACK_SECRET, CallbackReceiver } from "./support/callbackReceiver";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { columnsHolding } from "./support/residue";
import { ScriptedConnector } from "./support/scriptedConnector";

const DAY = 86_400_000;
const ENV = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000", DSR_TASK_MAX_ATTEMPTS: "1" };
const EMAIL = "Euphemia.Lockwood@Example.com";
const ARCHIVE = {
  name: "paper-archive",
  categories: ["SUPPORT"],
  supports: ["access", "erasure"] as ("access" | "erasure")[],
  instructions: { collect: "Search the archive boxes and scan what you find.", erase: "Shred the subject's files." },
};
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason dueAt tasks { id connector step status lastError } } }`;
const DELETE = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;
const COMPLETE = `mutation($id: ID!) { completeManualTask(input: { taskId: $id, records: [] }) { status } }`;
const ERASED = `mutation($id: ID!) { completeManualTask(input: { taskId: $id, erasedCount: 1 }) { status } }`;
const LAPSED = /^MANUAL_TASK_LAPSED: no one completed this manual step \(completeManualTask\) within 30 day\(s\) \(DSR_MANUAL_TASK_GRACE_DAYS\) after the request's due date/;

/**
 * Invariants 7 and 3 for a manual step nobody does: an approved request waited AWAITING_INPUT for ever,
 * keeping the person's identities and an access's staged records with it. DSR_MANUAL_TASK_GRACE_DAYS after
 * its due date the worker fails the step (never marks it done), the request ends FAILED naming it, and its
 * personal data goes like any ended request's.
 */
describeEachDatabase("a manual task nobody completes", (db) => {
  let t: TestService;
  let receiver: CallbackReceiver;
  afterEach(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  it("fails it as the system DSR_MANUAL_TASK_GRACE_DAYS after the due date, ends the request FAILED naming the step, refuses a late completion, and the person's data then goes", async function () {
    this.timeout(180_000);
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(EMAIL.toLowerCase(), 2);
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    t = await new TestService(db(), { ...ENV, DSR_CALLBACK_URL: receiver.url, DSR_CALLBACK_SECRET: CALLBACK_SECRET, DSR_CALLBACK_POLL_MS: "20" }, [accounts, createManualConnector(ARCHIVE)]).start();
    await t.ds.query("DELETE FROM status_callbacks");
    const show = async (id: string) => (await t.ok(SHOW, { id })).request;
    const archiveTask = (r: any, step: string) => r.tasks.find((x: any) => x.connector === "paper-archive" && x.step === step);

    // An access (the accounts' records staged) and a deletion from the settings page (with a status callback), each waiting for the archive.
    const access = await submit(t, { type: "ACCESS", subject: { email: EMAIL, phone: "+44 20 7946 0555" }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: access.id });
    const deletion = (await t.ok(DELETE, { input: { idempotencyKey: "settings-lapse-0001", subject: { email: EMAIL, userId: "u-lapse-1" } } }, Role.SERVICE)).requestAccountDeletion.id;
    const waiting: Record<string, any> = {};
    const steps: Record<string, string> = { [access.id]: "COLLECT", [deletion]: "ERASE" };
    for (const [id, step] of Object.entries(steps)) {
      waiting[id] = await t.waitFor(async () => {
        const r = await show(id);
        return r.status === "AWAITING_INPUT" && archiveTask(r, step)?.status === "AWAITING_INPUT" ? r : undefined;
      }, `${id} awaits the archive's ${step}`, 30_000);
    }
    const [{ n: staged }] = await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE requestId = ?`, [access.id]);
    expect(Number(staged), "the accounts' records staged").to.be.greaterThan(0);
    const lastDue = Math.max(...Object.values(waiting).map((r: any) => new Date(r.dueAt).getTime()));
    const needles = [EMAIL.toLowerCase(), "+442079460555", "u-lapse-1"];

    // 29 days past due, still waiting.
    t.clock.set(new Date(lastDue + 29 * DAY));
    await new Promise((r) => setTimeout(r, 400));
    for (const id of [access.id, deletion]) expect((await show(id)).status).to.equal("AWAITING_INPUT");

    // 30 days past: the worker fails each archive task, as the system; the requests end FAILED, naming the step.
    t.clock.set(new Date(lastDue + 30 * DAY + 1000));
    for (const [id, step] of Object.entries(steps)) {
      const ended = await t.waitFor(async () => {
        const r = await show(id);
        return r.status === "AWAITING_INPUT" ? undefined : r;
      }, "the request ended", 20_000);
      expect(ended.status).to.equal("FAILED");
      const task = archiveTask(ended, step);
      expect(task.status).to.equal("FAILED");
      expect(task.lastError).to.match(LAPSED);
      expect(ended.statusReason).to.include(`paper-archive ${step}: ${task.lastError}`);
      expect(ended.tasks.filter((x: any) => x.connector === "paper-archive").map((x: any) => x.status), "nothing of the archive done").not.to.include("SUCCEEDED");
      const rows = await t.ds.query(`SELECT status, lastError FROM tasks WHERE id = ?`, [task.id]);
      expect(rows.map((r: any) => [r.status, r.lastError])).to.deep.equal([["FAILED", task.lastError]]);
      const events = await t.ds.query(`SELECT actorId, details FROM audit_events WHERE requestId = ? AND action = 'task.failed'`, [id]);
      expect(events.map((e: any) => [e.actorId, JSON.parse(e.details).taskId, JSON.parse(e.details).error])).to.deep.equal([["system", task.id, task.lastError]]);
      // A completion arriving now is refused, saying why, and changes nothing.
      const late = await t.gql(step === "COLLECT" ? COMPLETE : ERASED, { id: task.id }, Role.PRIVACY_OFFICER);
      expect(late.errors?.map((e) => [e.extensions.code, e.extensions.reason])).to.deep.equal([["CONFLICT", "MANUAL_TASK_LAPSED"]]);
      expect(await t.ds.query(`SELECT status, lastError FROM tasks WHERE id = ?`, [task.id])).to.deep.equal(rows);
    }
    // The settings page is told.
    const told = await t.waitFor(async () => receiver.accepted.find((e) => e.requestId === deletion && e.status === "FAILED"), "the FAILED callback", 20_000);
    expect(told).to.include({ previousStatus: "AWAITING_INPUT", status: "FAILED", idempotencyKey: "settings-lapse-0001" });
    expect(told.statusReason).to.match(/paper-archive ERASE: MANUAL_TASK_LAPSED: no one completed this manual step/);
    expect(await columnsHolding(t.ds, needles), "while the records are kept").to.include.members(["request_identities.value", "requests.subjectEmail"]);

    // DSR_REQUEST_RECORD_RETENTION_DAYS after that, nothing of the person is left.
    t.clock.advance(731 * DAY);
    await purgeExpiredExports(t.service.services);
    expect(await columnsHolding(t.ds, needles), "columns holding the person").to.deep.equal([]);
    expect(await t.count("request_identities")).to.equal(0);
    expect(await t.count("staged_batches")).to.equal(0);
  });
});
