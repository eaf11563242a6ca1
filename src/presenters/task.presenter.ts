import { FINISHED_TASK_STATUSES, TaskStatus } from "../domain/tasks";
import { TaskDependencyRow, TaskRow } from "../entities";
import { closingPassRan, firstPassEnded, owedClosingPasses } from "../orchestrator/closingPasses";
import { KeptByEarlier as KeptByEarlierRow } from "../entities";
import { KeptByEarlier, Progress, Task } from "../schema/task.type";

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
          erasedInDoubt: row.result.failedErasure ? Object.values(row.result.failedErasure.goneIn).reduce((n, x) => n + x, 0) : null,
          identitiesFound: row.result.identitiesFound ?? null,
          changed: row.result.changed ?? null,
          notHeld: row.result.notHeld ?? null,
          keptByHold: row.result.keptByHold ?? null,
          holdCases: row.result.holdCases ?? null,
          kept: row.result.kept ?? null,
          remaining: row.result.remaining ?? null,
          redacted: row.result.redacted ?? null,
          residual: row.result.residual ?? null,
          confirmation: row.result.confirmation ?? null,
          attestedBy: row.result.attestedBy ?? null,
          keptByEarlier: row.result.keptByEarlier ? keptByEarlierOf(row.result.keptByEarlier) : null,
        }
      : null,
    nextAttemptAt: waitingToRetry ? row.runAfter : null,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    updatedAt: row.updatedAt,
  });
}

/**
 * A request's progress in steps: each task, and each closing pass a deletion's erasure owes (a step of
 * its own, counted from approval: an ERASE armed again is not unfinished work done over). So finished
 * never goes backwards while the request runs, and total only shrinks (a pass found not to be owed).
 */
export function presentProgress(tasks: TaskRow[], dependencies: readonly TaskDependencyRow[]): Progress {
  const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
  const passes = new Set(owedClosingPasses(tasks, dependencies));
  const done = (t: TaskRow) => FINISHED_TASK_STATUSES.includes(t.status);
  const finished = tasks.filter((t) => done(t) || (passes.has(t) && firstPassEnded(t))).length + [...passes].filter((t) => done(t) && closingPassRan(t)).length;
  const total = tasks.length + passes.size;
  return {
    total,
    finished,
    fraction: total ? Math.round((finished / total) * 1000) / 1000 : 1,
    awaitingInput: count(TaskStatus.AWAITING_INPUT),
    remoteProcessing: count(TaskStatus.REMOTE_PROCESSING),
    failed: count(TaskStatus.FAILED),
  };
}

/** What earlier deletions keep where an erasure could not look, as counted then: the certificate adds which exceptions are still open (stillOpen). */
export function keptByEarlierOf(k: KeptByEarlierRow, stillOpen: string[] | null = null): KeptByEarlier {
  return { records: k.records, countedAt: k.countedAt ?? null, requests: [...k.requests], exceptions: [...k.exceptions], identityKinds: [...k.identityKinds], stillOpen };
}
