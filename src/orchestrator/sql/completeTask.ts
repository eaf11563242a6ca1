import { DataSource, EntityManager, In } from "typeorm";
import { HotStatements } from "../../db/hotStatements";
import { inTransaction, lockRow } from "../../db/transaction";
import { TaskStatus, TaskStep } from "../../domain/tasks";
import { dropUnitsInDoubt, dropTaskNotes } from "../holdFence";
import { DeletionPlanItemRow, ErasureProgressRow, KeptUndatedRow, RequestIdentityRow, RetentionExceptionRow, RetentionExceptionStatus, StagedBatchRow, SurveyedIdsRow, TaskResult, TaskRow } from "../../entities";
import { randomUUID } from "node:crypto";
import { tasksClaimed } from "../../metrics";
import { auditClaim, claimReleased } from "./claimTask";
import { afterTaskFinished, afterTasksFinished, claimedDependentsOf, DeferredRelease, releaseTask, releaseTogether } from "./finishTask";
import { auditTask } from "./taskAudit";
import { dropKeptUndatedOfClosed, storeKeptUndated } from "../keptUndatedIds";
import { dropSurveyed as dropSurveyedIds, storeSurveyed } from "../surveyedIds";

/** A kept record set, ready to be stored as a retention exception of the task's request. */
export type KeptException = Pick<RetentionExceptionRow, "category" | "recordType" | "recordCount" | "legalBasis" | "redactedFields" | "retainUntil" | "holdId">;

/** What else a completion writes, in its transaction. */
export interface CompletionExtras {
  /** Identities a RESOLVE found. */
  found?: Record<string, string>;
  /** Record sets an ERASE or PURGE kept: new retention exceptions. */
  kept?: readonly KeptException[];
  /** A deletion survey's plan for this task's connector (replaces an earlier attempt's). */
  planItems?: readonly Omit<DeletionPlanItemRow, "id" | "requestId" | "connector" | "computedAt">[];
  /** Retention exceptions a PURGE settled. */
  closeExceptions?: readonly string[];
  /** A survey's sealed batches of the ids it plans to erase, for the verification pass (replace an earlier attempt's). */
  surveyed?: readonly SurveyedIdsRow[];
  /** An ERASE is done with its connector's surveyed refs: they go. */
  dropSurveyed?: boolean;
  /** An ERASE or PURGE counted its units' progress into its result: the progress rows go. */
  dropProgress?: boolean;
  /** An ERASE's kept ids of records without a date, sealed: they replace what an earlier pass stored. */
  keptUndated?: readonly KeptUndatedRow[];
  /** A COLLECT's last sealed batches, stored with its completion. */
  staged?: readonly StagedBatchRow[];
  /** More writes of the step's own (an EXPORT records its archive), once the lease guard let the completion through. */
  within?: (em: EntityManager) => Promise<void>;
  /** The worker running the task: it is handed the dependent the completion releases (see HandOff). */
  handOff?: HandOff;
}

/**
 * A worker that takes the task a completion releases (a request's EXPORT, once its COLLECTs are done),
 * claimed for it in the completion's own transaction (claimReleased): no poll and no claim of its own
 * stand between a request's steps. At most one task per commit; a worker without room (wants() false)
 * is handed nothing, and the task is left for any claim.
 */
export interface HandOff {
  workerId: string;
  leaseMs: number;
  /** The service clock's time: the claim's (its start), taken when it is made, not when the completions were. */
  now(): Date;
  /** Whether it has room for one more task once the `finishing` tasks of its own this commit completes leave (asked inside the transaction, before claiming). */
  wants(finishing: number): boolean;
  /** Runs the task claimed for it; called once the transaction has committed. */
  take(task: TaskRow): void;
}

/** A COLLECT's last batches land with its completion: a prepared statement (src/db/hotStatements.ts). */
const stagedStatements = new HotStatements(StagedBatchRow);

/** Payload bytes per INSERT of staged batches: most COLLECTs' last batches are small, a full one is 256 KiB and goes alone. */
const INSERT_PAYLOAD_BYTES = 256 * 1024;

