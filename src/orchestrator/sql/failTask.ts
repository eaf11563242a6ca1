import { DataSource } from "typeorm";
import { inTransaction, lockRow } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskResult, TaskRow } from "../../entities";
import { afterTaskFinished, releaseTask, skipDependents } from "./finishTask";
import { withoutRetryPromise } from "../backoff";
import { auditTask } from "./taskAudit";

export interface TaskFailure {
  /** In user words: shown on the task. */
  userMessage: string;
  retryable: boolean;
  /** When retryable: how long to wait before the next attempt. */
  retryInMs: number;
  /** Said after userMessage when the task is retried (why the wait is what it is: a Retry-After cut short). */
  retryNote?: string;
  /** What the attempt did that a later one must still count (an erasure's ended remote work), kept on the task row. */
  result?: TaskResult;
}

/** What a task FAILED for good after a retryable error says: the error, and that its attempts are spent. */
export function spent(userMessage: string, maxAttempts: number): string {
  const which = maxAttempts === 1 ? "its only attempt" : `all ${maxAttempts} attempts`;
  return `${withoutRetryPromise(userMessage)}; not retried: ${which} (DSR_TASK_MAX_ATTEMPTS) failed, retryTask runs it again`;
}

/**
 * A failed attempt. Retryable and attempts left: back to PENDING after the delay. Otherwise FAILED:
 * tasks that depend on it can no longer run and are SKIPPED, and the request follows. False: lease lost.
 */
export async function failTask(ds: DataSource, task: TaskRow, workerId: string, failure: TaskFailure, now: Date): Promise<"RETRY" | "FAILED" | "LOST"> {
  return inTransaction(ds, async (em) => {
    await lockRow(em, "requests", task.requestId);
    const retry = failure.retryable && task.attempts < task.maxAttempts;
    const kept = failure.result ? { result: failure.result } : {};
    // A retryable error with no attempt left ends the task: its message no longer promises a retry.
    const error = failure.retryable && !retry ? spent(failure.userMessage, task.maxAttempts) : failure.userMessage;
    const patch = retry
      ? { status: TaskStatus.PENDING, lastError: `${error}${failure.retryNote ?? ""}`.slice(0, 1000), runAfter: new Date(now.getTime() + failure.retryInMs), ...kept }
      : { status: TaskStatus.FAILED, lastError: error.slice(0, 1000), ...kept, ...(task.remoteReference ? { note: null } : {}) };
    if (!(await releaseTask(em, task, workerId, patch, now))) return "LOST";
    if (retry) {
      await auditTask(em, task, "retry_scheduled", now, { retryInMs: failure.retryInMs, error: failure.userMessage, ...(failure.retryNote ? { note: failure.retryNote.trim() } : {}) });
      return "RETRY";
    }
    await auditTask(em, task, "failed", now, { error, retryable: failure.retryable });
    await skipDependents(em, task, now);
    await afterTaskFinished(em, task, now);
    return "FAILED";
  });
}

