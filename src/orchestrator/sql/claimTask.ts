import { DataSource, EntityManager } from "typeorm";
import { isMysql } from "../../db/dataSource";
import { dbTimeSql } from "../../db/dbClock";
import { inTransaction } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";
import { tasksClaimed } from "../../metrics";
import { ListedDependents, listedDependents, rememberListed, withDependents } from "./finishTask";
import { auditTask } from "./taskAudit";

/**
 * The statuses a claim takes from, one query each, in this order. A poll of remote work whose time has
 * come goes first: it is one short call and already due, and each poll sets its next time ahead, so
 * polls cannot starve new work.
 */
const CLAIM_ORDER = [TaskStatus.REMOTE_PROCESSING, TaskStatus.PENDING] as const;

/** The statuses a claim takes from (CLAIM_ORDER's). */
export type ClaimStatus = (typeof CLAIM_ORDER)[number];

/** The tasks of one status that are runnable at `now`: no unfinished dependencies, their time come. */
function runnableQuery(em: EntityManager, status: ClaimStatus, now: Date) {
  return em.getRepository(TaskRow).createQueryBuilder("t").where("t.status = :status", { status }).andWhere("t.waitingFor = 0").andWhere("t.runAfter <= :now", { now });
}

/**
 * The runnable tasks of one status, best first, but those in `exclude`; a plain read that locks
 * nothing. It reads index idx_tasks_claim_order (status, waitingFor, priority DESC, runAfter) in its
 * own order and stops after `limit` rows: no sort. A claim then locks what it chose (lockClaimable).
 */
export function claimQuery(em: EntityManager, status: ClaimStatus, now: Date, limit = 1, exclude: readonly string[] = []) {
  const qb = runnableQuery(em, status, now).orderBy("t.priority", "DESC").addOrderBy("t.runAfter", "ASC").limit(limit);
  if (exclude.length) qb.andWhere("t.id NOT IN (:...exclude)", { exclude });
  return qb;
}

/**
 * claimQuery as a claim runs it: each row also lists its task's dependents (withDependents: two
 * correlated lookups by index idx_task_dependencies_on), so the claim needs no read of its own for them.
 */
export function claimRead(em: EntityManager, status: ClaimStatus, now: Date, limit = 1, exclude: readonly string[] = []) {
  return withDependents(claimQuery(em, status, now, limit, exclude));
}

/**
 * Locks the chosen tasks that are still runnable in `status`, by primary key, and returns them as they
 * are now, in the order chosen. MySQL: FOR UPDATE SKIP LOCKED, so a task another claim holds (or has
 * taken since the plain read) is left out without waiting, and no other row is locked. SQLite: the
 * claim's transaction is exclusive, so what the plain read returned is already current and safe.
 */
export async function lockClaimable(em: EntityManager, status: ClaimStatus, now: Date, chosen: readonly TaskRow[]): Promise<TaskRow[]> {
  if (!isMysql(em.connection) || !chosen.length) return [...chosen];
  const locked = await runnableQuery(em, status, now)
    .andWhere("t.id IN (:...ids)", { ids: chosen.map((t) => t.id) })
    .setLock("pessimistic_write")
    .setOnLocked("skip_locked")
    .getMany();
  const byId = new Map(locked.map((t) => [t.id, t]));
  return chosen.flatMap((t) => byId.get(t.id) ?? []);
}

/**
 * Which statuses of CLAIM_ORDER have a task runnable now, by the claim's own condition (runnableQuery):
 * one statement, outside any transaction, locking nothing; empty when nothing is runnable. A worker
 * whose last claim saw nothing beyond what it took asks this before it opens a claim's transaction
 * (four statements when it comes back empty), and that claim then reads only these statuses: idle
 * workers polling every few milliseconds cost the database a quarter as much.
 */
export async function runnableStatuses(ds: DataSource, now: Date): Promise<ClaimStatus[]> {
  const parts = CLAIM_ORDER.map((status) => runnableQuery(ds.manager, status, now).select("1").getQueryAndParameters());
  const [row]: Array<Record<string, number | string>> = await ds.query(
    `SELECT ${parts.map(([sql], i) => `EXISTS (${sql}) AS s${i}`).join(", ")}`,
    parts.flatMap(([, parameters]) => parameters),
  );
  return CLAIM_ORDER.filter((_, i) => Number(row[`s${i}`]) === 1);
}

/**
 * Takes the next runnable task (no unfinished dependencies, runAfter passed on the service clock) and
 * leases it to `workerId` until the database's clock passes now + leaseMs. The claim bumps the task's
 * fencing token (leaseToken). A remote-processing task is claimed to be polled: that is not a new attempt.
 *
 * The claim's transaction locks the one row it takes and nothing else, and waits for nothing: its audit
 * event ("task.started" / "task.polling") is written by the attempt's finishing transaction (releaseTask
 * calls auditClaim), so the claim never queues for the audit trail while holding the row. An attempt
 * that never finishes is recorded by the sweeper's "task.lease_expired", which names the worker.
 */
