import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { DeleteItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { describeEachDatabase, type TestDatabase } from "../support/databases";
import { approved, type TestService } from "../support/harness";
import { GRACE } from "./support/authLogFixtures";
import { dynamoSuite, itemsOf } from "./support/dynamoSuite";
import { FAST } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status attempts lastError outcome { erased kept } }
  deletionOutcome { connector erased kept matchesPlan differences { kind records } } } }`;

/** The request once its deletion ended, read through GraphQL, and what it says of itself (for assertion messages). */
async function endOf(t: TestService, id: string): Promise<{ ended: any; seen: string }> {
  const ended = await t.waitFor(
    async () => {
      const { request } = await t.ok(SHOW, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "the deletion ended",
    80_000,
  );
  return { ended, seen: `${JSON.stringify(ended.tasks.map((y: any) => [y.step, y.status, y.attempts, y.lastError]))} ${ended.statusReason} ${JSON.stringify(ended.deletionOutcome)}` };
}

/** The worker a stalled attempt's task is handed to by loseLeaseAfterFirstUnit (a lease that never runs out until released). */
const STALLED = "test-stalled-worker";

/** Backdates the lease of the task STALLED holds: the sweeper takes it back, and the service's worker runs it again. */
async function releaseStalled(t: TestService): Promise<void> {
  await t.ds.query(`UPDATE tasks SET leaseExpiresAt = '2000-01-01 00:00:00.000' WHERE lockedBy = '${STALLED}'`);
}

/**
 * Takes the task away from its attempt the moment its first DynamoDB unit of erasure ends, in the
 * transaction that ends it (the unit's row, noted with its key range, is deleted then): the attempt
 * loses its lease between two units, after one ended and before the next could note anything, as
 * when another worker claimed the task of one that stalled (or was killed) right there. The task is
 * held by no live worker until `release` backdates that lease; the sweeper then takes it back and the
 * service's worker runs it again.
 */
async function loseLeaseAfterFirstUnit(t: TestService, kind: TestDatabase["kind"]): Promise<{ taken(): Promise<boolean>; release(): Promise<void>; undo(): Promise<void> }> {
  await t.ds.query("CREATE TABLE test_lease_loss (n INTEGER NOT NULL)");
  await t.ds.query("INSERT INTO test_lease_loss (n) VALUES (1)");
  const take = `UPDATE tasks SET lockedBy = '${STALLED}', leaseExpiresAt = '2999-01-01 00:00:00.000' WHERE id = OLD.taskId; UPDATE test_lease_loss SET n = n - 1;`;
  if (kind === "mariadb") {
    await t.ds.query(`CREATE TRIGGER test_lease_loss_at_unit_end AFTER DELETE ON erasure_units FOR EACH ROW BEGIN IF OLD.note LIKE 'auth-log-range:%' AND (SELECT n FROM test_lease_loss) > 0 THEN ${take} END IF; END`);
  } else {
    await t.ds.query(`CREATE TRIGGER test_lease_loss_at_unit_end AFTER DELETE ON erasure_units WHEN OLD.note LIKE 'auth-log-range:%' AND (SELECT n FROM test_lease_loss) > 0 BEGIN ${take} END`);
  }
  return {
    taken: async () => Number((await t.ds.query("SELECT n FROM test_lease_loss"))[0].n) === 0,
    release: () => releaseStalled(t),
    undo: async () => {
      await t.ds.query("DROP TRIGGER test_lease_loss_at_unit_end");
      await t.ds.query("DROP TABLE test_lease_loss");
    },
  };
}

/**
 * Takes the task away from its attempt while its first DynamoDB unit of erasure is under way (its first
 * delete sent), as when the attempt's process stalled past its lease mid-unit and another worker claimed
 * the task; the task is then held by no live worker until `release`. The unit's row is made to last
 * until its end is written (its expiry is what a hold placement and the next attempt read), so that
 * `ended` tells once the attempt ended that unit: its row deleted, or expired as a failed unit's.
 */
async function loseLeaseMidUnit(t: TestService, s: ReturnType<typeof dynamoSuite>): Promise<{ ended(): Promise<boolean>; release(): Promise<void> }> {
  await t.waitFor(async () => (s.dynamo.count("DeleteItem") >= 1 ? true : undefined), "the first unit's first delete sent", 40_000);
  const live = "UPDATE erasure_units SET expiresAt = '2999-01-01 00:00:00.000' WHERE note LIKE 'auth-log-range:%'";
  await t.ds.query(live);
  await t.ds.query(`UPDATE tasks SET lockedBy = '${STALLED}', leaseExpiresAt = '2999-01-01 00:00:00.000' WHERE step = 'ERASE' AND status = 'RUNNING'`);
  // Again: a heartbeat that extended the lease just before it was taken may have moved the unit's end back.
  await t.ds.query(live);
  return {
    ended: async () => Number((await t.ds.query("SELECT COUNT(*) AS n FROM erasure_units WHERE expiresAt > '2500-01-01 00:00:00.000'"))[0].n) === 0,
    release: () => releaseStalled(t),
  };
}

/**
 * Deletes in doubt when an attempt is stopped BETWEEN two units of erasure: the unit that sent them
 * ended well (its deletes read back still there, so it counted only what it knew), and the next unit
 * never began. What the deletion reports erased must be what the table lost.
 */
describeEachDatabase("auth-log on DynamoDB: a delete in doubt when the attempt stops between two units is counted once (dynalite)", (db) => {
  const s = dynamoSuite(db);

  /**
   * Grace's deletion with the lease lost after the first unit; `arrange` sets the faults, `landed` says
   * (given the count before) once the deletes in doubt have landed, and the lease is then released.
   */
  const deletion = async (connector: Record<string, unknown>, arrange: () => void, landed: (before: number) => Promise<boolean>, undoFaults: () => void = () => undefined) => {
    const t = await s.service({ ...FAST }, [s.f.connector({ pageSize: 10, ...connector })], true);
    const lease = await loseLeaseAfterFirstUnit(t, db().kind);
    try {
      const before = await itemsOf(s, GRACE.userId!);
      arrange();
      const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
      await t.waitFor(async () => ((await lease.taken()) ? true : undefined), "the first unit ended and the lease was taken", 40_000);
      await t.waitFor(async () => ((await landed(before)) ? true : undefined), "the deletes in doubt landed", 40_000);
      undoFaults();
      await lease.release();
      const { ended, seen } = await endOf(t, id);
      const left = await itemsOf(s, GRACE.userId!);
      const erase = ended.tasks.find((y: any) => y.step === "ERASE");
      expect(ended.status, seen).to.equal("COMPLETED");
      expect(erase.attempts, `the attempt that lost the task, then the next ${seen}`).to.be.at.least(2);
      expect(left, `Grace's items kept (the last 90 days) ${seen}`).to.be.within(1, before - 3);
      expect({ erased: erase.outcome.erased, kept: erase.outcome.kept }, `as the erase reports it, against the table's loss ${seen}`).to.deep.equal({ erased: before - left, kept: left });
      const line = ended.deletionOutcome.find((l: any) => l.connector === "auth-log");
      expect(line, seen).to.deep.include({ erased: before - left, kept: left, matchesPlan: true, differences: [] });
    } finally {
      await lease.undo();
    }
  };

  // Before: the unit counted its 2 deletes and ended, the next unit was refused (lease lost), and the
  // stopped attempt noted nothing; the third delete landed afterwards, and the next attempt's resend
  // found it gone, not its own: erased one short of what the table lost, FEWER_RECORDS 1.
  it("one delete cut at its deadline and still there when read back, done after the attempt lost the task: counted by the next attempt", async function () {
    this.timeout(120_000);
    await deletion(
      { deleteConcurrency: 1 },
      () => s.dynamo.deleteFaults.push(null, null, { lands: "later", answer: "none" }),
      // It lands only when the next DeleteItem arrives: the next attempt's resend of it.
      async () => true,
    );
    expect(s.dynamo.deleteFaults, "the fault was met").to.deep.equal([]);
  });

  // Before: 16 deletes in doubt at once, all landing after the attempt lost the task: erased 16 short
  // (FEWER_RECORDS 16). One note per key, or all keys in one note (over the 500 characters a note
  // holds), would not hold them either: they go in as many notes as they need.
  it("sixteen deletes in flight at once, all cut and still there when read back, done after the attempt lost the task: each counted once", async function () {
    this.timeout(120_000);
    await deletion(
      { deleteConcurrency: 16, pageSize: 20 },
      () => (s.dynamo.slowDeletesMs = 2_500),
      async (before) => (await itemsOf(s, GRACE.userId!)) <= before - 16,
      () => (s.dynamo.slowDeletesMs = 0),
    );
  });
});

