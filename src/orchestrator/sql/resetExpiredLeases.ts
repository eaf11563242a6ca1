import { DataSource, Raw } from "typeorm";
import { dbTimeSql } from "../../db/dbClock";
import { inTransaction, lockRow } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";
import { spent } from "./failTask";
import { afterTaskFinished, skipDependents } from "./finishTask";
import { leaseGuard } from "./leaseGuard";
import { auditTask } from "./taskAudit";

const STOPPED = "The worker running this task stopped answering";
const USER_MESSAGE = `${STOPPED}; it was taken back`;

/**
 * The sweeper: RUNNING tasks whose lease ran out on the database's clock (a worker crashed or hung) go
 * back to PENDING, or to FAILED when that was their last attempt. Their late writes, if any come, are
 * refused by the lease guard (the next claim bumps the fencing token). Returns how many were taken back.
 * `now` is domain time: when the task may run again.
 */
export async function resetExpiredLeases(ds: DataSource, now: Date, limit = 100): Promise<number> {
  const expired = Raw((column) => `${column} < ${dbTimeSql(ds)}`);
  const stale = await ds.getRepository(TaskRow).find({ where: { status: TaskStatus.RUNNING, leaseExpiresAt: expired }, take: limit });
  let reset = 0;
  for (const task of stale) {
    const done = await inTransaction(ds, async (em) => {
      await lockRow(em, "requests", task.requestId);
      const last = task.attempts >= task.maxAttempts && task.remoteReference === null;
      const status = last ? TaskStatus.FAILED : task.remoteReference !== null ? TaskStatus.REMOTE_PROCESSING : TaskStatus.PENDING;
      const result = await em.getRepository(TaskRow).update(
        { ...leaseGuard(task, task.lockedBy!), leaseExpiresAt: expired },
        { status, lockedBy: null, leaseExpiresAt: null, runAfter: now, lastError: last ? spent(STOPPED, task.maxAttempts) : USER_MESSAGE, updatedAt: now, ...(last ? { finishedAt: now } : {}) },
      );
      if (result.affected !== 1) return false;
      await auditTask(em, task, "lease_expired", now, { worker: task.lockedBy, outcome: status });
      if (last) {
        await skipDependents(em, task, now);
        await afterTaskFinished(em, task, now);
      }
      return true;
    });
    if (done) reset += 1;
  }
  return reset;
}
