import { randomBytes, randomUUID } from "node:crypto";
import { expect } from "chai";
import { HotStatements } from "../../src/db/hotStatements";
import { inTransaction } from "../../src/db/transaction";
import { TaskStatus, TaskStep } from "../../src/domain/tasks";
import { AuditEventRow, StagedBatchRow, TaskRow } from "../../src/entities";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";

/**
 * The orchestrator's prepared statements write exactly what TypeORM's repositories write: the same
 * stored values (dates, JSON, NULLs, blobs), compared as the database holds them, so an upgrade of
 * TypeORM that changed how a value is stored fails here, not in production.
 */
describeEachDatabase("prepared hot-path statements", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db(), {}, []).start();
  });
  after(async () => {
    await t?.stop();
  });

  /** The row as stored, without the columns that are meant to differ. */
  const stored = async (table: string, where: string, parameters: unknown[], without: string[]) => {
    const [row] = await t.ds.query(`SELECT * FROM ${table} WHERE ${where}`, parameters);
    expect(row, `${table} row`).to.not.equal(undefined);
    for (const c of without) delete row[c];
    return row;
  };

  const task = (id: string): TaskRow =>
    Object.assign(new TaskRow(), {
      id,
      requestId: randomUUID(),
      connector: "accounts",
      step: TaskStep.COLLECT,
      status: TaskStatus.RUNNING,
      priority: 5,
      waitingFor: 2,
      attempts: 1,
      maxAttempts: 3,
      runAfter: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
      lockedBy: "worker-a",
      leaseToken: 7,
      leaseExpiresAt: new Date(Date.UTC(2026, 0, 2, 3, 9, 5, 678)),
      lastError: "earlier",
      note: null,
      remoteReference: null,
      result: null,
      idempotencyKey: "k",
      createdAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 1)),
      startedAt: null,
      finishedAt: null,
      updatedAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 2)),
    });

  it("updates a task as repository.update does, answers 0 when its condition fails, and runs only in a transaction", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await t.ds.getRepository(TaskRow).insert([task(a), task(b)]);
    const when = new Date(Date.UTC(2026, 0, 3, 4, 5, 6, 789));
    const set = { status: TaskStatus.SUCCEEDED, result: { records: 12, leftOut: [{ category: "X", reason: "r \"quoted\" ✅" }] } as TaskRow["result"], lastError: null, lockedBy: null, leaseExpiresAt: null, updatedAt: when, finishedAt: when, note: undefined };
    const guard = (id: string) => ({ id, status: TaskStatus.RUNNING, lockedBy: "worker-a", leaseToken: 7 });
    const statements = new HotStatements(TaskRow);
    await inTransaction(t.ds, async (em) => {
      expect((await em.getRepository(TaskRow).update(guard(a), set)).affected).to.equal(1);
      expect(await statements.update(em, set, guard(b))).to.equal(1);
      expect(await statements.update(em, set, guard(b))).to.equal(0);
    });
    expect(await stored("tasks", "id = ?", [b], ["id", "requestId"])).to.deep.equal(await stored("tasks", "id = ?", [a], ["id", "requestId"]));
    // An expression and a condition of its own, as the dependents' count is kept.
    await inTransaction(t.ds, async (em) => {
      await em.getRepository(TaskRow).createQueryBuilder().update().set({ waitingFor: () => "waitingFor - 1", updatedAt: when }).where("id = :id", { id: a }).andWhere("waitingFor > 0").execute();
      expect(await statements.update(em, { updatedAt: when }, { id: b }, { raw: { waitingFor: "waitingFor - 1" }, extraWhere: "waitingFor > 0" })).to.equal(1);
    });
    expect(await stored("tasks", "id = ?", [b], ["id", "requestId"])).to.deep.equal(await stored("tasks", "id = ?", [a], ["id", "requestId"]));
    expect((await t.ds.getRepository(TaskRow).findOneByOrFail({ id: b })).waitingFor).to.equal(1);
    let outside: Error | null = null;
    await statements.update(t.ds.manager, set, guard(b)).catch((e: Error) => (outside = e));
    expect(outside!.message).to.match(/inside inTransaction/);
  });

  it("updates several tasks in one statement, each with its own values under its own condition, as repository.update does each", async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await t.ds.getRepository(TaskRow).insert(ids.map(task));
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 3, 4, 5, 6, ms));
    const setOf = (i: number) => ({ status: TaskStatus.SUCCEEDED, result: { records: 10 + i, leftOut: [{ category: "X", reason: `r${i} "quoted" ✅` }] } as TaskRow["result"], lastError: null, lockedBy: null, leaseExpiresAt: null, updatedAt: at(100 + i), finishedAt: at(200 + i) });
    const guard = (id: string, leaseToken = 7) => ({ id, status: TaskStatus.RUNNING, lockedBy: "worker-a", leaseToken });
    const statements = new HotStatements(TaskRow);
    await inTransaction(t.ds, async (em) => {
      // The reference: the repository, one row at a time.
      expect((await em.getRepository(TaskRow).update(guard(ids[0]), setOf(1))).affected).to.equal(1);
      expect((await em.getRepository(TaskRow).update(guard(ids[1]), setOf(2))).affected).to.equal(1);
      // ids[4]'s condition fails (another claim's token): it is counted out and left as it was.
      expect(await statements.updateEach(em, "id", [{ set: setOf(1), where: guard(ids[2]) }, { set: setOf(2), where: guard(ids[3]) }, { set: setOf(3), where: guard(ids[4], 8) }])).to.equal(2);
    });
    expect(await stored("tasks", "id = ?", [ids[2]], ["id", "requestId"])).to.deep.equal(await stored("tasks", "id = ?", [ids[0]], ["id", "requestId"]));
    expect(await stored("tasks", "id = ?", [ids[3]], ["id", "requestId"])).to.deep.equal(await stored("tasks", "id = ?", [ids[1]], ["id", "requestId"]));
    expect(await t.ds.getRepository(TaskRow).findOneByOrFail({ id: ids[4] })).to.include({ status: TaskStatus.RUNNING, lockedBy: "worker-a", lastError: "earlier" });
    let mixed: Error | null = null;
    await inTransaction(t.ds, (em) => statements.updateEach(em, "id", [{ set: setOf(1), where: guard(ids[4]) }, { set: { ...setOf(2), note: "x" }, where: guard(ids[4]) }])).catch((e: Error) => (mixed = e));
    expect(mixed!.message).to.match(/same properties/);
  });

  it("inserts audit events and staged batches as repository.insert does", async () => {
    const stream = randomUUID();
    const event = (seq: number) => ({
      stream,
      seq,
      requestId: null,
      actorId: "system",
      actorRole: "SYSTEM",
      action: "task.succeeded",
      details: JSON.stringify({ n: 1, s: "é ✅ \"q\"" }),
      occurredAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
      prevHash: "0".repeat(64),
      hash: "a".repeat(64),
    });
    const payload = randomBytes(300);
    const batch = (id: string) => ({ id, requestId: "r", taskId: randomUUID(), attempt: 2, connector: "c", category: "ACCOUNT", seq: 0, records: 3, payload, createdAt: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 9)) });
    const [viaRepository, viaStatement] = [randomUUID(), randomUUID()];
    await inTransaction(t.ds, async (em) => {
      await em.getRepository(AuditEventRow).insert(event(1));
      await new HotStatements(AuditEventRow).insert(em, [event(2), event(3)]);
      await em.getRepository(StagedBatchRow).insert(batch(viaRepository));
      await new HotStatements(StagedBatchRow).insert(em, [batch(viaStatement)]);
    });
    const first = await stored("audit_events", "stream = ? AND seq = 1", [stream], ["seq"]);
    expect(await stored("audit_events", "stream = ? AND seq = 2", [stream], ["seq"])).to.deep.equal(first);
    expect(await stored("audit_events", "stream = ? AND seq = 3", [stream], ["seq"])).to.deep.equal(first);
    const staged = async (id: string) => stored("staged_batches", "id = ?", [id], ["id", "taskId"]);
    expect(await staged(viaStatement)).to.deep.equal(await staged(viaRepository));
    expect(Buffer.from((await staged(viaStatement)).payload).equals(payload)).to.equal(true);
  });
});