/**
 * Deletes in doubt when an attempt loses its task WHILE a unit of erasure runs: the unit still ends after
 * its deletes were waited out and read back (still there), and the next attempt starts only then. What
 * the deletion reports erased must be what the table lost.
 */
describeEachDatabase("auth-log on DynamoDB: deletes in doubt when the attempt loses its task mid-unit are counted once (dynalite)", (db) => {
  const s = dynamoSuite(db);

  // Before: the unit's end was refused (lease lost, or stopped with deletes in doubt), so it kept only
  // its range note; the 16 deletes landed after it, and the next attempt, finding 16 of the range's
  // events gone, could not tell its deletes from another hand's: erased 21 of the 37 the table lost,
  // FEWER_RECORDS 16 (as seen under CPU load, when the 2 s lease ran out during the unit).
  it("sixteen deletes in flight, all cut and still there when read back, the task taken while they were: each counted once", async function () {
    this.timeout(120_000);
    const t = await s.service({ ...FAST }, [s.f.connector({ pageSize: 20, deleteConcurrency: 16 })], true);
    const before = await itemsOf(s, GRACE.userId!);
    s.dynamo.slowDeletesMs = 2_500;
    const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
    const lease = await loseLeaseMidUnit(t, s);
    await t.waitFor(async () => ((await lease.ended()) ? true : undefined), "the attempt ended its unit", 40_000);
    await t.waitFor(async () => ((await itemsOf(s, GRACE.userId!)) <= before - 16 ? true : undefined), "the deletes in doubt landed", 40_000);
    s.dynamo.slowDeletesMs = 0;
    await lease.release();
    const { ended, seen } = await endOf(t, id);
    const left = await itemsOf(s, GRACE.userId!);
    const erase = ended.tasks.find((y: any) => y.step === "ERASE");
    expect(ended.status, seen).to.equal("COMPLETED");
    expect(erase.attempts, `the attempt that lost the task, then the next ${seen}`).to.be.at.least(2);
    expect(left, `Grace's items kept (the last 90 days) ${seen}`).to.be.within(1, before - 16);
    expect({ erased: erase.outcome.erased, kept: erase.outcome.kept }, `as the erase reports it, against the table's loss ${seen}`).to.deep.equal({ erased: before - left, kept: left });
    const line = ended.deletionOutcome.find((l: any) => l.connector === "auth-log");
    expect(line, seen).to.deep.include({ erased: before - left, kept: left, matchesPlan: true, differences: [] });
  });
});

