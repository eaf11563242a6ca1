import { expect } from "chai";
import { createHttpConnector } from "../src/connectors/http";
import type { Connector } from "../src/connectors/sdk";
import { CALLBACK_SECRET, CallbackReceiver } from "./support/callbackReceiver";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { parseMetrics } from "./support/metrics";
import { ListingConnector, ScriptedConnector } from "./support/scriptedConnector";
import { SHOW as ROSTER_SHOW, START as ROSTER_START } from "./roster/support";
import { ADA, REST_TOKEN, restConfig, RestStandIn } from "./connectors/support/restStandIn";

const SHOW = `query($id: ID!) { request(id: $id) { id status dueAt tasks { connector step status attempts lastError nextAttemptAt } } }`;
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_RETRY_BASE_MS: "1000", DSR_RETRY_MAX_MS: "8000", DSR_RETRY_AFTER_MAX_MS: "60000" };

const METRICS_TOKEN = "metrics-scraper-token-0123456789";
/** The failed attempts of the helpdesk's ERASE, by whether they are retried. */
const FAILURES = (retried: string) => `dsr_task_failures_total{connector="helpdesk",step="ERASE",retryable="${retried}"}`;
/** The service's metrics, as its scraper reads them. */
async function scrape(t: TestService): Promise<Map<string, number>> {
  const res = await fetch(t.url.replace(/\/graphql$/, "/metrics"), { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  return parseMetrics(await res.text());
}
/** A time column as the database gives it back (SQLite: text without a zone, meaning UTC; MariaDB: a Date), in ms. */
function storedTime(raw: unknown): number {
  const text = raw instanceof Date ? raw.toISOString() : String(raw);
  return new Date(/Z$/.test(text) ? text : `${text.replace(" ", "T")}Z`).getTime();
}

/**
 * A remote system's Retry-After is its ask, not a command: one of 10^15 seconds (or a date in the year
 * 9999) would schedule a retry no Date can hold, or one nobody alive will see. The service honours it up
 * to DSR_RETRY_AFTER_MAX_MS and the request's due date, and says so where the operator looks.
 */
describeEachDatabase("a remote system's Retry-After, through the service", (db) => {
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(async () => {
    standIn = await new RestStandIn().start();
  });
  afterEach(async () => {
    await t?.stop();
    await standIn.stop();
  });

  async function start(env: Record<string, string> = {}, connectors: Connector[] = [createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: REST_TOKEN })]) {
    t = await new TestService(db(), { ...FAST, ...env }, connectors).start();
  }
  async function deletion(): Promise<string> {
    return (await submit(t, { type: "DELETION", subject: { email: ADA.email }, identityVerified: true, verificationEvidence: "signed-in session" })).id;
  }
  const approve = (id: string) => t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  const step = (request: any, name: string) => request.tasks.find((x: any) => x.step === name);
  /** The task of `name` once its first attempt failed and its retry is scheduled. */
  const retryScheduled = (id: string, name: string) =>
    t.waitFor(async () => {
      const task = step(await show(id), name);
      return task?.status === "PENDING" && task.attempts === 1 ? task : undefined;
    }, `${name} retry scheduled`, 20_000);
  /** runAfter as the database holds it, read as a date (SQLite keeps text, MariaDB a DATETIME). */
  const storedRunAfter = async (taskStep: string) => storedTime((await t.ds.query(`SELECT runAfter FROM tasks WHERE step = ?`, [taskStep]))[0].runAfter);
  const deletes = () => standIn.calls.filter((c) => c.method === "DELETE").length;

  for (const [what, header] of [
    ["10^15 seconds", "1000000000000000"],
    ["an HTTP-date in the year 9999", "Fri, 31 Dec 9999 23:59:59 GMT"],
  ] as const) {
    it(`retries after DSR_RETRY_AFTER_MAX_MS, not ${what}, when a DELETE answers 503 with it, says so in lastError, and completes`, async () => {
      standIn.faults.push({ status: 503, method: "DELETE", retryAfter: header });
      await start();
      const id = await deletion();
      await approve(id);
      const erase = await retryScheduled(id, "ERASE");
      const failedAt = t.clock.now().getTime();
      expect(Date.parse(erase.nextAttemptAt) - failedAt).to.equal(60_000);
      expect(await storedRunAfter("ERASE")).to.equal(failedAt + 60_000);
      expect(erase.lastError).to.match(/^helpdesk: 127\.0\.0\.1:\d+ answered HTTP 503; the task will be retried \(the system asked to wait (more than 100 years|\d+ years); retried in 60 s, the most DSR_RETRY_AFTER_MAX_MS allows\)$/);
      // Not before its time: the rate-limited system is not asked again at once.
      await new Promise((r) => setTimeout(r, 300));
      expect(deletes()).to.equal(1);
      t.clock.advance(60_000);
      const done = await t.waitFor(async () => {
        const r = await show(id);
        return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
      }, "request ended", 20_000);
      expect(done.status).to.equal("COMPLETED");
      expect(step(done, "ERASE")).to.include({ status: "SUCCEEDED", attempts: 2, lastError: null });
      expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a3", "n-a4", "n-a5"]);
    });
  }

  it("retries by the request's due date when the Retry-After would take the retry past it", async () => {
    standIn.faults.push({ status: 503, method: "DELETE", retryAfter: "7200" });
    await start({ DSR_RETRY_AFTER_MAX_MS: String(6 * 3_600_000) });
    const id = await deletion();
    const { dueAt } = await show(id);
    // Ten minutes before the due date: the 2 hours asked would end 1 h 50 min after it.
    t.clock.set(new Date(Date.parse(dueAt) - 10 * 60_000));
    await approve(id);
    const erase = await retryScheduled(id, "ERASE");
    expect(erase.nextAttemptAt).to.equal(dueAt);
    expect(await storedRunAfter("ERASE")).to.equal(Date.parse(dueAt));
    expect(erase.lastError).to.match(/\(the system asked to wait 2 h; retried in 10 min, by the request's due date\)$/);
  });

  it("honours a Retry-After within the cap to the millisecond, and a fractional one, with no note", async () => {
    standIn.faults.push({ status: 503, method: "DELETE", retryAfter: "42.5" });
    await start();
    const id = await deletion();
    await approve(id);
    const erase = await retryScheduled(id, "ERASE");
    expect(Date.parse(erase.nextAttemptAt) - t.clock.now().getTime()).to.equal(42_500);
    expect(erase.lastError).to.match(/answered HTTP 503; the task will be retried$/);
  });

  it("fails the task once DSR_TASK_MAX_ATTEMPTS retryable failures are spent, its lastError and the request's reason no longer promising a retry, and counts the last failure as not retried", async () => {
    for (let i = 0; i < 10; i++) standIn.faults.push({ status: 503, method: "DELETE", retryAfter: "2" });
    await start({ DSR_TASK_MAX_ATTEMPTS: "3", DSR_METRICS_TOKEN: METRICS_TOKEN });
    const before = await scrape(t);
    const id = await deletion();
    await approve(id);
    const done = await t.waitFor(async () => {
      t.clock.advance(2_000);
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status statusReason tasks { step status attempts lastError nextAttemptAt } } }`, { id })).request;
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "request ended", 30_000);
    expect(done.status).to.equal("FAILED");
    expect(deletes()).to.equal(3);
    const erase = step(done, "ERASE");
    expect(erase).to.include({ status: "FAILED", attempts: 3, nextAttemptAt: null });
    expect(erase.lastError).to.match(/^helpdesk: 127\.0\.0\.1:\d+ answered HTTP 503; not retried: all 3 attempts \(DSR_TASK_MAX_ATTEMPTS\) failed, retryTask runs it again$/);
    expect(done.statusReason).to.equal(`1 task(s) failed: helpdesk ERASE: ${erase.lastError}`);
    expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
    const after = await t.waitFor(async () => {
      const m = await scrape(t);
      return (m.get(FAILURES("false")) ?? 0) > (before.get(FAILURES("false")) ?? 0) ? m : undefined;
    }, "the last failure counted");
    const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
    expect([delta(FAILURES("true")), delta(FAILURES("false"))]).to.deep.equal([2, 1]);
  });

  it("fails a task whose worker stopped answering on its last attempt, its lastError saying it is not taken back to run again", async () => {
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA.email, 2);
    account.script("erase", { kind: "hang" });
    await start({ DSR_TASK_MAX_ATTEMPTS: "1", DSR_TASK_LEASE_MS: "600" }, [account]);
    const id = await deletion();
    await approve(id);
    const done = await t.waitFor(async () => {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status statusReason tasks { step status attempts lastError } } }`, { id })).request;
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "request ended", 30_000);
    expect(done.status).to.equal("FAILED");
    expect(step(done, "ERASE")).to.deep.include({ status: "FAILED", attempts: 1, lastError: "The worker running this task stopped answering; not retried: its only attempt (DSR_TASK_MAX_ATTEMPTS) failed, retryTask runs it again" });
    expect(account.callsOf("erase")).to.have.length(1);
  });

  for (const [what, pollAfterMs, expected] of [
    ["NaN", Number.NaN, "fails"],
    ["-1", -1, "fails"],
    ["Infinity", Number.POSITIVE_INFINITY, 7 * 86_400_000],
    ["10^18", 1e18, 7 * 86_400_000],
  ] as const) {
    it(`${expected === "fails" ? "fails the erasure with a clear error" : "polls within 7 days"} when a connector's remote work asks to be polled after ${what} ms`, async () => {
      const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA.email, 2);
      account.script("erase", { kind: "remote", pollAfterMs, polls: 1 });
      await start({}, [account]);
      const id = await deletion();
      await approve(id);
      const erase = await t.waitFor(async () => {
        const x = step(await show(id), "ERASE");
        return x && ["FAILED", "REMOTE_PROCESSING"].includes(x.status) ? x : undefined;
      }, "erase parked or failed", 20_000);
      if (expected === "fails") {
        // The erase call had removed Ada's 2 records before answering so: counted after the failure, said as such.
        expect(erase).to.include({
          status: "FAILED",
          attempts: 1,
          lastError: `account-db answered its erasure with a poll time that is not a number of ms from 0 (${what}): a fault of the connector; its remote work was not followed; 2 more of the plan gone when account-db counted what remained after it, which this attempt may have erased (its answer was an error): outcome.erasedInDoubt`,
        });
        expect(account.data.get(ADA.email) ?? []).to.have.length(0);
        expect((await show(id)).status).to.equal("FAILED");
      } else {
        expect(erase.status).to.equal("REMOTE_PROCESSING");
        expect(Date.parse(erase.nextAttemptAt) - t.clock.now().getTime()).to.equal(expected);
        expect(await storedRunAfter("ERASE")).to.equal(t.clock.now().getTime() + expected);
      }
    });
  }

  for (const [what, retryAfterMs] of [
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
  ] as const) {
    it(`schedules a valid retry, within DSR_RETRY_AFTER_MAX_MS, when a connector's retryAfterMs is ${what}`, async () => {
      const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA.email, 2);
      account.script("erase", { kind: "retryable", retryAfterMs });
      await start({}, [account]);
      const id = await deletion();
      await approve(id);
      const erase = await retryScheduled(id, "ERASE");
      const wait = Date.parse(erase.nextAttemptAt) - t.clock.now().getTime();
      // NaN asks nothing: the backoff's first step (500..1000 ms); Infinity: the cap.
      if (Number.isNaN(retryAfterMs)) expect(wait).to.be.within(500, 1000);
      else expect(wait).to.equal(60_000);
      expect(await storedRunAfter("ERASE")).to.equal(t.clock.now().getTime() + wait);
      t.clock.advance(wait);
      const done = await t.waitFor(async () => ((await show(id)).status === "COMPLETED" ? show(id) : undefined), "request COMPLETED", 20_000);
      expect(step(done, "ERASE")).to.include({ status: "SUCCEEDED", attempts: 2 });
      expect(account.callsOf("erase")).to.have.length(2);
    });
  }
});

