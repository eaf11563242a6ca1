import { EntityManager, In, SelectQueryBuilder } from "typeorm";
import { TaskStatus } from "../../domain/tasks";
import { TaskDependencyRow, TaskRow } from "../../entities";
import { outsideError } from "../manualTaskLapse";
import { settleRequest } from "../requestSettler";
import { auditClaim } from "./claimTask";
import { leaseGuard } from "./leaseGuard";
import { auditTask } from "./taskAudit";
import { HotStatements } from "../../db/hotStatements";

/** The task row's statements every task runs (release, dependents' count). */
const taskStatements = new HotStatements(TaskRow);

/** The columns a worker may set when it lets go of a task. */
export type TaskPatch = Partial<Pick<TaskRow, "status" | "lastError" | "note" | "result" | "remoteReference" | "runAfter" | "attempts">>;

/**
 * The guarded write every lease holder's transition goes through: it applies only while this claim
 * still holds the lease (WHERE status = RUNNING AND lockedBy = me AND leaseToken = my claim's). False
 * means the lease was lost and the caller MUST discard its outcome.
 */
export async function releaseTask(em: EntityManager, task: TaskRow, workerId: string, patch: TaskPatch, now: Date): Promise<boolean> {
  const affected = await taskStatements.update(em, releasedColumns(patch, now), leaseGuard(task, workerId));
  if (affected !== 1) return false;
  await auditClaim(em, task);
  letGo(task, patch);
  return true;
}

/** A completion's release that waits for its group's one statement (releaseTogether). */
export interface DeferredRelease {
  task: TaskRow;
  workerId: string;
  patch: TaskPatch;
  now: Date;
}

/**
 * The releases of a group commit's members (releaseTask each), in one guarded statement: each row's
 * own values, under its own lease guard. True when every guard held; false when any did not, and then
 * the caller MUST roll the transaction back (the rows whose guards held were changed) and let each
 * member complete alone, where its own guard says which lost its lease.
 */
export async function releaseTogether(em: EntityManager, releases: readonly DeferredRelease[]): Promise<boolean> {
  const rows = releases.map(({ task, workerId, patch, now }) => ({ set: releasedColumns(patch, now), where: leaseGuard(task, workerId) }));
  if ((await taskStatements.updateEach(em, "id", rows)) !== releases.length) return false;
  for (const { task, patch } of releases) letGo(task, patch);
  return true;
}

/** The claimed row object, once its release has landed: as the row now is, but for the times. */
function letGo(task: TaskRow, patch: TaskPatch): void {
  Object.assign(task, patch, { lockedBy: null, leaseExpiresAt: null });
}

/** What a release sets besides its patch: the lease is let go; a finished task says when. */
function releasedColumns(patch: TaskPatch, now: Date): Partial<TaskRow> {
  const finished = patch.status === TaskStatus.SUCCEEDED || patch.status === TaskStatus.FAILED || patch.status === TaskStatus.SKIPPED;
  // Error text from outside (a connector's) never passes for the system's lapse of a manual task.
  const error = patch.lastError ? { lastError: outsideError(patch.lastError) } : {};
  return { ...patch, ...error, lockedBy: null, leaseExpiresAt: null, updatedAt: now, ...(finished ? { finishedAt: now } : {}) };
}

/**
 * After a task finished (whatever the outcome): its dependents wait for one task less, and the
 * request's status follows its tasks.
 *
 * `fromRunning`: the task went from RUNNING to finished (a worker's completion). When such a task
 * still had a dependent waiting for it, the request's status cannot change here: that dependent is
 * unfinished, so not every task is, and the tasks awaiting input are as many as before. The request
 * row is then neither locked nor its tasks counted: a request's COLLECTs finish at about the same time
 * and would otherwise queue for that row one after another, two statements each (bench/orchestrator).
 * The dependent's own completion settles the request, with the row locked.
 */
