import { EntityManager, In } from "typeorm";
import { TaskStatus, TaskStep } from "../../domain/tasks";
import { TaskDependencyRow, TaskRow } from "../../entities";
import { closingPassRan, erasesWaitedFor, verifiedFirstPass } from "../closingPasses";
import { idempotencyKey } from "./insertPlan";
import { auditTask } from "./taskAudit";

/**
 * Arms the closing pass of a deletion: every ERASE that an identity source's ERASE waited for (reverse
 * identity order) ran while that source still held the subject, who could go on writing to its system
 * (a login, a new ticket) until the source was erased. Once every ERASE has succeeded, each such ERASE
 * whose pass was verified (its connector collects) and that has not closed yet is set PENDING again with
 * a fresh idempotency key: it erases what may be erased now and counts what is kept (runErasure). The
 * request stays IN_PROGRESS until they end. Returns how many were armed; runs in the settling transaction.
 */
export async function armClosingPasses(em: EntityManager, requestId: string, now: Date): Promise<number> {
  const { erases, edges } = await eraseGraph(em, requestId);
  if (erases.length < 2) return 0;
  let armed = 0;
  for (const task of erasesWaitedFor(erases, edges, (waiter) => waiter.status === TaskStatus.SUCCEEDED)) {
    if (task.status !== TaskStatus.SUCCEEDED || !verifiedFirstPass(task) || closingPassRan(task)) continue;
    const updated = await em.getRepository(TaskRow).update(
      { id: task.id, status: TaskStatus.SUCCEEDED },
      { status: TaskStatus.PENDING, attempts: 0, runAfter: now, idempotencyKey: idempotencyKey(requestId, task.connector, `${TaskStep.ERASE}:closing`), finishedAt: null, lastError: null, remoteReference: null, updatedAt: now },
    );
    if (updated.affected !== 1) continue;
    await auditTask(em, Object.assign(task, { status: TaskStatus.PENDING, attempts: 0 }), "closing_pass_armed", now);
    armed += 1;
  }
  return armed;
}

/** A request's ERASE tasks and what they wait for among themselves (closingPasses.ts reads which owe a pass from them). */
export async function eraseGraph(em: EntityManager, requestId: string): Promise<{ erases: TaskRow[]; edges: TaskDependencyRow[] }> {
  const erases = await em.getRepository(TaskRow).findBy({ requestId, step: TaskStep.ERASE });
  if (erases.length < 2) return { erases, edges: [] };
  const ids = erases.map((t) => t.id);
  return { erases, edges: await em.getRepository(TaskDependencyRow).findBy({ taskId: In(ids), dependsOnTaskId: In(ids) }) };
}