describeEachDatabase("a callback receiver's Retry-After", (db) => {
  let t: TestService;
  let receiver: CallbackReceiver;
  afterEach(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  it("retries a callback after DSR_RETRY_AFTER_MAX_MS, not the 10^15 seconds a 503 asked, saying so in its lastError, and delivers it", async () => {
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    receiver.failNext = 1;
    receiver.retryAfter = "1000000000000000";
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA.email, 1);
    t = await new TestService(db(), { ...FAST, DSR_CALLBACK_URL: receiver.url, DSR_CALLBACK_SECRET: CALLBACK_SECRET, DSR_CALLBACK_POLL_MS: "20", DSR_CALLBACK_RETRY_BASE_MS: "1000", DSR_CALLBACK_RETRY_MAX_MS: "8000" }, [account]).start();
    const { id } = (await t.ok(`mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`, { input: { idempotencyKey: "settings-retry-after-1", subject: { email: ADA.email } } }, "SERVICE")).requestAccountDeletion;
    const outbox = () => t.ds.query(`SELECT status, attempts, nextAttemptAt, claimedBy, lastError FROM status_callbacks WHERE requestId = ? ORDER BY requestVersion`, [id]);
    const [head] = await t.waitFor(async () => {
      const rows = await outbox();
      return rows[0]?.attempts === 1 && rows[0].claimedBy === null ? rows : undefined;
    }, "first callback refused once", 20_000);
    expect(head.lastError).to.equal("receiver answered HTTP 503; it asked to wait more than 100 years, retried in 60 s (DSR_RETRY_AFTER_MAX_MS)");
    expect(storedTime(head.nextAttemptAt) - t.clock.now().getTime()).to.equal(60_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.deliveries).to.have.length(1);
    t.clock.advance(60_000);
    await t.waitFor(async () => (receiver.accepted.filter((e) => e.requestId === id).length === 2 ? true : undefined), "both callbacks delivered", 20_000);
    expect(receiver.deliveries.map((d) => d.answered)).to.deep.equal([503, 204, 204]);
  });
});


