import { FINISHED_TASK_STATUSES, TaskStatus, TaskStep } from "../domain/tasks";
import type { TaskDependencyRow, TaskRow } from "../entities";

/**
 * Which ERASE tasks of a deletion owe (or ran) a closing pass (armClosingPasses): those an identity
 * source's ERASE waited for. One rule for arming the passes and for counting them in a request's
 * progress, where each pass is a step of its own.
 */

type Task = Pick<TaskRow, "id" | "step" | "status" | "result">;
type Edge = Pick<TaskDependencyRow, "taskId" | "dependsOnTaskId">;

/** The ERASE tasks another ERASE waited for, when that one's status passes `waiter`. */
export function erasesWaitedFor<T extends Task>(tasks: readonly T[], edges: readonly Edge[], waiter: (t: T) => boolean): T[] {
  const erases = new Map(tasks.filter((t) => t.step === TaskStep.ERASE).map((t) => [t.id, t]));
  const waited = new Set(edges.filter((e) => erases.has(e.dependsOnTaskId) && erases.has(e.taskId) && waiter(erases.get(e.taskId)!)).map((e) => e.dependsOnTaskId));
  return [...erases.values()].filter((t) => waited.has(t.id));
}

/** Its closing pass has run (the result says so; the first pass's does not). */
export const closingPassRan = (t: Pick<Task, "result">): boolean => t.result?.closingPass === true;

/** An ERASE's first pass ended: it is finished, or its closing pass was armed (and may be under way). */
export const firstPassEnded = (t: Pick<Task, "status" | "result">): boolean =>
  FINISHED_TASK_STATUSES.includes(t.status) || t.result?.lines !== undefined || t.result?.partial?.closingPass === true;

/** Its first pass was verified (the connector collects), so it gets a closing pass: see armClosingPasses. */
export const verifiedFirstPass = (t: Pick<Task, "result">): boolean => t.result?.remaining !== undefined;

/**
 * The ERASE tasks whose closing pass a request's progress counts, as its tasks stand now: each one an
 * identity source's ERASE waits for (and does not skip), unless it was skipped itself or its first pass
 * ended unverified (no pass will be armed). None while a task has failed: passes are armed only once
 * every task ended well. The set only shrinks as the request goes on (a retried task aside), so the
 * progress that counts it never goes backwards.
 */
export function owedClosingPasses<T extends Task>(tasks: readonly T[], edges: readonly Edge[]): T[] {
  if (tasks.some((t) => t.status === TaskStatus.FAILED)) return [];
  return erasesWaitedFor(tasks, edges, (waiter) => waiter.status !== TaskStatus.SKIPPED).filter(
    (t) => t.status !== TaskStatus.SKIPPED && (closingPassRan(t) || !(t.status === TaskStatus.SUCCEEDED && !verifiedFirstPass(t))),
  );
}
