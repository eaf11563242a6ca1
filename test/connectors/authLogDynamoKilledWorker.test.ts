import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { seededRandom } from "../../src/sample/people";
import { describeEachDatabase, tempDir } from "../support/databases";
import { approved, TestService } from "../support/harness";
import { WorkerProcesses } from "../support/workerProcesses";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "./support/authLogDynamo";
import { ADA, PEOPLE } from "./support/authLogFixtures";
import { dynamoSuite, itemsOf } from "./support/dynamoSuite";

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
      const dir = tempDir("dsr-dynkill-");
      const file = path.join(dir, "connectors.json");
      const options = { store: "dynamodb", tableName: s.f.tableName, region: LOCAL_REGION, endpoint: s.dynamo.endpoint, maxAttempts: 1, pageSize: 100, deleteConcurrency: 4, timeoutMs: 2000, backoffBaseMs: 5, backoffMaxMs: 40 };
      fs.writeFileSync(file, JSON.stringify({ connectors: [{ type: "auth-log", options, env: { accessKeyId: "DYNKILL_KEY_ID", secretAccessKey: "DYNKILL_SECRET" } }] }));
      Object.assign(process.env, { DYNKILL_KEY_ID: WORKER_ENV.DYNKILL_KEY_ID, DYNKILL_SECRET: WORKER_ENV.DYNKILL_SECRET });
      const workers = new WorkerProcesses(() => ({ DATABASE_URL: db().url, DSR_CONNECTORS_FILE: file, DSR_DATA_DIR: dir }));
      let t: TestService | undefined;
      try {
        t = new TestService(db(), { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: file, DSR_WORKER_CONCURRENCY: "0", DSR_RATE_LIMIT_PER_SECOND: "0" }, null);
        await t.start();
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
        const ended = await t.waitFor(
          async () => {
            const request = (await t!.ok(SHOW, { id })).request;
            return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
          },
          "the deletion ended",
          120_000,
        );
        const now = await everyone();
        const left = now[0];
        const erase = ended.tasks.find((y: any) => y.step === "ERASE");
        const line = ended.deletionOutcome.find((l: any) => l.connector === "auth-log");
        const gone = line?.differences.filter((d: any) => d.kind === "FEWER_RECORDS").reduce((n: number, d: any) => n + d.records, 0) ?? 0;
        const seen = `seed ${seed}: killed at ${killAt} deleted (${before} -> ${atKill} at the kill -> ${left}); ${JSON.stringify(erase)} ${JSON.stringify(line)} ${ended.statusReason}`;
        console.log(`      ${db().kind} ${seen}`);
        expect(ended.status, seen).to.equal("COMPLETED");
        expect(erase.attempts, `the task was taken over ${seen}`).to.be.at.least(2);
        expect(left, `Ada's items left ${seen}`).to.equal(0);
        expect(now.slice(1), `everyone else's items ${seen}`).to.deep.equal(seeded.slice(1));
        // Each item the table lost is counted once: erased, or named no longer there; never erased twice.
        expect(line.erased, `erased, against what the table lost ${seen}`).to.be.at.most(before - left);
        expect(line.erased + gone, `erased and no longer there, against what the table lost ${seen}`).to.equal(before - left);
        expect(erase.outcome.erased, seen).to.equal(line.erased);
        expect(line.plannedFound, seen).to.equal(before);
      } finally {
        workers.killAll();
        s.dynamo.slowDeletesMs = 0;
        await t?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
