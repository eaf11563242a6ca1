import { expect } from "chai";
import { createManualConnector } from "../src/connectors/manual";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { watchStatements } from "./support/statements";
import { REQUEST_FIELDS, submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { insertPlan } from "../src/orchestrator/sql/insertPlan";
import { inTransaction } from "../src/db/transaction";
import { planTasks } from "../src/orchestrator/planner";
import { RequestType } from "../src/domain/enums";
import { exportedManifest } from "./export/support";

const TASKS = `id connector step status attempts maxAttempts lastError note nextAttemptAt startedAt finishedAt outcome { records erased identitiesFound changed notHeld }`;
const SHOW = `query($id: ID!) { request(id: $id) { ${REQUEST_FIELDS} duplicateOf tasks { ${TASKS} } progress { total finished fraction awaitingInput remoteProcessing failed } } }`;
const FAST = { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "600", DSR_RETRY_BASE_MS: "1000", DSR_RETRY_MAX_MS: "8000", DSR_TASK_MAX_ATTEMPTS: "3" };
const ADA = "ada.lovelace@example.com";

/** The platform in miniature: the account database knows the payment customer id the payment processor needs. */
function platform() {
  const account = new ScriptedConnector({ name: "account-db", provides: ["paymentCustomerId"], categories: ["ACCOUNT"] }, { paymentCustomerId: "cus_42" }).seed(ADA, 3);
  const payments = new ScriptedConnector({ name: "payments", needs: ["paymentCustomerId"], categories: ["PAYMENTS"] }).seed(ADA, 2);
  const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seed(ADA, 4);
  return { account, payments, tickets, all: [account, payments, tickets] };
}

describeEachDatabase("orchestrator", (db) => {
  let t: TestService;
  let p: ReturnType<typeof platform>;

  async function start(connectors = p.all as any[], env: Record<string, string> = {}) {
    t = await new TestService(db(), { ...FAST, ...env }, connectors).start();
  }
  afterEach(async () => {
    await t?.stop();
  });
  beforeEach(() => {
    p = platform();
  });

  async function approved(type = "ACCESS", extra: Record<string, unknown> = {}): Promise<string> {
    const r = await submit(t, { type, identityVerified: true, verificationEvidence: "test", ...extra });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return r.id;
  }
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  /** A connector's first task, or its task of `step` (a deletion surveys with COLLECT before its ERASE). */
  const task = (request: any, connector: string, step?: string) => request.tasks.find((x: any) => x.connector === connector && (!step || x.step === step));
  const until = (id: string, status: string) =>
    t.waitFor(async () => {
      const r = await show(id);
      return r.status === status ? r : undefined;
    }, `request ${status}`);
  const taskUntil = (id: string, connector: string, status: string, step?: string) =>
    t.waitFor(async () => {
      const r = await show(id);
      return task(r, connector, step)?.status === status ? task(r, connector, step) : undefined;
    }, `${connector} ${status}`);

  it("fans an access request out in identity order, in parallel where nothing depends, to COMPLETED", async () => {
    await start();
    p.account.delayMs = 150;
    p.tickets.delayMs = 150;
    const id = await approved();
    const done = await until(id, "COMPLETED");
    expect(done.tasks.map((x: any) => `${x.connector}:${x.step}:${x.status}`)).to.deep.equal([
      "account-db:RESOLVE:SUCCEEDED",
      "account-db:COLLECT:SUCCEEDED",
      "payments:COLLECT:SUCCEEDED",
      "tickets:COLLECT:SUCCEEDED",
      "export:EXPORT:SUCCEEDED",
    ]);
    expect(task(done, "account-db").outcome.identitiesFound).to.deep.equal(["paymentCustomerId"]);
    expect(done.tasks.find((x: any) => x.connector === "payments").outcome.records).to.equal(2);
    expect(done.progress).to.deep.equal({ total: 5, finished: 5, fraction: 1, awaitingInput: 0, remoteProcessing: 0, failed: 0 });
    // payments waited for the identity; tickets needed nothing and started alongside the resolve.
    const resolve = p.account.callsOf("resolve")[0];
    expect(p.payments.callsOf("collect")[0].wallMs).to.be.at.least(resolve.wallMs + 150);
    expect(Math.abs(p.tickets.callsOf("collect")[0].wallMs - resolve.wallMs)).to.be.below(120);
    // The export merged every staged record, then the staging rows went.
    expect(task(done, "export").outcome.records).to.equal(3 + 2 + 4);
    // Removed right after the export's completion commits (the request is COMPLETED a moment before).
    await t.waitFor(async () => ((await t.count("staged_batches")) + (await t.count("staged_keys")) === 0 ? true : undefined), "staged records removed");
    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id })).auditEvents.map((e: any) => e.action);
    expect(events).to.include.members(["request.planned", "task.started", "task.succeeded", "request.completed"]);
  });

  it("hands every step on without waiting for a poll: with the poll a minute apart, ten requests still complete in seconds", async () => {
    // Every hand-over in one process is a wake: the approval's, and each task's end (its dependents
    // may be ready now). None may wait for the poll, here a minute away.
    await start(p.all, { DSR_WORKER_POLL_MS: "60000" });
    const started = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await approved("ACCESS", { subject: { email: `person${i}@example.com` } }));
    for (const id of ids) await until(id, "COMPLETED");
    expect(Date.now() - started).to.be.below(20_000);
  });

  it("erases in reverse identity order: the identity source last", async () => {
    await start();
    const id = await approved("DELETION");
    const done = await until(id, "COMPLETED");
    expect(done.tasks.map((x: any) => `${x.connector}:${x.step}`)).to.deep.equal([
      "account-db:RESOLVE",
      "account-db:COLLECT",
      "payments:COLLECT",
      "tickets:COLLECT",
      "account-db:ERASE",
      "payments:ERASE",
      "tickets:ERASE",
    ]);
    // The plan is whole before anything is erased: every survey ended before the first erasure.
    const surveysEnded = Math.max(...done.tasks.filter((x: any) => x.step === "COLLECT").map((x: any) => Date.parse(x.finishedAt)));
    expect(Math.min(...p.all.map((c) => c.callsOf("erase")[0].at.getTime()))).to.be.at.least(surveysEnded);
    expect(p.account.callsOf("erase")[0].wallMs).to.be.at.least(p.payments.callsOf("erase")[0].wallMs);
    expect(task(done, "payments", "ERASE").outcome.erased).to.equal(2);
    expect(task(done, "account-db", "ERASE").outcome.erased).to.equal(3);
  });

  it("skips, with the reason, a connector that does not support the action or whose identity nobody can supply", async () => {
    const noErase = new ScriptedConnector({ name: "read-only", supports: ["access"] });
    const orphan = new ScriptedConnector({ name: "orphan", needs: ["ticketingUserId"] });
    await start([...p.all, noErase, orphan]);
    const id = await approved("DELETION");
    const done = await until(id, "COMPLETED");
    expect(task(done, "read-only")).to.include({ status: "SKIPPED", note: "read-only does not support erasure" });
    expect(task(done, "orphan")).to.include({ status: "SKIPPED" });
    expect(task(done, "orphan").note).to.match(/needs ticketingUserId, which the request does not carry and no connector provides/);
    expect(orphan.calls).to.have.length(0);
  });

  it("skips a connector at run time when its provider found no identity", async () => {
    const account = new ScriptedConnector({ name: "account-db", provides: ["paymentCustomerId"] }, {});
    await start([account, p.payments]);
    const id = await approved();
    const done = await until(id, "COMPLETED");
    expect(task(done, "payments").status).to.equal("SKIPPED");
    expect(task(done, "payments").note).to.equal("needs paymentCustomerId, which no connector found for this subject");
  });

  it("retries a retryable failure with backoff and honours Retry-After, measured on the clock", async () => {
    await start();
    p.tickets.script("collect", { kind: "retryable", retryAfterMs: 60_000 });
    const id = await approved();
    const waiting = await t.waitFor(async () => {
      const x = task(await show(id), "tickets");
      return x.status === "PENDING" && x.attempts === 1 ? x : undefined;
    }, "tickets retry scheduled");
    const failedAt = p.tickets.callsOf("collect")[0].at.getTime();
    expect(Date.parse(waiting.nextAttemptAt) - failedAt).to.be.at.least(60_000);
    expect(waiting.lastError).to.equal("The system is busy; will retry");
    t.clock.advance(59_000);
    await new Promise((r) => setTimeout(r, 150));
    expect(p.tickets.callsOf("collect")).to.have.length(1);
    t.clock.advance(1_001);
    const done = await until(id, "COMPLETED");
    expect(task(done, "tickets")).to.include({ status: "SUCCEEDED", attempts: 2, lastError: null });
    expect(p.tickets.callsOf("collect")[1].at.getTime() - failedAt).to.be.at.least(60_000);
  });

  it("fails a task at once on a non-retryable error, skips what depended on it, fails the request with the reason; retryTask recovers", async () => {
    await start();
    p.account.script("resolve", { kind: "fatal" });
    const id = await approved();
    const failed = await until(id, "FAILED");
    expect(task(failed, "account-db")).to.deep.include({ status: "FAILED", attempts: 1, lastError: "The system refused the request" });
    expect(failed.tasks.find((x: any) => x.connector === "payments")).to.include({ status: "SKIPPED", note: "not run: account-db RESOLVE failed" });
    expect(failed.statusReason).to.equal("1 task(s) failed: account-db RESOLVE: The system refused the request");
    expect(failed.progress.failed).to.equal(1);
    const retried = (await t.ok(`mutation($id: ID!) { retryTask(id: $id) { status attempts } }`, { id: task(failed, "account-db").id })).retryTask;
    expect(retried).to.deep.equal({ status: "PENDING", attempts: 0 });
    const done = await until(id, "COMPLETED");
    expect(done.tasks.every((x: any) => x.status === "SUCCEEDED")).to.equal(true);
    const again = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { id } }`, { id: task(done, "account-db").id });
    expect(again.errors![0].extensions.code).to.equal("CONFLICT");
  });

  it("fails a task after maxAttempts retryable failures, each attempt visible", async () => {
    await start();
    p.tickets.script("collect", { kind: "retryable" }, { kind: "throw" }, { kind: "retryable" });
    const id = await approved();
    for (let attempt = 1; attempt < 3; attempt++) {
      await t.waitFor(async () => (task(await show(id), "tickets").attempts === attempt && task(await show(id), "tickets").status === "PENDING" ? true : undefined), `attempt ${attempt}`);
      t.clock.advance(10_000);
    }
    const failed = await until(id, "FAILED");
    expect(task(failed, "tickets")).to.include({ status: "FAILED", attempts: 3, maxAttempts: 3 });
    expect(p.tickets.callsOf("collect")).to.have.length(3);
  });

  it("takes back a task that hangs past its lease, on the database's clock, and runs it again", async () => {
    await start();
    p.tickets.script("collect", { kind: "hang" });
    const id = await approved();
    await t.waitFor(async () => (p.tickets.callsOf("collect").length === 1 ? true : undefined), "first attempt");
    expect(task(await show(id), "tickets").status).to.equal("RUNNING");
    // The service clock stands still: the 600 ms lease runs out on the database's clock alone.
    const done = await until(id, "COMPLETED");
    expect(task(done, "tickets")).to.include({ status: "SUCCEEDED", attempts: 2 });
    const actions = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id })).auditEvents.map((e: any) => e.action);
    expect(actions).to.include("task.lease_expired");
  });

  it("waits in AWAITING_INPUT for a manual connector until a privacy officer completes it", async () => {
    const archive = createManualConnector({ name: "hr-archive", categories: ["ACCOUNT"], supports: ["access", "erasure"], instructions: { collect: "Search the paper archive for the subject", erase: "Shred the subject's files" } });
    await start([p.tickets, archive]);
    const id = await approved();
    const waiting = await until(id, "AWAITING_INPUT");
    expect(task(waiting, "hr-archive")).to.include({ status: "AWAITING_INPUT", note: "Search the paper archive for the subject" });
    expect(waiting.progress.awaitingInput).to.equal(1);
    const completed = await t.ok(
      `mutation($input: CompleteManualTaskInput!) { completeManualTask(input: $input) { status outcome { records } } }`,
      { input: { taskId: task(waiting, "hr-archive").id, records: [{ category: "ACCOUNT", type: "paper_file", id: "box-7", data: { shelf: "B2", pages: 3 } }] } },
      Role.PRIVACY_OFFICER,
    );
    expect(completed.completeManualTask).to.deep.equal({ status: "SUCCEEDED", outcome: { records: 1 } });
    await until(id, "COMPLETED");
    const manifest = await exportedManifest(t, id);
    expect(manifest.categories.find((c) => c.category === "ACCOUNT")).to.deep.include({ records: 1, fields: [{ name: "pages", types: ["number"] }, { name: "shelf", types: ["string"] }] });
  });

  it("waits in REMOTE_PROCESSING for a slow remote system and keeps polling across a restart", async () => {
    await start();
    p.payments.script("erase", { kind: "remote", pollAfterMs: 3_600_000, polls: 2 });
    const id = await approved("DELETION");
    const remote = await taskUntil(id, "payments", "REMOTE_PROCESSING", "ERASE");
    expect(Date.parse(remote.nextAttemptAt)).to.equal(p.payments.callsOf("erase")[0].at.getTime() + 3_600_000);
    const r = await show(id);
    expect(r.status).to.equal("IN_PROGRESS");
    expect(r.progress.remoteProcessing).to.equal(1);
    await t.restart();
    t.clock.advance(3_600_000);
    await t.waitFor(async () => (p.payments.callsOf("poll").length >= 1 ? true : undefined), "first poll");
    // The first poll answers "still working, ask again in 50 ms": the next poll time is the service clock
    // when the answer comes back plus 50 ms. Move the clock only once that time is stored, or the move can
    // land between the call and the parking and put the next poll 50 ms after the moved clock, for good.
    await t.waitFor(async () => {
      const again = task(await show(id), "payments", "ERASE");
      return again.status === "REMOTE_PROCESSING" && Date.parse(again.nextAttemptAt) !== Date.parse(remote.nextAttemptAt) ? again : undefined;
    }, "payments parked again after the first poll");
    t.clock.advance(60_000);
    const done = await until(id, "COMPLETED");
    expect(task(done, "payments", "ERASE")).to.include({ status: "SUCCEEDED", attempts: 1 });
    expect(task(done, "payments", "ERASE").outcome.erased).to.equal(2);
    // Each key acted once: the erasure's, and its closing pass's once the account database was erased.
    expect([...p.payments.effects.values()]).to.deep.equal([1, 1]);
  });

  it("links a second open request of the same type to the first instead of fanning out twice", async () => {
    await start();
    p.tickets.delayMs = 200;
    const first = await approved();
    const second = await submit(t, { identityVerified: true, verificationEvidence: "test" });
    expect((await show(second.id)).duplicateOf).to.equal(first);
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: second.id });
    const followed = await until(second.id, "COMPLETED");
    expect(followed.tasks).to.deep.equal([]);
    expect(followed.statusReason).to.equal(`answered together with request ${first}`);
    expect(p.tickets.callsOf("collect")).to.have.length(1);
    const other = await submit(t, { type: "DELETION", identityVerified: true, verificationEvidence: "test" });
    expect((await show(other.id)).duplicateOf).to.equal(null);
  });

  it("applies corrections through connectors that rectify, saying which fields each does not hold", async () => {
    await start([p.tickets]);
    const id = await approved("CORRECTION", { corrections: [{ field: "name", value: "Ada King" }, { field: "unknownField", value: "x" }] });
    const done = await until(id, "COMPLETED");
    expect(task(done, "tickets").outcome).to.deep.include({ changed: ["name"], notHeld: ["unknownField"] });
  });

  it("hands a running task back, attempt uncounted, when the worker stops", async () => {
    await start();
    p.tickets.script("collect", { kind: "hang" });
    const id = await approved();
    await t.waitFor(async () => (p.tickets.callsOf("collect").length === 1 ? true : undefined), "tickets running");
    await t.service.worker!.stop();
    const back = task(await show(id), "tickets");
    expect(back).to.include({ status: "PENDING", attempts: 0 });
  });

  it("shows every connector's spec and live health", async () => {
    const broken = new ScriptedConnector({ name: "broken" });
    broken.check = async () => ({ ok: false, message: "credentials rejected: set BROKEN_API_KEY" });
    await start([...p.all, broken]);
    const { connectors } = await t.ok(`{ connectors { name version supports needs provides categories manual health { ok message } } }`, {}, Role.AUDITOR);
    expect(connectors.map((c: any) => c.name)).to.deep.equal(["account-db", "payments", "tickets", "broken"]);
    expect(connectors[0]).to.deep.include({ provides: ["paymentCustomerId"], categories: ["ACCOUNT"], manual: false, health: { ok: true, message: "account-db reachable" } });
    expect(connectors[3].health).to.deep.equal({ ok: false, message: "credentials rejected: set BROKEN_API_KEY" });
  });

  it("opens one claim's transaction for a request of independent collects: no empty claims after it", async () => {
    const independent = ["ledger", "tickets", "newsletter"].map((name) => new ScriptedConnector({ name, categories: ["SUPPORT"] }).seed(ADA, 2));
    await start(independent);
    await until(await approved(), "COMPLETED"); // warm: the worker has claimed and gone idle once
    // Every claim's transaction reads the PENDING tasks best first (claimQuery), once.
    const watch = watchStatements(t.ds);
    try {
      const id = await approved();
      const done = await until(id, "COMPLETED");
      expect(done.tasks.map((x: any) => `${x.step}:${x.status}`)).to.deep.equal(["COLLECT:SUCCEEDED", "COLLECT:SUCCEEDED", "COLLECT:SUCCEEDED", "EXPORT:SUCCEEDED"]);
      await new Promise((resolve) => setTimeout(resolve, 100)); // ten idle polls
    } finally {
      watch.stop();
    }
    const claims = watch.statements.filter((x) => /ORDER BY [`"]t[`"]\.[`"]priority[`"] DESC/.test(x.query) && x.parameters.includes("PENDING")).length;
    // One claim took the three COLLECTs (fewer than it asked for); their completion handed the EXPORT
    // to the worker in its own transaction; every look after that was the cheap one, which found nothing.
    expect(claims).to.equal(1);
  });

  it("plans once: the unique (request, connector, step) key refuses a second plan", async () => {
    await start();
    const id = await approved();
    await until(id, "COMPLETED");
    const before = await t.count("tasks");
    let refused = false;
    try {
      await inTransaction(t.ds, (em) => insertPlan(em, id, planTasks(RequestType.ACCESS, new Set(["email"]), t.service.services.connectors), new Date(), 3));
    } catch (error) {
      refused = /unique|duplicate/i.test((error as Error).message);
    }
    expect(refused).to.equal(true);
    expect(await t.count("tasks")).to.equal(before);
  });
});
