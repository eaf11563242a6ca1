import { randomBytes, randomUUID } from "node:crypto";
import { expect } from "chai";
import { ConnectorError, Identities, SubjectRecord, TaskContext } from "../../src/connectors/sdk";
import { StagedBatchRow } from "../../src/entities";
import { inTransaction } from "../../src/db/transaction";
import { exportTools } from "../../src/export/context";
import { sealSurveyed, storeSurveyed } from "../../src/orchestrator/surveyedIds";
import { TURN_BUDGET_MS } from "../../src/eventLoop";
import { purgeSurveyedRecords } from "../../src/export/purge";
import { deleteStaged } from "../../src/export/staging";
import { describeEachDatabase, describeEachOf } from "../support/databases";
import { submitVerified, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, FAST } from "./support";

/** Its first collect reads every record, then the system goes away (retryably); the next one reads them all. */
class FailsAfterReading extends ScriptedConnector {
  override async *collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord> {
    yield* this.data.get(ids.email!) ?? [];
    if (ctx.attempt === 1) throw new ConnectorError("The system went away mid-read; will retry", "scripted failure after the last record", true, 1500);
  }
}

/** Its collect waits until the test opens the gate. */
class Gated extends ScriptedConnector {
  open!: () => void;
  private readonly gate = new Promise<void>((resolve) => (this.open = resolve));
  override async *collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord> {
    await this.gate;
    yield* super.collect(ids, ctx);
  }
}

describeEachDatabase("the staged batches of an abandoned attempt", (db) => {
  let t: TestService;
  let tickets: Gated;
  const RECORDS = 3000;

  before(async function () {
    this.timeout(60_000);
    const accounts = new FailsAfterReading({ name: "accounts", categories: ["ACCOUNT"], supports: ["access"] });
    // About 1.5 MB of JSON Lines: several full batches are stored while the first attempt reads.
    accounts.data.set(
      ADA_EMAIL,
      Array.from({ length: RECORDS }, (_, i) => ({ category: "ACCOUNT", type: "login", id: `l-${i}`, data: { n: i, note: randomBytes(250).toString("hex") } })),
    );
    // Held until the accounts' second attempt has completed: the EXPORT waits for it meanwhile.
    tickets = new Gated({ name: "tickets", categories: ["SUPPORT"], supports: ["access"] }).seed(ADA_EMAIL, 3);
    t = await new TestService(db(), { ...FAST, DSR_TASK_MAX_ATTEMPTS: "3", DSR_TASK_LEASE_MS: "60000" }, [accounts, tickets]).start();
  });
  after(async () => {
    await t?.stop();
  });

  it("are removed once a later attempt completed, before the export, which holds every record once", async function () {
    this.timeout(60_000);
    const id = (await submitVerified(t)).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    const show = async () => (await t.ok(`query($id: ID!) { request(id: $id) { status export { records } tasks { id connector step status attempts } } }`, { id })).request;
    const collect = async () => (await show()).tasks.find((x: any) => x.connector === "accounts" && x.step === "COLLECT");
    const rowsOf = async (taskId: string, attempt: number) => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE taskId = ? AND attempt = ?`, [taskId, attempt]))[0].n);

    // The first attempt failed after storing full batches: they wait for its retry.
    const first = await t.waitFor(async () => {
      const c = await collect();
      return c.status === "PENDING" && c.attempts === 1 ? c : undefined;
    }, "the first attempt failed", 20_000);
    const abandoned = await rowsOf(first.id, 1);
    expect(abandoned, "batches the first attempt stored").to.be.greaterThan(1);
    // Its retry is due 1.5 s later, by the service's clock.
    t.clock.advance(2000);

    // The second completes; what the first stored goes, while the EXPORT still waits for the tickets.
    await t.waitFor(async () => ((await collect()).status === "SUCCEEDED" ? true : undefined), "the second attempt completed", 20_000);
    await t.waitFor(async () => ((await rowsOf(first.id, 1)) === 0 ? true : undefined), "the abandoned batches removed", 10_000);
    const during = await show();
    expect(during.tasks.find((x: any) => x.step === "EXPORT").status, "the export has not run yet").to.equal("PENDING");
    expect(await rowsOf(first.id, 2), "the completing attempt's batches").to.be.greaterThan(0);

    tickets.open();
    await t.waitFor(async () => ((await show()).status === "COMPLETED" ? true : undefined), "request COMPLETED", 30_000);
    expect((await show()).export.records).to.equal(RECORDS + 3);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches`))[0].n)).to.equal(0);
  });
});

