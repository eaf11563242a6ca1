import { FINISHED_TASK_STATUSES, TaskStatus } from "../domain/tasks";
import { TaskRow } from "../entities";
import { Progress, Task } from "../schema/task.type";

/** Storage row -> API shape. Lease columns and idempotency keys stay behind. */
export function presentTask(row: TaskRow): Task {
  const waitingToRetry = (row.status === TaskStatus.PENDING && row.attempts > 0) || row.status === TaskStatus.REMOTE_PROCESSING;
  return Object.assign(new Task(), {
    id: row.id,
    connector: row.connector,
    step: row.step,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    lastError: row.lastError,
    note: row.note,
    outcome: row.result
      ? {
          records: row.result.records ?? null,
          erased: row.result.erased ?? null,
          identitiesFound: row.result.identitiesFound ?? null,
          changed: row.result.changed ?? null,
          notHeld: row.result.notHeld ?? null,
          kept: row.result.kept ?? null,
          remaining: row.result.remaining ?? null,
          redacted: row.result.redacted ?? null,
          residual: row.result.residual ?? null,
        }
      : null,
    nextAttemptAt: waitingToRetry ? row.runAfter : null,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    updatedAt: row.updatedAt,
  });
}

export function presentProgress(tasks: TaskRow[]): Progress {
  const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  const finished = tasks.filter((t) => FINISHED_TASK_STATUSES.includes(t.status)).length;
  return {
    total: tasks.length,
    finished,
    fraction: tasks.length ? Math.round((finished / tasks.length) * 1000) / 1000 : 1,
    awaitingInput: count(TaskStatus.AWAITING_INPUT),
    remoteProcessing: count(TaskStatus.REMOTE_PROCESSING),
    failed: count(TaskStatus.FAILED),
  };
}