export async function afterTaskFinished(em: EntityManager, task: TaskRow, now: Date, options: { fromRunning?: boolean } = {}): Promise<void> {
  // Read the dependents first, then update them by primary key: an UPDATE with an IN (subquery) makes
  // InnoDB lock every row its semi-join scans, which deadlocked concurrent completions. Only PENDING
  // ones wait (a SKIPPED dependent's count is recomputed if it is ever retried).
  const dependents = claimedDependents.get(task) ?? (await dependentIds(em, task.id));
  let waiting = 0;
  if (dependents.length === 1) {
    // The usual case (COLLECTs releasing their EXPORT): one prepared statement.
    waiting = await countDown(em, dependents[0], 1, now);
  } else if (dependents.length) {
    const released = await em
      .createQueryBuilder()
      .update(TaskRow)
      .set({ waitingFor: () => "waitingFor - 1", updatedAt: now })
      .where("id IN (:...ids)", { ids: dependents })
      .andWhere("waitingFor > 0")
      .andWhere("status = :pending", { pending: TaskStatus.PENDING })
      .execute();
    waiting = released.affected ?? 0;
  }
  if (options.fromRunning && waiting > 0) return;
  await settleRequest(em, task.requestId, now);
}

/** The dependent's count of tasks it waits for, down by `by` if it is PENDING and waits for that many: 1 row or 0. */
function countDown(em: EntityManager, dependent: string, by: number, now: Date): Promise<number> {
  if (!Number.isInteger(by) || by < 1) throw new Error(`countDown: ${by} is not a count`);
  return taskStatements.update(em, { updatedAt: now }, { id: dependent, status: TaskStatus.PENDING }, { raw: { waitingFor: `waitingFor - ${by}` }, extraWhere: `waitingFor >= ${by}` });
}

/**
 * afterTaskFinished({ fromRunning: true }) for the tasks of one group commit (completeTask), all in its
 * transaction. Those whose one dependent is the same (a request's COLLECTs and their EXPORT) count it
 * down in one statement: when it waited for all of them, it still is PENDING and unfinished, so (as for
 * each alone) the request's status cannot change here. When it did not (a count that disagrees, a
 * dependent no longer PENDING), each task goes through afterTaskFinished alone, as it would have.
 * Returns the dependents counted down this way (one of them may now wait for nothing: completeTask may
 * hand it to the worker at once).
 */
export async function afterTasksFinished(em: EntityManager, finished: ReadonlyArray<{ task: TaskRow; now: Date }>): Promise<string[]> {
  const byDependent = new Map<string, Array<{ task: TaskRow; now: Date }>>();
  const alone: Array<{ task: TaskRow; now: Date }> = [];
  for (const f of finished) {
    const dependents = claimedDependents.get(f.task);
    if (dependents?.length !== 1) alone.push(f);
    else if (byDependent.has(dependents[0])) byDependent.get(dependents[0])!.push(f);
    else byDependent.set(dependents[0], [f]);
  }
  const counted: string[] = [];
  for (const [dependent, tasks] of [...byDependent].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const latest = new Date(Math.max(...tasks.map((t) => t.now.getTime())));
    if ((await countDown(em, dependent, tasks.length, latest)) === 1) counted.push(dependent);
    else alone.push(...tasks);
  }
  for (const { task, now } of alone) await afterTaskFinished(em, task, now, { fromRunning: true });
  return counted;
}

/** Ids of the tasks that wait for `taskId`, sorted (a stable lock order). */
export async function dependentIds(em: EntityManager, taskId: string): Promise<string[]> {
  return (await dependentsOf(em, [taskId])).get(taskId)!;
}

/** The dependents a claim read for the tasks it took, by the claimed row object (see rememberDependents). */
const claimedDependents = new WeakMap<TaskRow, string[]>();

/**
 * Keeps the dependents a claim read for a task it took, for its completion to use instead of a read.
 * A plan's dependencies are written with it and never change afterwards, so a read at the claim (even
 * the claim's plain read, before the lock) is as good as one at the end.
 */
export function rememberDependents(task: TaskRow, dependents: readonly string[]): void {
  claimedDependents.set(task, [...dependents].sort());
}

