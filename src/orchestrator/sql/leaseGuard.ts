import { EntityManager } from "typeorm";
import { isMysql } from "../../db/dataSource";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";

/**
 * The condition every write of an attempt carries: the task is still RUNNING under this very claim —
 * the worker that claimed it and the claim's fencing token. A worker that lost its lease (expired and
 * taken back, whether claimed again by another worker or by itself) matches nothing and writes nothing.
 */
export function leaseGuard(task: Pick<TaskRow, "id" | "leaseToken">, workerId: string) {
  return { id: task.id, status: TaskStatus.RUNNING, lockedBy: workerId, leaseToken: task.leaseToken };
}

/**
 * Inside a transaction: true while the claim still holds the task, and then the task row stays locked
 * (MySQL) until commit, so the lease cannot be taken back while the writes it guards land. (Staged
 * batches carry the same condition in their one INSERT ... SELECT; the export row is written by the
 * EXPORT's completion, behind releaseTask's guarded update.)
 */
export async function holdsLease(em: EntityManager, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string): Promise<boolean> {
  const qb = em.getRepository(TaskRow).createQueryBuilder("t").select("t.id").where(leaseGuard(task, workerId));
  if (isMysql(em.connection)) qb.setLock("pessimistic_write");
  return (await qb.getOne()) !== null;
}