/**
 * Runs `work` beside a timer due every millisecond, which fires only when the event loop turns: how
 * long the work took, how often the loop turned meanwhile, and its longest stretch without a turn.
 */
async function timedTurns<T>(work: () => Promise<T>): Promise<{ result: T; ms: number; fired: number; longest: number }> {
  let fired = 0;
  let longest = 0;
  const started = performance.now();
  let last = started;
  const timer = setInterval(() => {
    fired++;
    longest = Math.max(longest, performance.now() - last);
    last = performance.now();
  }, 1);
  try {
    const result = await work();
    longest = Math.max(longest, performance.now() - last);
    return { result, ms: performance.now() - started, fired, longest };
  } finally {
    clearInterval(timer);
  }
}

describeEachOf(["sqlite"], "removing a big request's staged batches", (db) => {
  let t: TestService;

  before(async function () {
    this.timeout(60_000);
    t = await new TestService(db(), FAST, []).start();
  });
  after(async () => {
    await t?.stop();
  });

  it("lets the event loop turn between statements (better-sqlite3 answers each synchronously)", async function () {
    this.timeout(60_000);
    const requestId = randomUUID();
    const taskId = randomUUID();
    const BATCHES = 1500;
    const payload = randomBytes(96 * 1024);
    for (let seq = 0; seq < BATCHES; seq += 50) {
      const rows = Array.from({ length: 50 }, (_, i) =>
        Object.assign(new StagedBatchRow(), { id: randomUUID(), requestId, taskId, attempt: 1, connector: "accounts", category: "ACCOUNT", seq: seq + i, records: 1, payload, createdAt: new Date() }),
      );
      await t.ds.getRepository(StagedBatchRow).insert(rows);
    }
    const { result: removed, ms, fired, longest } = await timedTurns(() => deleteStaged(t.ds, requestId));
    console.log(`      ${removed} batches (${((BATCHES * payload.length) / 2 ** 20).toFixed(0)} MB) removed in ${ms.toFixed(0)} ms; the loop turned ${fired} times, longest stretch ${longest.toFixed(0)} ms`);
    expect(removed).to.equal(BATCHES);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches`))[0].n)).to.equal(0);
    // Long enough that a loop that never turned would show: a few turn budgets.
    expect(ms, "the deletion's length (too short to tell)").to.be.at.least(3 * TURN_BUDGET_MS);
    expect(fired, "turns of the event loop during the deletion").to.be.at.least(2);
    expect(longest, "longest stretch without a turn (ms)").to.be.below(ms / 2);
  });

  it("removes an ended request's surveyed record ids, encrypted in batches, once the grace has passed", async function () {
    this.timeout(60_000);
    const IDS = 30_000;
    const request = await submitVerified(t);
    await t.ok(`mutation($id: ID!) { cancelRequest(id: $id, reason: "withdrawn by the test") { status } }`, { id: request.id });
    const services = t.service.services;
    const refs = Array.from({ length: IDS }, (_, i) => ({ category: "PAYMENT", type: "invoice", id: `in_${i}` }));
    const rows = await sealSurveyed(exportTools(services).keys, { requestId: request.id, connector: "payments" }, refs, t.clock.now());
    await inTransaction(t.ds, (em) => storeSurveyed(em, { requestId: request.id, connector: "payments" }, rows));
    // Within the grace nothing goes; past it, every batch (30 rows for 30,000 ids: a few statements).
    expect(await purgeSurveyedRecords(services)).to.equal(0);
    t.clock.advance((services.config.DSR_STAGED_GRACE_MINUTES + 1) * 60_000);
    expect(await purgeSurveyedRecords(services)).to.equal(IDS / 1000);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM surveyed_ids WHERE requestId = ?`, [request.id]))[0].n)).to.equal(0);
  });

});