/** A task's dependents as a claim's own read listed them (withDependents): comma-separated ids, and that list's full length. */
export interface ListedDependents {
  list: string | null;
  length: number | string;
}

/**
 * Adds to a read of task rows two columns: the ids of each task's dependents (comma-separated; NULL
 * for none) and that list's full length, both correlated lookups by idx_task_dependencies_on. A claim
 * then needs no read of its own for them. The length guards the list: MySQL cuts GROUP_CONCAT at
 * group_concat_max_len (1,024 bytes by default), and a list that came back short is read again whole
 * (rememberListed).
 */
export function withDependents(qb: SelectQueryBuilder<TaskRow>): SelectQueryBuilder<TaskRow> {
  const from = `FROM task_dependencies d WHERE d.dependsOnTaskId = ${qb.alias}.id`;
  return qb.addSelect(`(SELECT GROUP_CONCAT(d.taskId) ${from})`, "dependents").addSelect(`(SELECT COALESCE(SUM(LENGTH(d.taskId)) + COUNT(*) - 1, 0) ${from})`, "dependentsLength");
}

/** The dependents each raw row of a withDependents read (alias `alias`) listed, by task id. */
export function listedDependents(raw: ReadonlyArray<Record<string, unknown>>, alias: string): Map<string, ListedDependents> {
  return new Map(raw.map((row) => [String(row[`${alias}_id`]), { list: row.dependents as string | null, length: row.dependentsLength as number | string }]));
}

/** Remembers, for each of `tasks`, the dependents its claim's read listed, reading again those a cut list left short. */
export async function rememberListed(em: EntityManager, tasks: readonly TaskRow[], listed: ReadonlyMap<string, ListedDependents>): Promise<void> {
  const short: TaskRow[] = [];
  for (const task of tasks) {
    const { list, length } = listed.get(task.id)!;
    if (Buffer.byteLength(list ?? "") === Number(length)) rememberDependents(task, list ? String(list).split(",") : []);
    else short.push(task);
  }
  await readDependents(em, short);
}

/** Reads, in one statement, the dependents of claimed tasks whose claim did not list them. */
export async function readDependents(em: EntityManager, tasks: readonly TaskRow[]): Promise<void> {
  if (!tasks.length) return;
  const dependents = await dependentsOf(em, tasks.map((t) => t.id));
  for (const task of tasks) rememberDependents(task, dependents.get(task.id)!);
}

/** The dependents its claim read for `task` (sorted ids), or undefined when this process did not claim it. */
export function claimedDependentsOf(task: TaskRow): readonly string[] | undefined {
  return claimedDependents.get(task);
}

/** Each task's dependents (ids, sorted: a stable lock order), in one statement. */
async function dependentsOf(em: EntityManager, taskIds: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await em.getRepository(TaskDependencyRow).find({ where: { dependsOnTaskId: In([...taskIds]) }, select: { taskId: true, dependsOnTaskId: true } });
  return new Map(taskIds.map((id) => [id, rows.filter((r) => r.dependsOnTaskId === id).map((r) => r.taskId).sort()]));
}

/** Everything downstream of a failed task is SKIPPED with the reason, transitively. */
export async function skipDependents(em: EntityManager, failed: TaskRow, now: Date): Promise<void> {
  const queue = [failed];
  while (queue.length) {
    const current = queue.shift()!;
    const ids = await dependentIds(em, current.id);
    const dependents = ids.length ? await em.getRepository(TaskRow).findBy({ id: In(ids), status: TaskStatus.PENDING }) : [];
    for (const dep of dependents) {
      const note = `not run: ${failed.connector} ${failed.step} failed`;
      await em.getRepository(TaskRow).update({ id: dep.id, status: TaskStatus.PENDING }, { status: TaskStatus.SKIPPED, note, finishedAt: now, updatedAt: now });
      await auditTask(em, dep, "skipped", now, { reason: note });
      queue.push(dep);
    }
  }
}
