import { TaskStatus } from "../domain/tasks";
import type { TaskRow } from "../entities";

/** The stable `extensions.reason` of a completeManualTask or retryTask refused because the task lapsed (lapseManualTask). */
export const MANUAL_TASK_LAPSED = "MANUAL_TASK_LAPSED";

/**
 * How a lapsed manual task's error starts, and no other task's: error text from outside the service (a
 * connector's, which every worker's release passes through outsideError) never starts with it, so no
 * connector can make the service claim MANUAL_TASK_LAPSED.
 */
const LAPSED_MARKER = `${MANUAL_TASK_LAPSED}: `;

/** Why a manual task nobody completed FAILED: on the task, and (naming the step) the request's reason. */
export const lapsedReason = (graceDays: number) =>
  `${LAPSED_MARKER}no one completed this manual step (completeManualTask) within ${graceDays} day(s) (DSR_MANUAL_TASK_GRACE_DAYS) after the request's due date, so it was not done; the request is not kept waiting with the subject's data`;

/** Whether `task` FAILED because no one completed it in time (lapseManualTask wrote its error). */
export function lapsed(task: Pick<TaskRow, "status" | "lastError">): boolean {
  return task.status === TaskStatus.FAILED && (task.lastError ?? "").startsWith(LAPSED_MARKER);
}

/** A task's error as a worker keeps it (at most 1000 characters): text that would start like a lapsed task's is kept, said to be reported. */
export function outsideError(text: string): string {
  return (text.startsWith(LAPSED_MARKER) ? `Reported: ${text}` : text).slice(0, 1000);
}
