import { EntityManager } from "typeorm";
import { lockedRequest } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";
import { afterTaskFinished, skipDependents } from "./finishTask";
import { auditTask } from "./taskAudit";

/**
 * A manual task still AWAITING_INPUT, DSR_MANUAL_TASK_GRACE_DAYS after its request's due date (as
 * extended) at `dueBy`: FAILED by the system with lapsedReason, never SUCCEEDED (no one did the step,
 * and a request is never COMPLETED for work no one did). Its dependents are SKIPPED and the request
 * settles (FAILED, naming the step), in the caller's transaction. Read again under the request's lock
 * (the lock completeManualTask takes): a task completed, or a due date extended, meanwhile stays as it
 * is. False when it did.
 */
export async function lapseManualTask(em: EntityManager, task: Pick<TaskRow, "id" | "requestId">, dueBy: Date, reason: string, now: Date): Promise<boolean> {
  const request = await lockedRequest(em, task.requestId);
  if (request.dueAt > dueBy) return false;
  const row = await em.getRepository(TaskRow).findOneBy({ id: task.id, status: TaskStatus.AWAITING_INPUT });
  if (!row) return false;
  const { affected } = await em.getRepository(TaskRow).update({ id: row.id, status: TaskStatus.AWAITING_INPUT }, { status: TaskStatus.FAILED, lastError: reason.slice(0, 1000), finishedAt: now, updatedAt: now });
  if (affected !== 1) return false;
  Object.assign(row, { status: TaskStatus.FAILED, lastError: reason });
  await auditTask(em, row, "failed", now, { error: reason, retryable: false, dueAt: request.dueAt.toISOString() });
  await skipDependents(em, row, now);
  await afterTaskFinished(em, row, now);
  return true;
}
