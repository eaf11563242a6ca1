import { expect } from "chai";
import { inParallel } from "../../src/connectors/authLog/dynamoBatch";
import { ConnectorError, type TaskContext } from "../../src/connectors/sdk";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { describeEachDatabase } from "../support/databases";
import { submit, sum } from "../support/harness";
import { ADA, ADA_EVENTS } from "./support/authLogFixtures";
import { dynamoSuite } from "./support/dynamoSuite";

/**
 * A context whose eraseUnit keeps what each unit's work returned, as the orchestrator does (a counted
 * unit carries its count to the task's next attempt); a unit whose work throws counts nothing.
 */
function countingContext(counted: number[], heartbeat?: () => Promise<void>): TaskContext {
  return testContext({
    heartbeat,
    eraseUnit: async (_category, work) => {
      const n = await work();
      if (typeof n === "number" && n > 0) counted.push(n);
      return true;
    },
  });
}

describe("auth-log erasure that fails part-way (dynalite on loopback)", function () {
  const s = dynamoSuite();

  it("counts in its unit the events a throttled attempt deleted before it failed, so the attempts together count every event once", async () => {
    // 22 deletes go through (a heartbeat follows each), then DynamoDB throttles every delete: after two
    // retry rounds the 23rd gives up, and the attempt with it.
    const connector = s.f.connector({ unprocessedRetries: 2, deleteConcurrency: 1, backoffBaseMs: 1, backoffMaxMs: 5, heartbeatEveryMs: 0 });
    const counted: number[] = [];
    let failure: unknown;
    let beats = 0;
    const throttleAfter22 = async () => {
      if ((beats += 1) === 22) s.dynamo.partialBatches = 1_000_000;
    };
    await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, countingContext(counted, throttleAfter22)).catch((e: unknown) => (failure = e));
    expect(failure).to.be.instanceOf(ConnectorError);
    expect((failure as ConnectorError).retryable).to.equal(true);
    const left = (await collectAll(connector, ADA)).length;
    expect(ADA_EVENTS.length - left, "events the failed attempt deleted").to.equal(22);
    expect(counted.reduce((a, b) => a + b, 0), "events the failed attempt counted").to.equal(22);

    s.dynamo.partialBatches = 0;
    const outcome = await s.f.connector().erase(ADA, { categories: ["AUTH_LOGS"] }, countingContext(counted));
    expect(outcome.erased).to.equal(left);
    expect(counted.reduce((a, b) => a + b, 0), "events both attempts counted").to.equal(ADA_EVENTS.length);
    expect(await collectAll(connector, ADA)).to.deep.equal([]);
  });

  it("ends the failed unit only once no delete of it is still in flight", async () => {
    s.dynamo.partialBatches = 1_000_000;
    // Four lanes, each giving up after two rounds with jittered waits between: the first lane to give
    // up must not end the unit while the others still send deletes.
    const connector = s.f.connector({ unprocessedRetries: 2, deleteConcurrency: 4, backoffBaseMs: 20, backoffMaxMs: 200 });
    await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, testContext()).catch(() => undefined);
    const whenFailed = s.dynamo.count("DeleteItem");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(s.dynamo.count("DeleteItem"), "deletes sent after the erase call failed").to.equal(whenFailed);
    expect(whenFailed).to.equal(4 * 3);
  });
});

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector erased kept residual matchesPlan differences { kind records } }
  tasks { connector step status attempts lastError outcome { erased } } } }`;

/** Through the service: the request's counts are what left the DynamoDB table, across the failed attempt and its retry. */
describeEachDatabase("a DynamoDB auth-log erasure retried after throttled deletes (through the service)", (db) => {
  const s = dynamoSuite(db);

  it("reports as erased every event that left the table, none as gone before erasure ran", async function () {
    this.timeout(240_000);
    const connector = s.f.connector({ unprocessedRetries: 2, backoffBaseMs: 1, backoffMaxMs: 5 });
    const t = await s.service({ DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [connector]);
    const before = (await collectAll(connector, ADA)).length;
    s.dynamo.partialBatches = 1_000_000;
    const r = await submit(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const show = async () => (await t!.ok(SHOW, { id: r.id })).request;
    await t.waitFor(async () => {
      const erase = (await show()).tasks.find((x: any) => x.step === "ERASE");
      return erase?.attempts >= 1 && erase.lastError ? erase : undefined;
    }, "the erasure failed an attempt", 60_000);
    s.dynamo.partialBatches = 0;
    const done = await t.waitFor(async () => {
      t!.clock.advance(1000);
      const now = await show();
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "deletion finished", 120_000);
    const after = (await collectAll(connector, ADA)).length;
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const seen = {
      before,
      after,
      erased: sum(done.deletionOutcome, (o: any) => o.erased),
      kept: sum(done.deletionOutcome, (o: any) => o.kept),
      differences: done.deletionOutcome.flatMap((o: any) => o.differences.map((d: any) => `${d.kind}:${d.records}`)),
    };
    expect(seen.erased, `erased: what left the table ${JSON.stringify(seen)}`).to.equal(before - after);
    expect(seen.kept, "kept: what the table holds").to.equal(after);
    expect(seen.differences, "nothing of the plan was gone before erasure ran").to.deep.equal([]);
    expect(done.deletionOutcome.every((o: any) => o.matchesPlan)).to.equal(true);
  });
});

describe("inParallel", () => {
  it("rejects only once every item in flight has settled", async () => {
    const finished: number[] = [];
    let rejectedWhileRunning: number[] | undefined;
    await inParallel([0, 1, 2, 3], 3, async (i) => {
      if (i === 0) throw new Error("first item fails at once");
      await new Promise((resolve) => setTimeout(resolve, 50 * i));
      finished.push(i);
    }).catch(() => (rejectedWhileRunning = [...finished]));
    // Items 1 and 2 were in flight when item 0 failed; item 3 was never started.
    expect(rejectedWhileRunning).to.deep.equal([1, 2]);
    expect(finished).to.deep.equal([1, 2]);
  });
});