export async function claimTask(ds: DataSource, workerId: string, now: Date, leaseMs: number): Promise<TaskRow | null> {
  return (await claimTasks(ds, workerId, now, leaseMs, 1))[0] ?? null;
}

/**
 * Claims up to `max` runnable tasks in one transaction (a worker with free slots takes several at once,
 * so a claim costs a few statements per batch, not per task), best first across the statuses of
 * CLAIM_ORDER. Each is leased as claimTask describes, with its own fencing token.
 */
export async function claimTasks(ds: DataSource, workerId: string, now: Date, leaseMs: number, max: number): Promise<TaskRow[]> {
  return (await claimBatch(ds, workerId, now, leaseMs, max)).tasks;
}

/**
 * claimTasks, also saying whether the claim saw runnable tasks it did not take (`more`): a full batch,
 * or rows past it or cut off with a request (wholeRequests). When `more` is false, nothing else was
 * runnable in the claim's view, and the worker asks runnableStatuses (one statement) before claiming again
 * rather than opening a claim's transaction that would most likely come back empty. `statuses` limits
 * the claim to those of CLAIM_ORDER that runnableStatuses found (the others cost a read that finds nothing).
 */
export async function claimBatch(ds: DataSource, workerId: string, now: Date, leaseMs: number, max: number, statuses: readonly ClaimStatus[] = CLAIM_ORDER): Promise<{ tasks: TaskRow[]; more: boolean }> {
  const { claimed, more } = await inTransaction(ds, (em) => claimNext(em, workerId, now, leaseMs, max, statuses));
  for (const claim of claimed) unaudited.set(claim.task, { polling: claim.polling, at: now, workerId });
  if (claimed.length) tasksClaimed.inc({ by: "claim" }, claimed.length);
  return { tasks: claimed.map((c) => c.task), more };
}

/** Claims whose audit event is still to be written, by the claimed row object the attempt carries. */
const unaudited = new WeakMap<TaskRow, { polling: boolean; at: Date; workerId: string }>();

/**
 * Writes the claim's audit event in `em`'s transaction (nothing for a task this process did not claim).
 * The entry stays: only one transaction of an attempt gets past the lease guard and commits, and one
 * that rolled back (a deadlock retried, a failed completion followed by failTask) must write it again.
 */
export async function auditClaim(em: EntityManager, task: TaskRow): Promise<void> {
  const claim = unaudited.get(task);
  if (!claim) return;
  await auditTask(em, task, claim.polling ? "polling" : "started", claim.at, { worker: claim.workerId });
}

/**
 * A batch cut in the middle of a request's tasks (`next`, the first row left out, is the same request's
 * as the batch's last) leaves that request's tasks out, for a later claim to take together: a request's
 * COLLECTs then run in one process, where their completions commit as one group (completeTask), instead
 * of queueing from several processes for the same EXPORT row and audit-stream head. The cut is decided
 * on the plain read, before anything is locked, so the rows left out stay free for a concurrent claim,
 * which takes them whole (a claim that locked them while deciding made the next claimer skip them and
 * take the rest of that request: 138 of 600 requests split over 4 processes in bench:orchestrator).
 * A batch that is all one request's (more tasks than free slots) is taken as it is.
 */
function wholeRequests(batch: TaskRow[], next: TaskRow | undefined): TaskRow[] {
  if (!next || !batch.length || batch[batch.length - 1].requestId !== next.requestId) return batch;
  let end = batch.length;
  while (end > 0 && batch[end - 1].requestId === next.requestId) end--;
  return end > 0 ? batch.slice(0, end) : batch;
}

/**
 * A claim's statements in the caller's transaction (claimBatch opens it; a test can hold it open). The
 * claimed tasks' dependents come with the plain read (withDependents), so their completions know
 * them without a read.
 */