describeEachDatabase("a listing's Retry-After, for a breach roster", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("draws a roster again after DSR_RETRY_AFTER_MAX_MS, not the 10^18 ms a listing asked, saying so, and completes it", async () => {
    const crm = new ListingConnector({ name: "crm", categories: ["ACCOUNT"] }).seed("ada@example.com", 3).seed("grace@example.com", 2);
    crm.script("list", { kind: "retryable", retryAfterMs: 1e18 });
    t = await new TestService(db(), { ...FAST, DSR_WORKER_POLL_MS: "20", DSR_RETRY_AFTER_MAX_MS: "1000" }, [crm]).start();
    const { startBreachRoster } = await t.ok(ROSTER_START, { input: { connectors: ["crm"], reason: "breach at the CRM" } });
    const waiting = await t.waitFor(async () => {
      const { breachRoster } = await t.ok(ROSTER_SHOW, { id: startBreachRoster.id });
      return breachRoster.lastError ? breachRoster : undefined;
    }, "the failed attempt", 20_000);
    expect([waiting.status, waiting.attempts, waiting.lastError]).to.deep.equal(["QUEUED", 1, "The system is busy; will retry (the system asked to wait more than 100 years; retried in 1 s, the most DSR_RETRY_AFTER_MAX_MS allows)"]);
    // Rosters wait on the database's clock: the second attempt comes about a second later.
    const done = await t.waitFor(async () => {
      const { breachRoster } = await t.ok(ROSTER_SHOW, { id: startBreachRoster.id });
      return breachRoster.status === "COMPLETED" ? breachRoster : undefined;
    }, "the second attempt", 20_000);
    expect([done.attempts, done.people, done.complete, done.lastError]).to.deep.equal([2, 2, true, null]);
    expect(crm.callsOf("list")).to.have.length(2);
  });
});