/**
 * A unit of erasure interrupted with its deletes half sent (its attempt lost the task while it ran, and
 * its end came after the next attempt took the notes over: it stalled longer than that attempt waits, or
 * its process died), and events of its range removed by another hand before the next attempt (DynamoDB's TTL, the platform's
 * expiry job, another deletion of the same user): which of the range's events the unit removed no one
 * can tell any more, so none of those gone is reported erased by this deletion; they are named as no
 * longer there (FEWER_RECORDS), as a SQL connector reports rows it finds gone.
 */
describeEachDatabase("auth-log on DynamoDB: events of an interrupted unit's range removed by another hand are not reported erased (dynalite)", (db) => {
  const s = dynamoSuite(db);

  // Before: the next attempt counted every event gone from the range as erased, the 2 another hand
  // removed included: erased 37 of the 37 the table lost, matchesPlan true, though this deletion's
  // deletes removed at most 35 of them.
  it("the 2 events another hand removed, and the 2 the interrupted unit removed, are FEWER_RECORDS; the rest erased", async function () {
    this.timeout(120_000);
    const t = await s.service({ ...FAST }, [s.f.connector({ pageSize: 10, deleteConcurrency: 1 })], true);
    const before = await itemsOf(s, GRACE.userId!);
    const keys = await keysOf(s, GRACE.userId!);
    // The unit's third delete never lands and gets no answer: cut, read back still there, the unit stops sending.
    s.dynamo.deleteFaults.push(null, null, { lands: "never", answer: "none" });
    const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
    // While the first unit runs (its first delete sent), another worker takes the task: the unit cannot end well.
    await t.waitFor(async () => (s.dynamo.count("DeleteItem") >= 1 ? true : undefined), "the first delete sent", 40_000);
    await t.ds.query(`UPDATE tasks SET lockedBy = '${STALLED}', leaseExpiresAt = '2999-01-01 00:00:00.000' WHERE step = 'ERASE' AND status = 'RUNNING'`);
    // ...and the unit's end comes only after the next attempt took the task's notes over (the unit's row
    // under a new id, as takeOverNotes leaves it once its wait for a stalled unit ran out): the unit can
    // no longer hand over what it saw, and its range note is all the next attempt has.
    await t.ds.query(`UPDATE erasure_units SET id = '${randomUUID()}', expiresAt = '2000-01-01 00:00:00.000' WHERE note LIKE 'auth-log-range:%'`);
    await t.waitFor(async () => (s.dynamo.deleteFaults.length === 0 && s.dynamo.count("GetItem") >= 1 ? true : undefined), "the third delete cut and read back", 40_000);
    // Another hand removes the 6th and 7th oldest events, which the unit never sent a delete for.
    const direct = s.dynamo.client();
    try {
      for (const key of [keys[5], keys[6]]) await direct.send(new DeleteItemCommand({ TableName: s.f.tableName, Key: { userId: { S: GRACE.userId! }, sk: { S: key } } }));
    } finally {
      direct.destroy();
    }
    await releaseStalled(t);
    const { ended, seen } = await endOf(t, id);
    const left = await itemsOf(s, GRACE.userId!);
    const erase = ended.tasks.find((y: any) => y.step === "ERASE");
    expect(ended.status, seen).to.equal("COMPLETED");
    expect(erase.attempts, seen).to.be.at.least(2);
    const lost = before - left;
    const line = ended.deletionOutcome.find((l: any) => l.connector === "auth-log");
    expect(line.erased, `never the 2 another hand removed ${seen}`).to.be.at.most(lost - 2);
    expect(line, seen).to.deep.include({ erased: lost - 4, kept: left, matchesPlan: false, differences: [{ kind: "FEWER_RECORDS", records: 4 }] });
    expect(erase.outcome, seen).to.deep.include({ erased: lost - 4, kept: left });
  });
});

