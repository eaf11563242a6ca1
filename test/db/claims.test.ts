import { expect } from "chai";
import { exclusive } from "../../src/db/connectionQueue";
import { MIGRATIONS } from "../../src/migrations";
import { migrate } from "../../src/db/dataSource";
import { inTransaction } from "../../src/db/transaction";
import { TaskStatus, TaskStep } from "../../src/domain/tasks";
import { TaskRow } from "../../src/entities";
import { claimBatch, claimNext, claimQuery, claimRead, claimTask, claimTasks, lockClaimable, runnableStatuses } from "../../src/orchestrator/sql/claimTask";
import { claimedDependentsOf } from "../../src/orchestrator/sql/finishTask";
import { In } from "typeorm";
import { completeTask } from "../../src/orchestrator/sql/completeTask";
import { extendLease } from "../../src/orchestrator/sql/extendLease";
import { failTask } from "../../src/orchestrator/sql/failTask";
import { holdsLease } from "../../src/orchestrator/sql/leaseGuard";
import { parkTask } from "../../src/orchestrator/sql/parkTask";
import { resetExpiredLeases } from "../../src/orchestrator/sql/resetExpiredLeases";
import { returnTask } from "../../src/orchestrator/sql/returnTask";
import { describeEachDatabase } from "../support/databases";
import { watchStatements } from "../support/statements";
import { TestService } from "../support/harness";
import { deferred, parkEverything, recordRows, runnableCollects, stageRecordChunk, stagedCount } from "./support";

const LEASE_MS = 60_000;

