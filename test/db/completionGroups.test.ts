import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { In } from "typeorm";
import { inTransaction } from "../../src/db/transaction";
import { TaskStatus } from "../../src/domain/tasks";
import { TaskRow } from "../../src/entities";
import { claimNext, claimTasks } from "../../src/orchestrator/sql/claimTask";
import { CompletionExtras, completeTask, completionHold, HandOff, trackRunning } from "../../src/orchestrator/sql/completeTask";
import { claimedDependentsOf } from "../../src/orchestrator/sql/finishTask";
import { describeEachDatabase } from "../support/databases";
import { SeenStatement, watchStatements } from "../support/statements";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { deferred, parkEverything, recordRows, runnableCollects, stagedCount } from "./support";

const LEASE_MS = 60_000;
const CONNECTORS = ["accounts", "auth-log", "payments", "tickets"];

/**
 * A request's COLLECTs end within milliseconds of each other. Their completions in one process are
 * committed as a group (held back while a sibling with the same dependents still runs here, or arriving
 * while one commits), each behind its own lease guard: what every completion writes and answers is the
 * same as if each had committed alone.
 */
describeEachDatabase("completions of one request, committed together", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db(), {}, CONNECTORS.map((name) => new ScriptedConnector({ name }))).start();
  });
  after(async () => {
    await t?.stop();
  });
  afterEach(() => parkEverything(t));

  /** One approved request's four COLLECTs, claimed by "worker-a". */
  async function claimedCollects(): Promise<TaskRow[]> {
    const collects = await runnableCollects(t, 1);
    expect(collects.map((c) => c.connector).sort()).to.deep.equal([...CONNECTORS].sort());
    const claimed = await claimTasks(t.ds, "worker-a", t.clock.now(), LEASE_MS, collects.length);
    expect(claimed).to.have.length(4);
    return claimed.sort((a, b) => a.connector.localeCompare(b.connector));
  }

  const statusOf = async (id: string) => (await t.ds.getRepository(TaskRow).findOneByOrFail({ id })).status;
  const exportOf = (requestId: string) => t.ds.getRepository(TaskRow).findOneByOrFail({ requestId, step: "EXPORT" as TaskRow["step"] });
  const succeededEvents = async (requestId: string) =>
    (await t.ds.query(`SELECT details FROM audit_events WHERE requestId = ? AND action = 'task.succeeded'`, [requestId])).map((r: { details: string }) => JSON.parse(r.details).taskId as string).sort();

  it("completes each behind its own lease guard: a lost lease answers false and writes nothing, the others land with their staged records", async () => {
    const [a, b, c, d] = await claimedCollects();
    // Another claim took c meanwhile (its fencing token moved on).
    await t.ds.query(`UPDATE tasks SET leaseToken = leaseToken + 1 WHERE id = ?`, [c.id]);
    const outcomes = await Promise.all([a, b, c, d].map((task) => completeTask(t.ds, task, "worker-a", { records: 120 }, t.clock.now(), { staged: recordRows(task, 120) })));
    expect(outcomes).to.deep.equal([true, true, false, true]);
    for (const task of [a, b, d]) {
      expect(await statusOf(task.id)).to.equal(TaskStatus.SUCCEEDED);
      expect(await stagedCount(t, task.id)).to.equal(120);
    }
    expect(await statusOf(c.id)).to.equal(TaskStatus.RUNNING);
    expect(await stagedCount(t, c.id)).to.equal(0);
    expect(await succeededEvents(a.requestId)).to.deep.equal([a.id, b.id, d.id].sort());
    expect(await exportOf(a.requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 1 });
    expect((await t.ok(`{ verifyAuditTrail(full: true) { ok problems { description } } }`)).verifyAuditTrail).to.deep.equal({ ok: true, problems: [] });
  });

  it("lets one that fails roll back alone: the others of its group are committed again without it", async () => {
    const [a, b, c, d] = await claimedCollects();
    const failing = (task: TaskRow) => (task.id === b.id ? { within: async () => Promise.reject(new Error("the export row could not be written")) } : {});
    const settled = await Promise.allSettled([a, b, c, d].map((task) => completeTask(t.ds, task, "worker-a", { records: 50 }, t.clock.now(), { staged: recordRows(task, 50), ...failing(task) })));
    expect(settled.map((s) => s.status)).to.deep.equal(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect((settled[1] as PromiseRejectedResult).reason.message).to.equal("the export row could not be written");
    for (const task of [a, c, d]) expect(await statusOf(task.id)).to.equal(TaskStatus.SUCCEEDED);
    expect(await statusOf(b.id)).to.equal(TaskStatus.RUNNING);
    expect(await stagedCount(t, b.id)).to.equal(0);
    expect(await succeededEvents(a.requestId)).to.deep.equal([a.id, c.id, d.id].sort());
    expect(await exportOf(a.requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 1 });
    // The failed one can still complete later, and then the EXPORT is free to run.
    expect(await completeTask(t.ds, b, "worker-a", { records: 0 }, t.clock.now())).to.equal(true);
    expect(await exportOf(a.requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 0 });
    expect((await t.ok(`{ verifyAuditTrail(full: true) { ok problems { description } } }`)).verifyAuditTrail).to.deep.equal({ ok: true, problems: [] });
  });

  it("keeps the completions that arrive while one commits out of the database until it is done, then commits them in one transaction [MariaDB]", async function () {
    if (db().kind !== "mariadb") this.skip();
    const tasks = await claimedCollects();
    const exportTask = await exportOf(tasks[0].requestId);
    // Another transaction holds the EXPORT's row, which every COLLECT's completion updates.
    const locked = deferred<string>();
    const release = deferred();
    const holder = inTransaction(t.ds, async (em) => {
      await em.query(`SELECT id FROM tasks WHERE id = ? FOR UPDATE`, [exportTask.id]);
      const [trx] = await em.query(`SELECT trx_id FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()`);
      locked.resolve(String(trx.trx_id));
      await release.promise;
    });
    const holderTrx = await locked.promise;
    /** Transactions waiting for a lock the holder has. */
    const waitingOnHolder = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM information_schema.INNODB_LOCK_WAITS WHERE blocking_trx_id = ?`, [holderTrx]))[0].n);
    const completions = tasks.map((task) => completeTask(t.ds, task, "worker-a", { records: 1 }, t.clock.now(), { staged: recordRows(task, 1) }));
    try {
      const deadline = Date.now() + 5_000;
      // InnoDB refreshes these tables only when they have not been read for 100 ms: asked more often, they never change.
      while ((await waitingOnHolder()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 150));
      await new Promise((r) => setTimeout(r, 300));
      // One completion waits for the row; alone, all four would (four transactions, four lock waits).
      expect(await waitingOnHolder()).to.equal(1);
    } finally {
      release.resolve();
      await holder;
    }
    expect(await Promise.all(completions)).to.deep.equal([true, true, true, true]);
    expect(await exportOf(tasks[0].requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 0 });
    for (const task of tasks) expect(await stagedCount(t, task.id)).to.equal(1);
  });
  it("claims a request's tasks together: a batch that would end inside a request leaves that request for the next claim", async () => {
    // Approved a millisecond apart, as requests are: the claim's order (priority, then runAfter, the
    // approval's time) keeps each request's tasks together. (Approved in the same millisecond, their
    // tasks may interleave, and a batch then takes them as they come.)
    const collects: TaskRow[] = [];
    for (let i = 0; i < 3; i++) {
      collects.push(...(await runnableCollects(t, 1)));
      t.clock.advance(1);
    }
    expect(collects).to.have.length(12);
    const requestsOf = (tasks: TaskRow[]) => [...new Set(tasks.map((x) => x.requestId))];
    const first = await claimTasks(t.ds, "worker-a", t.clock.now(), LEASE_MS, 5);
    expect(first).to.have.length(4);
    expect(requestsOf(first)).to.have.length(1);
    const second = await claimTasks(t.ds, "worker-b", t.clock.now(), LEASE_MS, 6);
    expect(second).to.have.length(4);
    expect(requestsOf(second)).to.have.length(1);
    // Fewer free slots than the request has tasks: the batch is all one request's, and is taken as it is.
    const third = await claimTasks(t.ds, "worker-a", t.clock.now(), LEASE_MS, 3);
    expect(third).to.have.length(3);
    const rest = await claimTasks(t.ds, "worker-b", t.clock.now(), LEASE_MS, 8);
    expect(rest).to.have.length(1);
    expect(requestsOf([...third, ...rest])).to.have.length(1);
    expect(new Set([...first, ...second, ...third, ...rest].map((x) => x.id)).size).to.equal(12);
    expect(new Set([...requestsOf(first), ...requestsOf(second), ...requestsOf(third)]).size).to.equal(3);
  });

  it("gives concurrent claimers whole requests: a claim locks only what it takes, so a batch's cut stays free for the next claim [MariaDB]", async function () {
    if (db().kind !== "mariadb") this.skip();
    const collects: TaskRow[] = [];
    for (let i = 0; i < 6; i++) {
      collects.push(...(await runnableCollects(t, 1)));
      t.clock.advance(1);
    }
    expect(collects).to.have.length(24);
    // Claimer A, five free slots, holds its transaction open after its claim's statements.
    const claimedByA = deferred<{ tasks: TaskRow[]; rowsLocked: number }>();
    const release = deferred();
    const a = inTransaction(t.ds, async (em) => {
      const { claimed } = await claimNext(em, "worker-a", t.clock.now(), LEASE_MS, 5);
      const [trx] = await em.query(`SELECT trx_rows_locked AS n FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = CONNECTION_ID()`);
      claimedByA.resolve({ tasks: claimed.map((c) => c.task), rowsLocked: Number(trx.n) });
      await release.promise;
    });
    const first = await claimedByA.promise;
    const requestsOf = (tasks: TaskRow[]) => [...new Set(tasks.map((x) => x.requestId))];
    let second: TaskRow[];
    try {
      expect(first.tasks).to.have.length(4);
      // Only its four rows: choosing reads without locking. (Locking while choosing, it held 12 index
      // records: the cut-off row of the second request and the one read past it, in both indexes.)
      expect(first.rowsLocked).to.equal(4);
      // Meanwhile B, five free slots too, takes the second request whole, not the part A's lock left.
      second = await claimTasks(t.ds, "worker-b", t.clock.now(), LEASE_MS, 5);
    } finally {
      release.resolve();
      await a;
    }
    expect(second).to.have.length(4);
    expect(requestsOf(second)).to.have.length(1);
    expect(requestsOf(second)[0]).not.to.equal(requestsOf(first.tasks)[0]);
    // The rest go in whole requests too, to whoever claims: no request's COLLECTs in two claims.
    const rest = [...(await claimTasks(t.ds, "worker-c", t.clock.now(), LEASE_MS, 8)), ...(await claimTasks(t.ds, "worker-d", t.clock.now(), LEASE_MS, 8))];
    expect(rest).to.have.length(16);
    const owners = new Map<string, Set<string>>();
    for (const row of await t.ds.getRepository(TaskRow).findBy({ id: In(collects.map((x) => x.id)) })) owners.set(row.requestId, (owners.get(row.requestId) ?? new Set()).add(String(row.lockedBy)));
    expect([...owners.values()].map((o) => o.size)).to.deep.equal([1, 1, 1, 1, 1, 1]);
  });

  describe("held back for siblings still running in this process", () => {
    const defaultHold = completionHold.maxMs;
    afterEach(() => {
      completionHold.maxMs = defaultHold;
    });

    /** Tracks the promise's outcome, so a test can ask whether it has settled yet. */
    function watched<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
      let settled = false;
      void promise.then(
        () => (settled = true),
        () => (settled = true),
      );
      return { promise, settled: () => settled };
    }
    const complete = (task: TaskRow) => watched(completeTask(t.ds, task, "worker-a", { records: 2 }, t.clock.now(), { staged: recordRows(task, 2) }));
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

    /**
     * The statements that release tasks as SUCCEEDED, as TypeORM's logger sees them (every query runner
     * reports each statement to the data source's logger, whatever the logging option): for each, how
     * many tasks it releases.
     */
    function countingTaskReleases(): { statements: () => number[]; stop: () => void } {
      const watch = watchStatements(t.ds);
      const released = (x: SeenStatement) => (/^UPDATE [`"]tasks[`"] SET/.test(x.query) ? x.parameters.filter((p: unknown) => p === TaskStatus.SUCCEEDED).length : 0);
      return { statements: () => watch.statements.map(released).filter((n) => n > 0), stop: watch.stop };
    }

    /**
     * A request's four COLLECTs completed together (all tracked as running: one group), each with
     * `extras(task)`, after its EXPORT was set to wait for `exportWaitsFor` in `exportStatus` and
     * `meanwhile(tasks)` ran between their claim and their completions.
     */
    async function completeAsGroup(options: { exportWaitsFor?: number; exportStatus?: TaskStatus; extras?: (task: TaskRow) => Partial<CompletionExtras>; meanwhile?: (tasks: TaskRow[]) => Promise<unknown> } = {}) {
      const { exportWaitsFor = 4, exportStatus = TaskStatus.PENDING, extras = () => ({}), meanwhile } = options;
      const tasks = await claimedCollects();
      await t.ds.query(`UPDATE tasks SET waitingFor = ?, status = ? WHERE requestId = ? AND step = 'EXPORT'`, [exportWaitsFor, exportStatus, tasks[0].requestId]);
      await meanwhile?.(tasks);
      const untrack = tasks.map((task) => trackRunning(t.ds, task));
      try {
        const settled = await Promise.allSettled(tasks.map((task) => completeTask(t.ds, task, "worker-a", { records: 2 }, t.clock.now(), { staged: recordRows(task, 2), ...extras(task) })));
        return { tasks, settled };
      } finally {
        untrack.forEach((u) => u());
      }
    }

    it("commits nothing while a sibling with the same dependents runs, then all of them at once when the last arrives", async () => {
      // Long enough that only the last sibling's arrival can let them go.
      completionHold.maxMs = 60_000;
      const tasks = await claimedCollects();
      const untrack = tasks.map((task) => trackRunning(t.ds, task));
      try {
        const first = tasks.slice(0, 3).map(complete);
        await pause(200);
        expect(first.map((c) => c.settled())).to.deep.equal([false, false, false]);
        for (const task of tasks) expect(await statusOf(task.id)).to.equal(TaskStatus.RUNNING);
        expect(await succeededEvents(tasks[0].requestId)).to.deep.equal([]);
        const last = complete(tasks[3]);
        expect(await Promise.all([...first, last].map((c) => c.promise))).to.deep.equal([true, true, true, true]);
      } finally {
        untrack.forEach((u) => u());
      }
      for (const task of tasks) {
        expect(await statusOf(task.id)).to.equal(TaskStatus.SUCCEEDED);
        expect(await stagedCount(t, task.id)).to.equal(2);
      }
      expect(await succeededEvents(tasks[0].requestId)).to.deep.equal(tasks.map((x) => x.id).sort());
      expect(await exportOf(tasks[0].requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 0 });
      expect((await t.ok(`{ verifyAuditTrail(full: true) { ok problems { description } } }`)).verifyAuditTrail).to.deep.equal({ ok: true, problems: [] });
    });

    it("releases the members in one statement, each under its own lease guard: one lost lease rolls the group back and the others complete alone", async () => {
      // The happy path: one UPDATE of the tasks for all four releases (the group's statements, counted).
      const releases = countingTaskReleases();
      let together: Awaited<ReturnType<typeof completeAsGroup>>;
      try {
        together = await completeAsGroup();
      } finally {
        releases.stop();
      }
      expect(together.settled.map((x) => x.status === "fulfilled" && x.value)).to.deep.equal([true, true, true, true]);
      expect(releases.statements()).to.deep.equal([4]);
      for (const task of together.tasks) expect(await t.ds.getRepository(TaskRow).findOneByOrFail({ id: task.id })).to.include({ status: TaskStatus.SUCCEEDED, lockedBy: null, leaseExpiresAt: null });

      // Another claim took one of them meanwhile (its fencing token moved on). (The first request's
      // EXPORT, runnable now, is parked: the claim is for the second request's COLLECTs.)
      await parkEverything(t);
      const { tasks, settled } = await completeAsGroup({ meanwhile: (claimed) => t.ds.query(`UPDATE tasks SET leaseToken = leaseToken + 1 WHERE id = ?`, [claimed[2].id]) });
      expect(settled.map((x) => x.status === "fulfilled" && x.value)).to.deep.equal([true, true, false, true]);
      for (const task of [tasks[0], tasks[1], tasks[3]]) {
        expect(await statusOf(task.id)).to.equal(TaskStatus.SUCCEEDED);
        expect(await stagedCount(t, task.id)).to.equal(2);
      }
      expect(await t.ds.getRepository(TaskRow).findOneByOrFail({ id: tasks[2].id })).to.include({ status: TaskStatus.RUNNING, lockedBy: "worker-a" });
      expect(await stagedCount(t, tasks[2].id)).to.equal(0);
      expect(await succeededEvents(tasks[0].requestId)).to.deep.equal([tasks[0].id, tasks[1].id, tasks[3].id].sort());
      expect(await exportOf(tasks[0].requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 1 });
      expect((await t.ok(`{ verifyAuditTrail(full: true) { ok problems { description } } }`)).verifyAuditTrail).to.deep.equal({ ok: true, problems: [] });
    });

    it("stores every member's batches, large ones too, byte for byte and under its own task", async () => {
      completionHold.maxMs = 60_000;
      const tasks = await claimedCollects();
      // Two batches of 200 KiB each per task: more than one statement's worth for the group.
      const staged = new Map(tasks.map((task) => [task.id, recordRows(task, 100).map((b) => Object.assign(b, { payload: randomBytes(200 * 1024) }))]));
      const untrack = tasks.map((task) => trackRunning(t.ds, task));
      try {
        const outcomes = await Promise.all(tasks.map((task) => completeTask(t.ds, task, "worker-a", { records: 100 }, t.clock.now(), { staged: staged.get(task.id)! })));
        expect(outcomes).to.deep.equal([true, true, true, true]);
      } finally {
        untrack.forEach((u) => u());
      }
      for (const task of tasks) {
        const rows: Array<{ id: string; seq: number; payload: Buffer }> = await t.ds.query(`SELECT id, seq, payload FROM staged_batches WHERE taskId = ? ORDER BY seq`, [task.id]);
        const expected = staged.get(task.id)!;
        expect(rows.map((r) => r.id)).to.deep.equal(expected.map((b) => b.id));
        rows.forEach((r, i) => expect(Buffer.from(r.payload).equals(expected[i].payload), `${task.connector} #${i}`).to.equal(true));
      }
    });

    it("counts the EXPORT down by the whole group at once, and where its count disagrees, one completion at a time as alone", async () => {
      completionHold.maxMs = 60_000;
      /** The EXPORT's count set to `waitingFor` before the four complete together; its row after. */
      const groupOnExportWaitingFor = async (waitingFor: number, status = TaskStatus.PENDING) => {
        const { tasks, settled } = await completeAsGroup({ exportWaitsFor: waitingFor, exportStatus: status });
        expect(settled.map((x) => x.status === "fulfilled" && x.value)).to.deep.equal([true, true, true, true]);
        for (const task of tasks) expect(await statusOf(task.id)).to.equal(TaskStatus.SUCCEEDED);
        expect(await succeededEvents(tasks[0].requestId)).to.deep.equal(tasks.map((x) => x.id).sort());
        const after = await exportOf(tasks[0].requestId);
        // A released EXPORT would be the next case's first claim.
        await parkEverything(t);
        return after;
      };
      // Two more siblings elsewhere: 6 - 4, still waiting.
      expect(await groupOnExportWaitingFor(6)).to.include({ status: TaskStatus.PENDING, waitingFor: 2 });
      // A count that disagrees (2 for 4 completions): two count it down to 0, two find nothing to count, as alone.
      expect(await groupOnExportWaitingFor(2)).to.include({ status: TaskStatus.PENDING, waitingFor: 0 });
      // A dependent no longer PENDING is not counted.
      expect(await groupOnExportWaitingFor(4, TaskStatus.SKIPPED)).to.include({ status: TaskStatus.SKIPPED, waitingFor: 4 });
      expect((await t.ok(`{ verifyAuditTrail(full: true) { ok problems { description } } }`)).verifyAuditTrail).to.deep.equal({ ok: true, problems: [] });
    });

    it("hands the EXPORT the group releases to the worker, claimed in the same transaction, and nothing when it has no room, when the EXPORT still waits, or when the group rolls back", async () => {
      completionHold.maxMs = 60_000;
      /** The four complete together with a hand-off whose room is `room`; what it was handed. */
      const groupWithHandOff = async (room: boolean, extras: (task: TaskRow) => Partial<CompletionExtras> = () => ({}), exportWaitsFor = 4) => {
        const taken: TaskRow[] = [];
        const finishings: number[] = [];
        const handOff: HandOff = { workerId: "worker-a", leaseMs: LEASE_MS, now: () => t.clock.now(), wants: (finishing) => (finishings.push(finishing), room), take: (task) => taken.push(task) };
        const { tasks, settled } = await completeAsGroup({ exportWaitsFor, extras: (task) => ({ handOff, ...extras(task) }) });
        return { tasks, taken, settled, finishings };
      };
      const row = (id: string) => t.ds.getRepository(TaskRow).findOneByOrFail({ id });

      const handed = await groupWithHandOff(true);
      expect(handed.taken).to.have.length(1);
      // Asked once, knowing the four it completes are leaving.
      expect(handed.finishings).to.deep.equal([4]);
      const exportTask = handed.taken[0];
      const before = await exportOf(handed.tasks[0].requestId);
      expect(exportTask).to.include({ id: before.id, step: "EXPORT", status: TaskStatus.RUNNING, lockedBy: "worker-a", attempts: 1, waitingFor: 0 });
      expect(before).to.include({ status: TaskStatus.RUNNING, lockedBy: "worker-a", leaseToken: exportTask.leaseToken, attempts: 1 });
      expect(before.leaseExpiresAt).to.be.instanceOf(Date);
      // Its dependents were read with the claim, as a claim reads them (none, for an EXPORT).
      expect(claimedDependentsOf(exportTask)).to.deep.equal([]);
      // It runs as any claimed task: its completion passes the lease guard, and the trail records its start.
      expect(await completeTask(t.ds, exportTask, "worker-a", { records: 8 }, t.clock.now())).to.equal(true);
      expect(await row(exportTask.id)).to.include({ status: TaskStatus.SUCCEEDED, lockedBy: null });
      const started = await t.ds.query(`SELECT details FROM audit_events WHERE requestId = ? AND action = 'task.started'`, [exportTask.requestId]);
      expect(started.map((e: { details: string }) => JSON.parse(e.details).taskId)).to.include(exportTask.id);
      expect((await t.ok(`{ request(id: "${exportTask.requestId}") { status } }`)).request.status).to.equal("COMPLETED");
      await parkEverything(t);

      // No room: left PENDING for any claim.
      const full = await groupWithHandOff(false);
      expect(full.taken).to.deep.equal([]);
      expect(await exportOf(full.tasks[0].requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 0, lockedBy: null });
      await parkEverything(t);

      // Still waiting for two siblings elsewhere: counted down, not handed over.
      const waits = await groupWithHandOff(true, () => ({}), 6);
      expect(waits.taken).to.deep.equal([]);
      expect(await exportOf(waits.tasks[0].requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 2, lockedBy: null });
      await parkEverything(t);

      // A member fails: the group rolls back, the others commit alone, and nothing is handed over.
      let failing = "";
      const failed = await groupWithHandOff(true, (task) => {
        failing ||= task.id;
        return task.id === failing ? { within: async () => Promise.reject(new Error("the row could not be written")) } : {};
      });
      expect(failed.settled.filter((x) => x.status === "rejected")).to.have.length(1);
      expect(failed.taken).to.deep.equal([]);
      expect(await exportOf(failed.tasks[0].requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 1, lockedBy: null });
      expect((await t.ok(`{ verifyAuditTrail(full: true) { ok problems { description } } }`)).verifyAuditTrail).to.deep.equal({ ok: true, problems: [] });
    });

    it("lets the held ones go as soon as the sibling they wait for ends without completing (failed, parked, lost)", async () => {
      completionHold.maxMs = 60_000;
      const [a, b, c, d] = await claimedCollects();
      const untrack = [a, b, c, d].map((task) => trackRunning(t.ds, task));
      try {
        const held = [a, b].map(complete);
        await pause(100);
        expect(held.map((x) => x.settled())).to.deep.equal([false, false]);
        // c's attempt ends some other way: a and b still wait for d.
        untrack[2]();
        await pause(100);
        expect(held.map((x) => x.settled())).to.deep.equal([false, false]);
        const started = Date.now();
        untrack[3]();
        expect(await Promise.all(held.map((x) => x.promise))).to.deep.equal([true, true]);
        expect(Date.now() - started).to.be.below(5_000);
      } finally {
        untrack.forEach((u) => u());
      }
      expect(await statusOf(a.id)).to.equal(TaskStatus.SUCCEEDED);
      expect(await statusOf(b.id)).to.equal(TaskStatus.SUCCEEDED);
      expect(await exportOf(a.requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 2 });
    });

    it("never holds a completion for a task with other dependents, and holds none longer than maxMs", async () => {
      completionHold.maxMs = 60_000;
      const [a, b, c, d] = await claimedCollects();
      // The EXPORT, running here, has other dependents (none) than a: a is not held for it.
      const exportTask = await exportOf(a.requestId);
      const untrackExport = trackRunning(t.ds, exportTask);
      const untrack = [a, b, c, d].map((task) => trackRunning(t.ds, task));
      untrack.slice(1).forEach((u) => u());
      try {
        const alone = complete(a);
        expect(await alone.promise).to.equal(true);
        expect(await statusOf(a.id)).to.equal(TaskStatus.SUCCEEDED);
        // With siblings that never arrive, the hold ends at maxMs.
        completionHold.maxMs = 150;
        const sibling = [b, c, d].map((task) => trackRunning(t.ds, task));
        const started = Date.now();
        const held = complete(b);
        expect(await held.promise).to.equal(true);
        const waited = Date.now() - started;
        expect(waited).to.be.at.least(140);
        expect(waited).to.be.below(5_000);
        sibling.forEach((u) => u());
      } finally {
        untrack.forEach((u) => u());
        untrackExport();
      }
      expect(await statusOf(b.id)).to.equal(TaskStatus.SUCCEEDED);
      expect(await exportOf(a.requestId)).to.include({ status: TaskStatus.PENDING, waitingFor: 2 });
    });
  });
});
