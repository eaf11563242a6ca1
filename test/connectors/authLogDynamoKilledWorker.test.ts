import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { seededRandom } from "../../src/sample/people";
import { describeEachDatabase, tempDir } from "../support/databases";
import { approved, TestService } from "../support/harness";
import { WorkerProcesses } from "../support/workerProcesses";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "./support/authLogDynamo";
import { ADA, GRACE, PEOPLE } from "./support/authLogFixtures";
import { deletionEnded, type DynamoSuite, dynamoSuite, firstAttemptFailed, itemsOf } from "./support/dynamoSuite";
import type { TestDatabase } from "../support/databases";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status attempts lastError outcome { erased kept } }
  deletionOutcome { connector plannedFound plannedToErase erased kept residual differences { kind records } } } }`;

/**
 * The dsr worker processes run on the real clock, the serving process on the test's (TEST_START, months
 * earlier): graces longer than the clocks' disagreement keep their sweeps of undecided requests and
 * lapsed manual tasks out of what this file tests (as in purgeRace). A lease of 3 s: a DynamoDB unit of
 * erasure needs 1.1 s of one (minUnitMs).
 */
const WORKER_ENV = { DSR_TASK_LEASE_MS: "3000", DSR_WORKER_POLL_MS: "20", DSR_UNDECIDED_GRACE_DAYS: "3650", DSR_MANUAL_TASK_GRACE_DAYS: "3650", DYNKILL_KEY_ID: LOCAL_CREDENTIALS.accessKeyId, DYNKILL_SECRET: LOCAL_CREDENTIALS.secretAccessKey };
const SEEDS = process.env.DSR_TEST_DYNKILL_SEED ? [Number(process.env.DSR_TEST_DYNKILL_SEED)] : [Math.floor(Math.random() * 1e9)];

/** The serving process (no worker of its own) and `dsr worker` processes on the suite's table, through a connectors file. */
async function withWorkers(s: DynamoSuite, db: () => TestDatabase, extra: Record<string, unknown>, run: (t: TestService, workers: WorkerProcesses) => Promise<void>, realClock = false): Promise<void> {
  const dir = tempDir("dsr-dynkill-");
  const file = path.join(dir, "connectors.json");
  const options = { store: "dynamodb", tableName: s.f.tableName, region: LOCAL_REGION, endpoint: s.dynamo.endpoint, maxAttempts: 1, pageSize: 100, deleteConcurrency: 4, timeoutMs: 2000, backoffBaseMs: 5, backoffMaxMs: 40, ...extra };
  fs.writeFileSync(file, JSON.stringify({ connectors: [{ type: "auth-log", options, env: { accessKeyId: "DYNKILL_KEY_ID", secretAccessKey: "DYNKILL_SECRET" } }] }));
  Object.assign(process.env, { DYNKILL_KEY_ID: WORKER_ENV.DYNKILL_KEY_ID, DYNKILL_SECRET: WORKER_ENV.DYNKILL_SECRET });
  const workers = new WorkerProcesses(() => ({ DATABASE_URL: db().url, DSR_CONNECTORS_FILE: file, DSR_DATA_DIR: dir }));
  let t: TestService | undefined;
  let ticking: NodeJS.Timeout | undefined;
  try {
    t = new TestService(db(), { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: file, DSR_WORKER_CONCURRENCY: "0", DSR_RATE_LIMIT_PER_SECOND: "0" }, null);
    await t.start();
    // On the workers' clock (the real one): a hold placement reads their units' ends on it.
    if (realClock) {
      const clock = t.clock;
      clock.set(new Date());
      ticking = setInterval(() => clock.set(new Date()), 20);
    }
    await run(t, workers);
  } finally {
    clearInterval(ticking);
    workers.killAll();
    s.dynamo.slowDeletesMs = 0;
    s.dynamo.release();
    s.dynamo.holdReads(0);
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A real `dsr worker` process, erasing Ada's 1,234 auth events from a DynamoDB table (dynalite, its
 * deletes slowed so that some are always in flight), is SIGKILLed at a seeded point of the erase; a
 * second worker takes the task over once its lease runs out. Deletes the dead process sent still land
 * after it died (the slowed proxy does every delete it received). Checked against the table itself: the
 * request counts each item the table lost once, as erased or, for the keys of the unit the kill cut (no
 * one can tell its deletes from another hand's, docs/connectors.md), as no longer there; never more
 * erased than the table lost; and no item of anyone else is touched.
 * `DSR_TEST_DYNKILL_SEED=<n>` replays one kill point.
 */
describeEachDatabase("auth-log on DynamoDB: a dsr worker SIGKILLed mid-erase, another finishing (dynalite)", (db) => {
  const s = dynamoSuite(db);
  for (const seed of SEEDS) {
    it(`counts every item the table lost once, and touches no one else's (seed ${seed})`, async function () {
      this.timeout(150_000);
      const random = seededRandom(seed);
      await withWorkers(s, db, {}, async (t, workers) => {
        const everyone = async () => Promise.all(PEOPLE.map((p) => itemsOf(s, p.userId!)));
        const seeded = await everyone();
        const before = seeded[0];
        // Every delete reaches dynalite 15 ms after it arrived, done even once its sender is dead.
        s.dynamo.slowDeletesMs = 15;
        const id = await approved(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId } });
        const killAt = 50 + Math.floor(random() * (before - 150));
        const first = workers.start(2, WORKER_ENV);
        await t.waitFor(async () => ((await itemsOf(s, ADA.userId!)) <= before - killAt ? true : undefined), `${killAt} of Ada's items deleted`, 60_000);
        first.kill("SIGKILL");
        await new Promise((resolve) => first.once("exit", resolve));
        const atKill = await itemsOf(s, ADA.userId!);
        workers.start(2, WORKER_ENV);
        const { ended: done, erase, line } = await deletionEnded(t, SHOW, id, 120_000);
        const now = await everyone();
        const left = now[0];
        const gone = line?.differences.filter((d: any) => d.kind === "FEWER_RECORDS").reduce((n: number, d: any) => n + d.records, 0) ?? 0;
        const seen = `seed ${seed}: killed at ${killAt} deleted (${before} -> ${atKill} at the kill -> ${left}); ${JSON.stringify(erase)} ${JSON.stringify(line)} ${done.statusReason}`;
        console.log(`      ${db().kind} ${seen}`);
        expect(done.status, seen).to.equal("COMPLETED");
        expect(erase.attempts, `the task was taken over ${seen}`).to.be.at.least(2);
        expect(left, `Ada's items left ${seen}`).to.equal(0);
        expect(now.slice(1), `everyone else's items ${seen}`).to.deep.equal(seeded.slice(1));
        // Each item the table lost is counted once: erased, or named no longer there; never erased twice.
        expect(line.erased, `erased, against what the table lost ${seen}`).to.be.at.most(before - left);
        expect(line.erased + gone, `erased and no longer there, against what the table lost ${seen}`).to.equal(before - left);
        expect(erase.outcome.erased, seen).to.equal(line.erased);
        expect(line.plannedFound, seen).to.equal(before);
      });
    });
  }
});