/** Staged batches in as few INSERTs as keep each statement's packet small (INSERT_PAYLOAD_BYTES). */
async function insertBatches(em: EntityManager, batches: readonly StagedBatchRow[]): Promise<void> {
  let chunk: StagedBatchRow[] = [];
  let bytes = 0;
  for (const batch of batches) {
    if (chunk.length && (bytes + batch.payload.length > INSERT_PAYLOAD_BYTES || chunk.length >= 16)) {
      await stagedStatements.insert(em, chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(rowOf(batch));
    bytes += batch.payload.length;
  }
  if (chunk.length) await stagedStatements.insert(em, chunk);
}

/** A batch's columns in one order (the statement's shape), whoever built it. */
function rowOf(b: StagedBatchRow): StagedBatchRow {
  return Object.assign(new StagedBatchRow(), { id: b.id, requestId: b.requestId, taskId: b.taskId, attempt: b.attempt, connector: b.connector, category: b.category, seq: b.seq, records: b.records, payload: b.payload, createdAt: b.createdAt });
}

/**
 * Marks a task SUCCEEDED if `workerId` still holds it. In the same transaction: identities a RESOLVE
 * found are recorded (first finder wins), record sets an ERASE kept become retention exceptions,
 * dependents are released and the request's status follows. False: the lease was lost. (What earlier
 * attempts of a COLLECT staged is dropped after, outside it: dropEarlierAttempts.)
 */
export async function completeTask(
  ds: DataSource,
  task: TaskRow,
  workerId: string,
  result: TaskResult,
  now: Date,
  extras: CompletionExtras = {},
): Promise<boolean> {
  return commitWithSiblings(ds, task, (em, group) => completeIn(em, task, workerId, result, now, extras, group), extras.handOff);
}

/** What a group commit's members leave for the group to write once all got past their guards. */
interface GroupWrites {
  /** Their staged batches: inserted together, in few statements. */
  batches: StagedBatchRow[];
  /** The tasks that completed: their dependents are counted down together (afterTasksFinished). */
  finished: Array<{ task: TaskRow; now: Date }>;
  /**
   * In a group of more than one: the members' releases, made in one statement once all have done their
   * work (releaseTogether); null in a group of one, which releases as a completion alone does.
   */
  releases: DeferredRelease[] | null;
}

/** A group member's lease guard did not hold: the group rolls back and each member completes alone. */
class GroupLeaseLost extends Error {
  constructor() {
    super("a member of the group commit no longer holds its lease");
  }
}

/** A group's writes in `em`'s transaction: each member's own, then those they make together; and the task handed off, if any. */
async function commitGroup(em: EntityManager, group: readonly Waiting[]): Promise<{ done: boolean[]; handedOff: { task: TaskRow; to: HandOff } | null }> {
  const done: boolean[] = [];
  const writes: GroupWrites = { batches: [], finished: [], releases: group.length > 1 ? [] : null };
  for (const { work } of group) done.push(await work(em, writes));
  if (writes.releases?.length && !(await releaseTogether(em, writes.releases))) throw new GroupLeaseLost();
  const counted = await afterTasksFinished(em, writes.finished);
  await insertBatches(em, writes.batches);
  const to = group.find((w) => w.handOff)?.handOff;
  if (!to || !counted.length || !to.wants(group.filter((w, i) => w.handOff === to && done[i]).length)) return { done, handedOff: null };
  const task = await claimReleased(em, counted[0], to.workerId, to.now(), to.leaseMs);
  return { done, handedOff: task ? { task, to } : null };
}

/** A completion's writes, waiting to be committed, and its caller's promise. */
interface Waiting {
  task: TaskRow;
  /** `group`, in a group commit: where it leaves the writes the group makes together. */
  work: (em: EntityManager, group?: GroupWrites) => Promise<boolean>;
  handOff?: HandOff;
  resolve: (completed: boolean) => void;
  reject: (error: unknown) => void;
}

/** One request's completions in this process: those waiting, whether a group is committing, the hold's timer. */
interface Queue {
  waiting: Waiting[];
  committing: boolean;
  timer?: NodeJS.Timeout;
}

/** Per database, per request: the completions waiting to commit. */
const queuesByRequest = new WeakMap<DataSource, Map<string, Queue>>();

/** Per database, per request: the tasks this process is running (runTask registers them with trackRunning). */
const runningByRequest = new WeakMap<DataSource, Map<string, Set<TaskRow>>>();

/** At most this many completions share one transaction. */
const GROUP_MAX = 16;

/**
 * maxMs: the longest a completion is held back for siblings still running in this process (100 ms).
 * Holding one costs the request nothing (see holdsBack); this bounds how late its task shows as finished
 * when a sibling is slow, and keeps the hold far inside any lease. Tests lengthen it to tell a release by
 * a sibling from one by the timer.
 */
export const completionHold = { maxMs: 100 };

function mapOf<V>(maps: WeakMap<DataSource, Map<string, V>>, ds: DataSource): Map<string, V> {
  let map = maps.get(ds);
  if (!map) maps.set(ds, (map = new Map()));
  return map;
}

/**
 * Registers a task this process is about to run; the returned function unregisters it once the attempt
 * is over (whatever its outcome). Completions of its siblings are held back for it (holdsBack).
 */
export function trackRunning(ds: DataSource, task: TaskRow): () => void {
  const running = mapOf(runningByRequest, ds);
  let tasks = running.get(task.requestId);
  if (!tasks) running.set(task.requestId, (tasks = new Set()));
  tasks.add(task);
  return () => {
    tasks.delete(task);
    if (!tasks.size && running.get(task.requestId) === tasks) running.delete(task.requestId);
    // A sibling the waiting completions were held for ended some other way (failed, parked, lost): they go now.
    const queue = queuesByRequest.get(ds)?.get(task.requestId);
    if (queue && !queue.committing && !holdsBack(ds, task.requestId, queue)) startCommitting(ds, task.requestId);
  };
}

/**
 * Whether the waiting completions should wait for a sibling: each of them has dependents, and another
 * task this process is running has the very same dependents and has not reached its completion yet. None of those dependents can be released before that sibling
 * completes, so holding the finished ones until it does delays nothing, and they then commit together:
 * one transaction, one lock of the request's audit-stream head and of the dependent row, instead of one
 * after another. A completion with a different set of dependents (a RESOLVE beside COLLECTs) is never
 * held: it may be what releases them.
 */
function holdsBack(ds: DataSource, requestId: string, queue: Queue): boolean {
  const running = runningByRequest.get(ds)?.get(requestId);
  if (!running || !queue.waiting.length) return false;
  const queued = new Set(queue.waiting.map((w) => w.task));
  const others = [...running].filter((t) => !queued.has(t));
  return queue.waiting.every((w) => {
    const dependents = claimedDependentsOf(w.task);
    return !!dependents?.length && others.some((t) => sameIds(claimedDependentsOf(t), dependents));
  });
}

function sameIds(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return !!a && a.length === b.length && a.every((id, i) => id === b[i]);
}

/**
 * Group commit of one request's completions in this process. A completion is held back while siblings
 * it shares its dependents with are still running here (holdsBack), at most completionHold.maxMs; otherwise it
 * commits at once. Those that arrive while it is held or committing then commit together, in one
 * transaction: one lock of the request's audit-stream head and of the rows they all update (the EXPORT
 * they release), one commit, instead of one transaction each queueing for the same rows in turn. Each
 * keeps its own lease guard: one whose lease was lost writes nothing and answers false, the others
 * complete. If the shared transaction fails, each is run again alone, so no completion's outcome
 * depends on another's.
 */
function commitWithSiblings(ds: DataSource, task: TaskRow, work: Waiting["work"], handOff?: HandOff): Promise<boolean> {
  const queues = mapOf(queuesByRequest, ds);
  return new Promise((resolve, reject) => {
    let queue = queues.get(task.requestId);
    if (!queue) queues.set(task.requestId, (queue = { waiting: [], committing: false }));
    queue.waiting.push({ task, work, handOff, resolve, reject });
    if (queue.committing) return;
    if (holdsBack(ds, task.requestId, queue)) {
      queue.timer ??= setTimeout(() => startCommitting(ds, task.requestId), completionHold.maxMs);
      return;
    }
    startCommitting(ds, task.requestId);
  });
}

function startCommitting(ds: DataSource, requestId: string): void {
  const queues = mapOf(queuesByRequest, ds);
  const queue = queues.get(requestId);
  if (!queue || queue.committing) return;
  clearTimeout(queue.timer);
  queue.timer = undefined;
  queue.committing = true;
  void commitWaiting(ds, queues, requestId, queue);
}

/** Commits the request's waiting completions, a group at a time, until none waits. */
async function commitWaiting(ds: DataSource, queues: Map<string, Queue>, requestId: string, queue: Queue): Promise<void> {
  for (;;) {
    if (!queue.waiting.length) {
      queues.delete(requestId);
      return;
    }
    const group = queue.waiting.splice(0, GROUP_MAX);
    let committed: Awaited<ReturnType<typeof commitGroup>>;
    try {
      committed = await inTransaction(ds, (em) => commitGroup(em, group));
    } catch (error) {
      if (group.length === 1) group[0].reject(error);
      else for (const w of group) await inTransaction(ds, (em) => w.work(em)).then(w.resolve, w.reject);
      continue;
    }
    group.forEach((w, i) => w.resolve(committed.done[i]));
    if (committed.handedOff) {
      tasksClaimed.inc({ by: "hand-off" });
      committed.handedOff.to.take(committed.handedOff.task);
    }
  }
}

/** completeTask's writes, in `em`'s transaction. */
async function completeIn(em: EntityManager, task: TaskRow, workerId: string, result: TaskResult, now: Date, extras: CompletionExtras, group?: GroupWrites): Promise<boolean> {
  const { found = {}, kept = [], planItems, closeExceptions = [], surveyed, dropSurveyed, dropProgress, within, staged = [], keptUndated } = extras;
  // The request row is the one lock a request's tasks share: it is taken as late as correctness allows,
  // by settleRequest at the end (its task count then reads every sibling that committed first), and not
  // at all while a dependent of this task still waits (afterTaskFinished says why). Only
  // a RESOLVE, whose identities are first-finder-wins across the request's tasks, takes it up front.
  if (Object.keys(found).length) await lockRow(em, "requests", task.requestId);
  // What remote work was still doing (the note a poll left) ended with it.
  const release = { task, workerId, patch: { status: TaskStatus.SUCCEEDED, result, lastError: null, ...(task.remoteReference ? { note: null } : {}) }, now };
  // In a group, a plain completion (a COLLECT's: its batches, its audit events, its count-down) is
  // released with the others in one statement, after their work: its writes before that are undone with
  // the group's transaction if any guard did not hold (releaseTogether), and each member then completes
  // alone. A completion with writes of its own kind (an EXPORT's archive, a RESOLVE's identities, an
  // ERASE's exceptions) is released here first, one statement, as alone.
  const deferrable = group?.releases && !Object.keys(found).length && !within && !kept.length && !planItems && !closeExceptions.length && !surveyed && !dropSurveyed && !dropProgress && !keptUndated;
  if (deferrable) {
    group.releases!.push(release);
    await auditClaim(em, task);
  } else if (!(await releaseTask(em, release.task, workerId, release.patch, now))) return false;
  await within?.(em);
  const known = Object.keys(found).length ? new Set((await em.getRepository(RequestIdentityRow).findBy({ requestId: task.requestId })).map((r) => r.kind)) : new Set<string>();
  const fresh = Object.entries(found).filter(([kind, value]) => !known.has(kind) && typeof value === "string" && value.length > 0 && value.length <= 320);
  if (fresh.length) {
    await em.getRepository(RequestIdentityRow).insert(fresh.map(([kind, value]) => ({ requestId: task.requestId, kind, value, source: task.connector })));
  }
  // A few per statement (insertBatches keeps every packet small); in a group, with the others' batches,
  // once every completion got past its own guard.
  if (group) group.batches.push(...staged);
  else await insertBatches(em, staged);
  if (planItems) {
    await em.getRepository(DeletionPlanItemRow).delete({ requestId: task.requestId, connector: task.connector });
    if (planItems.length) {
      await em.getRepository(DeletionPlanItemRow).insert(planItems.map((p) => ({ ...p, id: randomUUID(), requestId: task.requestId, connector: task.connector, computedAt: now })));
    }
  }
  if (surveyed) await storeSurveyed(em, task, surveyed);
  else if (dropSurveyed) await dropSurveyedIds(em, task);
  // By primary key prefix (taskId, category): no gap locks beyond this task's rows.
  if (dropProgress) await em.getRepository(ErasureProgressRow).delete({ taskId: task.id });
  // A correction's units left in doubt served its retries (writtenBefore): its outcome says what the system holds.
  if (dropProgress && task.step === TaskStep.RECTIFY) await dropUnitsInDoubt(em, task.id);
  // An erasure's notes left at its call's end (endTaskUnits' keepNotes) served the attempts that could have taken it over.
  else if (dropProgress) await dropTaskNotes(em, task.id);
  if (closeExceptions.length) {
    await em.getRepository(RetentionExceptionRow).update({ id: In([...closeExceptions]), status: RetentionExceptionStatus.OPEN }, { status: RetentionExceptionStatus.CLOSED, closedAt: now });
  }
  if (kept.length) {
    await em.getRepository(RetentionExceptionRow).insert(
      kept.map((k) => ({ ...k, id: randomUUID(), requestId: task.requestId, taskId: task.id, connector: task.connector, status: RetentionExceptionStatus.OPEN, createdAt: now, closedAt: null })),
    );
  }
  if (keptUndated) await storeKeptUndated(em, task, keptUndated);
  // Kept ids whose category has no open exception left are done with (the purge erased what they name).
  if (closeExceptions.length) await dropKeptUndatedOfClosed(em, closeExceptions);
  await auditTask(em, task, "succeeded", now, {
    ...countsOnly(result),
    identitiesFound: fresh.map(([k]) => k).sort(),
    ...(kept.length ? { exceptionsOpened: kept.length } : {}),
    ...(closeExceptions.length ? { exceptionsClosed: closeExceptions.length } : {}),
  });
  if (group) group.finished.push({ task, now });
  else await afterTaskFinished(em, task, now, { fromRunning: true });
  return true;
}

function countsOnly(result: TaskResult): Record<string, number | string[]> {
  const out: Record<string, number | string[]> = {};
  if (result.records !== undefined) out.records = result.records;
  if (result.erased !== undefined) out.erased = result.erased;
  if (result.changed) out.changed = result.changed;
  if (result.notHeld) out.notHeld = result.notHeld;
  if (result.keptByHold) out.keptByHold = result.keptByHold;
  if (result.holdCases) out.holdCases = result.holdCases;
  if (result.kept !== undefined) out.kept = result.kept;
  if (result.remaining !== undefined) out.remaining = result.remaining;
  return out;
}
