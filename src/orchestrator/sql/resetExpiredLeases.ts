import { DataSource, LessThan } from "typeorm";
import { inTransaction, lockRow } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";
import { afterTaskFinished, skipDependents } from "./finishTask";
import { auditTask } from "./taskAudit";

const USER_MESSAGE = "The worker running this task stopped answering; it was taken back";

/**
 * The sweeper: RUNNING tasks whose lease ran out (a worker crashed or hung) go back to PENDING, or to
 * FAILED when that was their last attempt. Their late results, if any arrive, are discarded by the
 * lease guard. Returns how many were taken back.
 */
export async function resetExpiredLeases(ds: DataSource, now: Date, limit = 100): Promise<number> {
  const expired = await ds.getRepository(TaskRow).find({ where: { status: TaskStatus.RUNNING, leaseExpiresAt: LessThan(now) }, take: limit });
  let reset = 0;
  for (const stale of expired) {
    const done = await inTransaction(ds, async (em) => {
      await lockRow(em, "requests", stale.requestId);
      const last = stale.attempts >= stale.maxAttempts && stale.remoteReference === null;
      const status = last ? TaskStatus.FAILED : stale.remoteReference !== null ? TaskStatus.REMOTE_PROCESSING : TaskStatus.PENDING;
      const result = await em.getRepository(TaskRow).update(
        { id: stale.id, status: TaskStatus.RUNNING, lockedBy: stale.lockedBy!, leaseExpiresAt: LessThan(now) },
        { status, lockedBy: null, leaseExpiresAt: null, runAfter: now, lastError: USER_MESSAGE, updatedAt: now, ...(last ? { finishedAt: now } : {}) },
      );
      if (result.affected !== 1) return false;
      await auditTask(em, stale, "lease_expired", now, { worker: stale.lockedBy, outcome: status });
      if (last) {
        await skipDependents(em, stale, now);
        await afterTaskFinished(em, stale, now);
      }
      return true;
    });
    if (done) reset += 1;
  }
  return reset;
}