/**
 * A delete in doubt (done, answered 500, its read-back unanswered) ends the first attempt with its key
 * noted; the worker is stopped, a legal hold on AUTH_LOGS is placed, and the retry, in a second worker,
 * settles the note by reading only (the item is gone: erased by this deletion). That worker is SIGKILLed
 * in the verification pass after its erase call (its Query held unanswered), before the task completes,
 * and a third worker finishes the task. Before, the note went at the erase call's end and the count only
 * with the completion: the third attempt found neither, and the deletion said erased 2 of the 3 items the
 * table lost (FEWER_RECORDS 1).
 */
describeEachDatabase("auth-log on DynamoDB: a worker SIGKILLed after settling a noted delete under a hold, before completing (dynalite)", (db) => {
  const s = dynamoSuite(db);

  it("counts the noted delete that landed as erased, once, when a third worker completes the task", async function () {
    this.timeout(150_000);
    await withWorkers(
      s,
      db,
      { pageSize: 10, deleteConcurrency: 1, timeoutMs: 600 },
      async (t, workers) => {
        const before = await itemsOf(s, GRACE.userId!);
        const others = async () => Promise.all(PEOPLE.filter((p) => p.userId !== GRACE.userId).map((p) => itemsOf(s, p.userId!)));
        const seeded = await others();
        s.dynamo.deleteFaults.push(null, null, { lands: "now", answer: 500 });
        s.dynamo.holdReads(1, { operations: ["GetItem"] });
        const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
        // Its retry 4 s after the failure: time to stop the worker first.
        const first = workers.start(2, { ...WORKER_ENV, DSR_RETRY_BASE_MS: "4000", DSR_RETRY_MAX_MS: "4000" });
        await firstAttemptFailed(t, SHOW, id, "ERASE", 60_000);
        first.kill("SIGKILL");
        await new Promise((resolve) => first.once("exit", resolve));
        expect(s.dynamo.deleteFaults, "the fault was met").to.deep.equal([]);
        await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${GRACE.email}", categories: ["AUTH_LOGS"], reason: "Litigation", caseReference: "CASE-AUTH-KILL" }) { id } }`);
        const atHold = await itemsOf(s, GRACE.userId!);
        const deletesAtHold = s.dynamo.count("DeleteItem");
        // The retry's verification pass collects with a Query: held, and the worker killed there.
        s.dynamo.stalled = "Query";
        const queries = s.dynamo.count("Query");
        const second = workers.start(2, WORKER_ENV);
        await t.waitFor(async () => (s.dynamo.count("Query") > queries ? true : undefined), "the retry's verification pass", 60_000);
        second.kill("SIGKILL");
        await new Promise((resolve) => second.once("exit", resolve));
        s.dynamo.release();
        workers.start(2, WORKER_ENV);
        const { ended: done, erase, line } = await deletionEnded(t, SHOW, id, 120_000);
        const left = await itemsOf(s, GRACE.userId!);
        const seen = `${JSON.stringify(erase)} ${JSON.stringify(line)} ${done.statusReason}; table: ${before} -> ${atHold} at the hold -> ${left}`;
        console.log(`      ${db().kind} ${seen}`);
        expect(done.status, seen).to.equal("COMPLETED");
        expect(erase.attempts, `failed, killed, completed ${seen}`).to.equal(3);
        expect(s.dynamo.count("DeleteItem"), `deletes sent after the hold ${seen}`).to.equal(deletesAtHold);
        expect(left, `Grace's items when the deletion ended, against when the hold was placed ${seen}`).to.equal(atHold);
        expect(before - left, "the two deletes answered, and the one answered 500").to.equal(3);
        expect(await others(), "everyone else's items").to.deep.equal(seeded);
        // What the table lost is erased by this deletion, each once; none FEWER_RECORDS.
        expect(line, seen).to.deep.include({ plannedFound: before, erased: before - left, kept: left, residual: 0 });
        expect(line.differences.map((d: any) => d.kind), seen).to.deep.equal(["HELD_SINCE_PLAN"]);
        expect(erase.outcome.erased, seen).to.equal(before - left);
      },
      true,
    );
  });
});