describeEachDatabase("claims and leases", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db()).start();
  });
  after(async () => {
    await t?.stop();
  });
  afterEach(() => parkEverything(t));

  const mariadb = function (this: Mocha.Context) {
    if (db().kind !== "mariadb") this.skip();
  };

  it("reads the claim's order from an index: EXPLAIN shows no filesort, for either status [MariaDB]", async function () {
    mariadb.call(this);
    await runnableCollects(t, 12);
    for (const status of [TaskStatus.PENDING, TaskStatus.REMOTE_PROCESSING] as const) {
      const plan = await inTransaction(t.ds, async (em) => {
        const [sql, params] = claimRead(em, status, t.clock.now(), 9).getQueryAndParameters();
        return em.query(`EXPLAIN ${sql}`, params);
      });
      // The tasks in the claim's order, then the two lookups of each one's dependents, by index.
      expect(plan, JSON.stringify(plan)).to.have.length(3);
      expect(plan[0].key).to.equal("idx_tasks_claim_order");
      expect(String(plan[0].Extra)).not.to.match(/filesort|temporary/i);
      for (const lookup of plan.slice(1)) expect(lookup).to.include({ select_type: "DEPENDENT SUBQUERY", table: "d", key: "idx_task_dependencies_on" });
    }
  });

  it("gives two concurrent claimers two different tasks at once, each holding only its own row [MariaDB]", async function () {
    mariadb.call(this);
    const tasks = await runnableCollects(t, 20);
    const claimedByA = deferred<{ id: string; rowsLocked: number }>();
    const release = deferred();
    const a = inTransaction(t.ds, async (em) => {
      // A claim's two steps: the plain read that chooses, then the lock on what it chose.
      const [task] = await lockClaimable(em, TaskStatus.PENDING, t.clock.now(), await claimQuery(em, TaskStatus.PENDING, t.clock.now()).getMany());
      const [trx] = await em.query(`SELECT trx_rows_locked AS n FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()`);
      claimedByA.resolve({ id: task!.id, rowsLocked: Number(trx.n) });
      await release.promise;
    });
    const held = await claimedByA.promise;
    const started = Date.now();
    const b = await claimTask(t.ds, "worker-b", t.clock.now(), LEASE_MS);
    const waited = Date.now() - started;
    release.resolve();
    await a;
    expect(b, "the second claimer found nothing while the first held its row").not.to.equal(null);
    expect(b!.id).not.to.equal(held.id);
    expect(tasks.map((x) => x.id)).to.include.members([held.id, b!.id]);
    // Before the index, one claim sorted and locked every runnable row (40 here), and B waited or found none.
    expect(held.rowsLocked).to.be.at.most(2);
    expect(waited).to.be.below(1_000);
  });

  it("claims a batch in one transaction: distinct tasks, each with its own token and attempt, and two batch claimers never share one", async () => {
    const tasks = await runnableCollects(t, 12);
    const before = new Map((await t.ds.getRepository(TaskRow).findBy({ id: In(tasks.map((x) => x.id)) })).map((r) => [r.id, r]));
    const [a, b] = await Promise.all([claimTasks(t.ds, "worker-a", t.clock.now(), LEASE_MS, 5), claimTasks(t.ds, "worker-b", t.clock.now(), LEASE_MS, 5)]);
    expect(a).to.have.length(5);
    expect(b).to.have.length(5);
    const ids = [...a, ...b].map((x) => x.id);
    expect(new Set(ids).size, "no task claimed twice").to.equal(10);
    const rows = await t.ds.getRepository(TaskRow).findBy({ id: In(ids) });
    for (const row of rows) {
      const mine = a.some((x) => x.id === row.id) ? "worker-a" : "worker-b";
      const was = before.get(row.id)!;
      expect(row).to.include({ status: TaskStatus.RUNNING, lockedBy: mine, leaseToken: was.leaseToken + 1, attempts: was.attempts + 1 });
      expect(row.startedAt).not.to.equal(null);
      // What the worker holds is what the row says: its writes are fenced by exactly this token.
      expect([...a, ...b].find((x) => x.id === row.id)).to.include({ leaseToken: row.leaseToken, attempts: row.attempts });
    }
    // The rest are left for others; a batch larger than what is runnable takes what there is, and says
    // whether it saw runnable tasks it did not take (the worker then claims again without asking first).
    const one = await claimBatch(t.ds, "worker-c", t.clock.now(), LEASE_MS, 1);
    expect({ tasks: one.tasks.length, more: one.more }).to.deep.equal({ tasks: 1, more: true });
    const rest = await claimBatch(t.ds, "worker-c", t.clock.now(), LEASE_MS, 8);
    expect({ tasks: rest.tasks.length, more: rest.more }).to.deep.equal({ tasks: 1, more: false });
    expect(await claimTasks(t.ds, "worker-c", t.clock.now(), LEASE_MS, 8)).to.have.length(0);
  });

  it("settles the request only when its status can change: a COLLECT whose EXPORT still waits neither locks nor counts; the EXPORT's completion does, and waits for the row [MariaDB]", async function () {
    mariadb.call(this);
    const collects = await runnableCollects(t, 1);
    const requestId = collects[0].requestId;
    expect(collects.length, "the request has its COLLECT(s)").to.be.greaterThan(0);
    const claimed = await claimTasks(t.ds, "worker-a", t.clock.now(), LEASE_MS, collects.length);
    expect(claimed.map((x) => x.id).sort()).to.deep.equal(collects.map((x) => x.id).sort());
    /** Another transaction holds the request row, as a settling sibling (or a cancel) would, until released. */
    const holdRequestRow = async () => {
      const locked = deferred();
      const release = deferred();
      const holder = inTransaction(t.ds, async (em) => {
        await em.query(`SELECT id FROM requests WHERE id = ? FOR UPDATE`, [requestId]);
        locked.resolve();
        await release.promise;
      });
      await locked.promise;
      return async () => (release.resolve(), await holder);
    };
    const release = await holdRequestRow();
    const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"waiting">((r) => setTimeout(() => r("waiting"), ms))]);
    try {
      for (const task of claimed) {
        // Every COLLECT, the last included: the EXPORT is still PENDING after each, so the request stays IN_PROGRESS.
        expect(await within(completeTask(t.ds, task, "worker-a", { records: 0 }, t.clock.now()), 5_000), `${task.connector} completed without the request row`).to.equal(true);
      }
    } finally {
      await release();
    }
    const exportTask = await t.ds.getRepository(TaskRow).findOneByOrFail({ requestId, step: "EXPORT" as TaskRow["step"] });
    expect(exportTask).to.include({ status: TaskStatus.PENDING, waitingFor: 0 });
    expect((await t.ds.query(`SELECT status FROM requests WHERE id = ?`, [requestId]))[0].status).to.equal("IN_PROGRESS");

    // The EXPORT has no dependent: its completion is the one that can end the request, so it takes the row.
    const [exporting] = await claimTasks(t.ds, "worker-a", t.clock.now(), LEASE_MS, 1);
    expect(exporting.id).to.equal(exportTask.id);
    const release2 = await holdRequestRow();
    const completing = completeTask(t.ds, exporting, "worker-a", {}, t.clock.now());
    try {
      expect(await within(completing, 500), "the EXPORT's completion waits for the request row").to.equal("waiting");
    } finally {
      await release2();
    }
    expect(await completing).to.equal(true);
    expect((await t.ds.query(`SELECT status FROM requests WHERE id = ?`, [requestId]))[0].status).to.equal("COMPLETED");
  });

  it("runs every transaction at READ COMMITTED, set once per pooled connection [MariaDB]", async function () {
    mariadb.call(this);
    // More at once than the pool has connections, so every connection serves several transactions.
    const levels = await Promise.all(Array.from({ length: 30 }, () => inTransaction(t.ds, async (em) => (await em.query("SELECT @@tx_isolation AS level"))[0].level as string)));
    expect(new Set(levels)).to.deep.equal(new Set(["READ-COMMITTED"]));
  });

  it("answers which statuses have something runnable, as a claim would find it, without claiming or locking", async () => {
    // parkEverything (afterEach) leaves nothing runnable; the approvals' EXPORTs wait for their COLLECTs.
    await parkEverything(t);
    expect(await runnableStatuses(t.ds, t.clock.now())).to.deep.equal([]);
    const [task] = await runnableCollects(t, 1);
    expect(await runnableStatuses(t.ds, t.clock.now())).to.deep.equal([TaskStatus.PENDING]);
    // Not yet due (a retry's backoff): not runnable; due again once the service clock passes runAfter.
    await t.ds.getRepository(TaskRow).update({ status: TaskStatus.PENDING, waitingFor: 0 }, { runAfter: new Date(t.clock.now().getTime() + 60_000) });
    expect(await runnableStatuses(t.ds, t.clock.now())).to.deep.equal([]);
    expect(await runnableStatuses(t.ds, new Date(t.clock.now().getTime() + 61_000))).to.deep.equal([TaskStatus.PENDING]);
    // A remote poll whose time has come counts too, and comes first (the claim's order).
    await t.ds.getRepository(TaskRow).update({ id: task.id }, { status: TaskStatus.REMOTE_PROCESSING, runAfter: t.clock.now() });
    expect(await runnableStatuses(t.ds, t.clock.now())).to.deep.equal([TaskStatus.REMOTE_PROCESSING]);
    // Asking took nothing: the task is still there to claim.
    expect((await claimTask(t.ds, "worker-a", t.clock.now(), LEASE_MS))!.id).to.equal(task.id);
    expect(await runnableStatuses(t.ds, t.clock.now())).to.deep.equal([]);
  });

  it("reads only the statuses it is given, and learns the claimed tasks' dependents with its own read", async () => {
    await parkEverything(t);
    const collects = await runnableCollects(t, 1);
    const exportOf = await t.ds.getRepository(TaskRow).findOneByOrFail({ requestId: collects[0].requestId, step: TaskStep.EXPORT });
    const watch = watchStatements(t.ds);
    let claimed: TaskRow[];
    try {
      claimed = (await claimBatch(t.ds, "worker-a", t.clock.now(), LEASE_MS, 8, [TaskStatus.PENDING])).tasks;
    } finally {
      watch.stop();
    }
    const statements = watch.statements.map((x) => x.query);
    expect(claimed.map((x) => x.id).sort()).to.deep.equal(collects.map((x) => x.id).sort());
    // No read of REMOTE_PROCESSING tasks, and no read of task_dependencies of its own.
    expect(statements.filter((q) => /REMOTE_PROCESSING/.test(q))).to.deep.equal([]);
    expect(statements.filter((q) => /^\s*SELECT/i.test(q) && /FROM [`"]?task_dependencies/i.test(q) && !/FROM [`"]?tasks[`"]? [`"]?t[`"]?/i.test(q))).to.deep.equal([]);
    for (const task of claimed) expect(claimedDependentsOf(task)).to.deep.equal([exportOf.id]);
  });

  it("reads a claimed task's dependents again when the claim's list came back cut", async function () {
    mariadb.call(this);
    await parkEverything(t);
    const collects = await runnableCollects(t, 1);
    const exportOf = await t.ds.getRepository(TaskRow).findOneByOrFail({ requestId: collects[0].requestId, step: TaskStep.EXPORT });
    // MySQL cuts GROUP_CONCAT at group_concat_max_len; 4 bytes cannot hold one id (36). Set for the
    // claim's own transaction's connection only.
    const claimed = await inTransaction(t.ds, async (em) => {
      await em.query("SET SESSION group_concat_max_len = 4");
      try {
        const [cut] = await em.query("SELECT GROUP_CONCAT(id) AS ids FROM tasks WHERE id = ?", [exportOf.id]);
        expect(cut.ids).to.equal(exportOf.id.slice(0, 4)); // the server does cut it
        return (await claimNext(em, "worker-a", t.clock.now(), LEASE_MS, 8)).claimed.map((c) => c.task);
      } finally {
        await em.query("SET SESSION group_concat_max_len = DEFAULT");
      }
    });
    expect(claimed).to.have.length(collects.length);
    for (const task of claimed) expect(claimedDependentsOf(task)).to.deep.equal([exportOf.id]);
  });

  it("times the lease on the database's clock, whatever the service clock says", async () => {
    await runnableCollects(t, 1);
    const before = Date.now();
    const claimed = (await claimTask(t.ds, "worker-a", t.clock.now(), LEASE_MS))!;
    const row = await t.ds.getRepository(TaskRow).findOneByOrFail({ id: claimed.id });
    // The service clock is the tests' manual one (2026-03-02); the lease follows the real (database) time.
    expect(Math.abs(t.clock.now().getTime() - before)).to.be.above(86_400_000);
    expect(row.leaseExpiresAt!.getTime()).to.be.within(before + LEASE_MS - 5_000, Date.now() + LEASE_MS + 5_000);
    expect(row.leaseToken).to.equal(1);
    expect(await resetExpiredLeases(t.ds, t.clock.now())).to.equal(0);
  });

  it("takes a lease back once the database's clock passes it, not before", async () => {
    await runnableCollects(t, 1);
    const claimed = (await claimTask(t.ds, "worker-a", t.clock.now(), 400))!;
    expect(await resetExpiredLeases(t.ds, t.clock.now())).to.equal(0);
    await new Promise((r) => setTimeout(r, 600));
    expect(await resetExpiredLeases(t.ds, t.clock.now())).to.equal(1);
    expect((await t.ds.getRepository(TaskRow).findOneByOrFail({ id: claimed.id })).status).to.equal(TaskStatus.PENDING);
  });

  for (const [title, again] of [
    ["the same worker (same process)", "worker-a"],
    ["another worker (another process)", "worker-b"],
  ] as const) {
    it(`lets a zombie attempt write nothing once its lease expired and ${title} claimed the task again`, async () => {
      const [task] = await runnableCollects(t, 1);
      const zombie = (await claimTask(t.ds, "worker-a", t.clock.now(), LEASE_MS))!;
      expect(zombie.id).to.equal(task.id);
      await t.ds.query(`UPDATE tasks SET leaseExpiresAt = '2000-01-01 00:00:00.000' WHERE id = ?`, [task.id]);
      expect(await resetExpiredLeases(t.ds, t.clock.now())).to.equal(1);
      const live = (await claimTask(t.ds, again, t.clock.now(), LEASE_MS))!;
      expect(live.id).to.equal(task.id);
      expect(live.leaseToken).to.equal(zombie.leaseToken + 1);

      const now = t.clock.now();
      expect(await extendLease(t.ds, zombie, "worker-a", now, LEASE_MS)).to.equal(false);
      expect(await stageRecordChunk(t.ds, zombie, "worker-a", recordRows(zombie, 5))).to.equal(false);
      expect(await inTransaction(t.ds, (em) => holdsLease(em, zombie, "worker-a"))).to.equal(false);
      expect(await parkTask(t.ds, zombie, "worker-a", { status: TaskStatus.AWAITING_INPUT, note: "zombie" }, now)).to.equal(false);
      expect(await failTask(t.ds, zombie, "worker-a", { userMessage: "zombie", retryable: true, retryInMs: 0 }, now)).to.equal("LOST");
      expect(await returnTask(t.ds, zombie, "worker-a", now)).to.equal(false);
      // A COLLECT's last batches travel with its completion: the zombie's land nowhere.
      expect(await completeTask(t.ds, zombie, "worker-a", { records: 5 }, now, { staged: recordRows(zombie, 5) })).to.equal(false);
      expect(await stagedCount(t, task.id)).to.equal(0);
      const untouched = await t.ds.getRepository(TaskRow).findOneByOrFail({ id: task.id });
      expect(untouched).to.include({ status: TaskStatus.RUNNING, lockedBy: again, leaseToken: live.leaseToken, note: null, lastError: "The worker running this task stopped answering; it was taken back" });

      // The live claim writes as usual.
      expect(await stageRecordChunk(t.ds, live, again, recordRows(live, 3))).to.equal(true);
      const tail = recordRows(live, 2).map((row) => Object.assign(row, { seq: 1 }));
      expect(await completeTask(t.ds, live, again, { records: 5 }, now, { staged: tail })).to.equal(true);
      expect(await stagedCount(t, task.id)).to.equal(5);
      expect((await t.ds.getRepository(TaskRow).findOneByOrFail({ id: task.id })).status).to.equal(TaskStatus.SUCCEEDED);
    });
  }

  it("migrates down and up again: the claim index and the fencing token come back", async () => {
    // Undo the later migrations too, down to (and including) this one, then migrate up again.
    const later = MIGRATIONS.map((m) => m.name).slice(MIGRATIONS.findIndex((m) => m.name === "ClaimOrder1764900000000"));
    for (let i = 0; i < later.length; i++) await exclusive(t.ds, () => t.ds.undoLastMigration({ transaction: "each" }));
    expect(await migrate(t.ds)).to.deep.equal(later);
    await runnableCollects(t, 1);
    const claimed = (await claimTask(t.ds, "worker-a", t.clock.now(), LEASE_MS))!;
    expect(claimed.leaseToken).to.equal(1);
  });
});
