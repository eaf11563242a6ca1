import { expect } from "chai";
import pino from "pino";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { exportedManifest } from "../export/support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status attempts lastError startedAt finishedAt outcome { records erased kept remaining identitiesFound } }
  retentionExceptions { connector category recordType recordCount legalBasis retainUntil } } }`;
const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";

describeEachDatabase("sample workspace", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  let ticking: NodeJS.Timeout | undefined;

  async function start(env: Record<string, string> = {}, callTimeoutMs?: number) {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 3000, people: 40, callTimeoutMs });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", ...env }, ws.connectors).start();
    // Retries wait on the service's clock: it follows real time (in 5 ms steps), so Retry-After is real time.
    const base = t.clock.now().getTime() - Date.now();
    ticking = setInterval(() => t.clock.set(new Date(base + Date.now())), 5);
  }
  afterEach(async () => {
    clearInterval(ticking);
    await t?.stop();
    await ws?.close();
  });

  async function run(type: string, email: string, timeoutMs = 60_000) {
    const r = await submit(t, { type, subject: { email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(
      async () => {
        const { request } = await t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? { id: r.id, ...request } : undefined;
      },
      `${type} finished`,
      timeoutMs,
    );
  }
  const byKey = (request: any) => Object.fromEntries(request.tasks.map((x: any) => [`${x.connector}:${x.step}`, x]));

  it("carries an access request to all four systems in identity order, and the export holds what each system holds", async () => {
    await start();
    const ids = { email: ADA, ...(await ws.connectors[0].resolve!({ email: ADA }, testContext())) };
    const held: Record<string, number> = {};
    for (const c of ws.connectors) held[c.spec.name] = (await collectAll(c, ids)).length;
    const done = await run("ACCESS", ADA);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const tasks = byKey(done);
    expect(tasks["account-db:RESOLVE"].outcome.identitiesFound).to.include.members(["userId", "paymentCustomerId", "ticketingUserId"]);
    for (const name of ["auth-log", "payments", "ticketing"]) {
      // Each needs an identity only the account database provides: it starts after the resolve ended.
      expect(Date.parse(tasks[`${name}:COLLECT`].startedAt)).to.be.at.least(Date.parse(tasks["account-db:RESOLVE"].finishedAt));
    }
    for (const [name, count] of Object.entries(held)) expect(tasks[`${name}:COLLECT`].outcome.records, name).to.equal(count);
    expect(held["auth-log"]).to.equal(3000);
    expect(tasks["export:EXPORT"]).to.include({ status: "SUCCEEDED" });
    // Where each sample system processes data: the vendors' abroad, marked outside the primary location (IN).
    const { connectors } = await t.ok(`{ connectors { name processingLocation outsidePrimaryLocation } }`);
    expect(connectors).to.have.deep.members([
      { name: "account-db", processingLocation: "IN", outsidePrimaryLocation: false },
      { name: "auth-log", processingLocation: "IN", outsidePrimaryLocation: false },
      { name: "payments", processingLocation: "US", outsidePrimaryLocation: true },
      { name: "ticketing", processingLocation: "US", outsidePrimaryLocation: true },
    ]);
  });

  it("erases in reverse identity order and keeps, with exceptions, what the rules keep", async () => {
    await start();
    const done = await run("DELETION", ADA);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const tasks = byKey(done);
    // The others were erased before the account database, and looked at again after it (their closing pass).
    const account = tasks["account-db:ERASE"];
    for (const name of ["auth-log", "payments", "ticketing"]) {
      expect(Date.parse(tasks[`${name}:ERASE`].startedAt)).to.be.at.most(Date.parse(account.startedAt));
      expect(Date.parse(tasks[`${name}:ERASE`].finishedAt)).to.be.at.least(Date.parse(account.finishedAt));
    }
    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: done.id })).auditEvents;
    const closing = events.filter((e: any) => e.action === "task.closing_pass_armed").map((e: any) => (typeof e.details === "string" ? JSON.parse(e.details) : e.details).connector);
    expect(closing.sort()).to.deep.equal(["auth-log", "payments", "ticketing"]);
    expect(tasks["account-db:ERASE"].outcome.remaining).to.equal(0);
    const kept = new Set(done.retentionExceptions.map((e: any) => `${e.connector}:${e.category}`));
    expect([...kept].sort()).to.deep.equal(["auth-log:AUTH_LOGS", "payments:PAYMENTS", "ticketing:SUPPORT"]);
    // What is left is only what the exceptions hold: collect again through the connectors.
    const left = await collectAll(ws.connectors[0], { email: ADA });
    expect(left).to.deep.equal([]);
    // A later access request's export lists what the deletion kept, why and until when.
    const access = await run("ACCESS", ADA);
    const manifest = await exportedManifest(t, access.id);
    const listed = manifest.retentionExceptions.map((e) => `${e.connector}:${e.recordType}:${e.records}:${e.retainUntil}`).sort();
    const recorded = done.retentionExceptions.map((e: any) => `${e.connector}:${e.recordType}:${e.recordCount}:${e.retainUntil}`).sort();
    expect(listed).to.deep.equal(recorded);
    expect(manifest.retentionExceptions.every((e) => e.deletionRequest === done.id)).to.equal(true);
  });

  it("completes every request when 30% of stand-in calls answer 500, 429 or hang, with retries visible and Retry-After respected", async function () {
    this.timeout(240_000);
    await start({ DSR_TASK_MAX_ATTEMPTS: "100", DSR_RETRY_BASE_MS: "50", DSR_RETRY_MAX_MS: "1000", DSR_TASK_TIMEOUT_SECONDS: "60" }, 500);
    ws.stripe.faults.set({ rate: 0.3, kinds: ["500", "429", "hang"], retryAfterSeconds: 1, seed: 7 });
    ws.zendesk.faults.rate = 0.3;
    ws.zendesk.faults.retryAfterSeconds = 1;
    const access = await run("ACCESS", GRACE, 200_000);
    const deletion = await run("DELETION", GRACE, 200_000);
    for (const request of [access, deletion]) expect(request.status, request.statusReason).to.equal("COMPLETED");
    const attempts = [...access.tasks, ...deletion.tasks].filter((x: any) => ["payments", "ticketing"].includes(x.connector)).map((x: any) => x.attempts);
    expect(Math.max(...attempts), "retries show on the tasks").to.be.greaterThan(1);

    // After every 429, the next call came no sooner than its Retry-After.
    const gaps: number[] = [];
    const stripeLog = ws.stripe.calls.log;
    stripeLog.forEach((c, i) => c.outcome === "429" && stripeLog[i + 1] && gaps.push(stripeLog[i + 1].at - c.at - (c.retryAfterMs ?? 0)));
    const zendeskLog = ws.zendesk.calls.entries;
    zendeskLog.forEach((c, i) => c.fault === "429" && zendeskLog[i + 1] && gaps.push(zendeskLog[i + 1].at - c.at - 1000));
    expect(gaps.length, "429s were served").to.be.greaterThan(0);
    console.log(`      ${gaps.length} 429s; the next call came ${Math.min(...gaps)} to ${Math.max(...gaps)} ms after Retry-After ended; most attempts of a task: ${Math.max(...attempts)}`);
    // The clock's 5 ms steps and the 429's arrival time (not its answer's) allow a few ms either way.
    expect(Math.min(...gaps), "a call came before Retry-After had passed").to.be.at.least(-15);
  });
});