/** A user's sort keys in the suite's table, oldest first (straight to dynalite). */
async function keysOf(s: ReturnType<typeof dynamoSuite>, userId: string): Promise<string[]> {
  const client = s.dynamo.client();
  try {
    const keys: string[] = [];
    let start: Record<string, any> | undefined;
    do {
      const out = await client.send(new QueryCommand({ TableName: s.f.tableName, KeyConditionExpression: "userId = :u", ExpressionAttributeValues: { ":u": { S: userId } }, ConsistentRead: true, ExclusiveStartKey: start }));
      keys.push(...(out.Items ?? []).map((i) => i.sk.S!));
      start = out.LastEvaluatedKey;
    } while (start);
    return keys;
  } finally {
    client.destroy();
  }
}

/**
 * A unit that ran out of time part-way hands its keys from the first one not done to a new unit; other
 * lanes may have deleted (and counted) some of those already. Sent again, such a delete answered with a
 * 5xx is read back gone: it must not be counted a second time.
 */
describeEachDatabase("auth-log on DynamoDB: a delete the call already counted is not sent again by the next unit (dynalite)", (db) => {
  const s = dynamoSuite(db);

  // Before: the new unit sent the keys other lanes had deleted again with the one still there; the two
  // deletes it sent first were answered 500, and the one of an event already deleted and counted was
  // read back gone and counted again: erased 38 of the 37 the table lost (MORE_RECORDS 1).
  it("one lane's delete cut and still there, the other lane's deletes done: each event counted once", async function () {
    this.timeout(120_000);
    const t = await s.service({ ...FAST }, [s.f.connector({ pageSize: 10, deleteConcurrency: 2 })], true);
    const before = await itemsOf(s, GRACE.userId!);
    const cut = { lands: "never", answer: "none" } as const;
    const failed = { lands: "never", answer: 500 } as const;
    s.dynamo.deleteFaults.push(cut, null, null, null, null, null, null, null, null, null, failed, failed);
    const id = await approved(t, { type: "DELETION", subject: { email: GRACE.email, userId: GRACE.userId } });
    const { ended, seen } = await endOf(t, id);
    const left = await itemsOf(s, GRACE.userId!);
    expect(s.dynamo.deleteFaults, "the faults were met").to.deep.equal([]);
    expect(ended.status, seen).to.equal("COMPLETED");
    const line = ended.deletionOutcome.find((l: any) => l.connector === "auth-log");
    expect(line, seen).to.deep.include({ erased: before - left, kept: left, matchesPlan: true, differences: [] });
  });
});