export async function claimNext(em: EntityManager, workerId: string, now: Date, leaseMs: number, max: number, statuses: readonly ClaimStatus[] = CLAIM_ORDER): Promise<{ claimed: Array<{ task: TaskRow; polling: boolean }>; more: boolean }> {
  const claimed: Array<{ task: TaskRow; polling: boolean }> = [];
  let more = false;
  for (const status of CLAIM_ORDER.filter((s) => statuses.includes(s))) {
    if (claimed.length >= max) {
      more = true; // not looked at: assume there is work
      break;
    }
    const tasks = await chooseAndLock(em, status, now, max - claimed.length, () => (more = true));
    if (!tasks.length) continue;
    const polling = status === TaskStatus.REMOTE_PROCESSING;
    // One UPDATE, by primary key, for the rows just read and locked (MySQL: FOR UPDATE; SQLite: the
    // transaction is exclusive), so none can have changed since: each gets its own token + 1 and attempt
    // count + 1 (a poll is the same attempt).
    const result = await em
      .createQueryBuilder()
      .update(TaskRow)
      .set(claimedColumns(em, workerId, now, leaseMs, polling))
      .where("id IN (:...ids)", { ids: tasks.map((t) => t.id) })
      .andWhere("status = :status", { status })
      .setParameter("now", now)
      .execute();
    if (result.affected !== tasks.length) throw new Error(`claimed ${result.affected} of ${tasks.length} locked tasks: a claimed row changed under its lock`);
    for (const task of tasks) {
      Object.assign(task, { status: TaskStatus.RUNNING, lockedBy: workerId, leaseToken: task.leaseToken + 1, attempts: polling ? task.attempts : task.attempts + 1, startedAt: task.startedAt ?? now, updatedAt: now });
      claimed.push({ task, polling });
    }
  }
  return { claimed, more };
}

/** Rounds of choose-then-lock per status, when concurrent claims took what a round chose. */
const LOCK_ROUNDS = 3;

/**
 * Up to `want` runnable tasks of one status, locked: chosen on a plain read one row longer than wanted
 * (whole requests only, see wholeRequests), then locked by id (lockClaimable). When a concurrent claim
 * holds or took some of the chosen (both read the same best rows), another round reads past them.
 * `sawMore` is called when runnable rows were seen and not taken.
 */
async function chooseAndLock(em: EntityManager, status: ClaimStatus, now: Date, want: number, sawMore: () => void): Promise<TaskRow[]> {
  const taken: TaskRow[] = [];
  // Every id an earlier round chose, locked or not: its plain reads all see the same snapshot, so
  // the next round reads past them.
  const chosenBefore: string[] = [];
  // The dependents each chosen task's plain read listed, by id (see withDependents).
  const listed = new Map<string, ListedDependents>();
  for (let round = 0; round < LOCK_ROUNDS && taken.length < want; round++) {
    const left = want - taken.length;
    const { entities: fetched, raw } = await claimRead(em, status, now, left + 1, chosenBefore).getRawAndEntities();
    for (const [id, dependents] of listedDependents(raw, "t")) listed.set(id, dependents);
    const chosen = wholeRequests(fetched.slice(0, left), fetched[left]);
    if (fetched.length > chosen.length) sawMore();
    if (!chosen.length) break;
    const locked = await lockClaimable(em, status, now, chosen);
    taken.push(...locked);
    if (locked.length === chosen.length) break;
    chosenBefore.push(...chosen.map((t) => t.id));
    sawMore();
  }
  await rememberListed(em, taken, listed);
  return taken;
}

/** What a claim sets: leased to `workerId` on the database's clock, the fencing token + 1, a new attempt unless it is a poll. */
function claimedColumns(em: EntityManager, workerId: string, now: Date, leaseMs: number, polling: boolean) {
  return {
    status: TaskStatus.RUNNING,
    lockedBy: workerId,
    leaseToken: () => "leaseToken + 1",
    ...(polling ? {} : { attempts: () => "attempts + 1" }),
    startedAt: () => "COALESCE(startedAt, :now)",
    updatedAt: now,
    leaseExpiresAt: () => dbTimeSql(em.connection, leaseMs),
  };
}

/**
 * Claims one task in the transaction that has just released it (completeTask's group commit, for the
 * worker whose tasks it waited for): the same lease, token and attempt as claimTasks gives, and its
 * "task.started" event written by the attempt's finishing transaction likewise. Only a PENDING task that
 * waits for nothing and whose time has come is taken; otherwise null, and it is left for any claim.
 * The caller runs the task once the transaction has committed, or drops it if it rolled back.
 */
export async function claimReleased(em: EntityManager, taskId: string, workerId: string, now: Date, leaseMs: number): Promise<TaskRow | null> {
  const result = await em
    .createQueryBuilder()
    .update(TaskRow)
    .set(claimedColumns(em, workerId, now, leaseMs, false))
    .where("id = :id", { id: taskId })
    .andWhere("status = :pending", { pending: TaskStatus.PENDING })
    .andWhere("waitingFor = 0")
    .andWhere("runAfter <= :now")
    .setParameter("now", now)
    .execute();
  if (result.affected !== 1) return null;
  // As a claim does, the row and its dependents in one read: its completion then knows its dependents
  // without a read, groups with its siblings and can hand off in turn (a deletion's chain of ERASEs).
  const { entities, raw } = await withDependents(em.getRepository(TaskRow).createQueryBuilder("t").where("t.id = :id", { id: taskId })).getRawAndEntities();
  const task = entities[0];
  if (!task) throw new Error(`claimed task ${taskId} is gone from its own transaction`);
  await rememberListed(em, [task], listedDependents(raw, "t"));
  unaudited.set(task, { polling: false, at: now, workerId });
  return task;
}
