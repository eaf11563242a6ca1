import { DataSource } from "typeorm";
import { isMysql } from "../../db/dataSource";
import { inTransaction } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";
import { auditTask } from "./taskAudit";

const CLAIMABLE = [TaskStatus.PENDING, TaskStatus.REMOTE_PROCESSING];

/**
 * Takes the next runnable task (no unfinished dependencies, runAfter passed) and leases it to `workerId`.
 * On MySQL, FOR UPDATE SKIP LOCKED lets many workers claim at once without taking the same row; on
 * SQLite transactions are serialized. A remote-processing task is claimed to be polled: that is not a
 * new attempt.
 */
export async function claimTask(ds: DataSource, workerId: string, now: Date, leaseMs: number): Promise<TaskRow | null> {
  return inTransaction(ds, async (em) => {
    const qb = em
      .getRepository(TaskRow)
      .createQueryBuilder("t")
      .where("t.status IN (:...claimable)", { claimable: CLAIMABLE })
      .andWhere("t.waitingFor = 0")
      .andWhere("t.runAfter <= :now", { now })
      .orderBy("t.priority", "DESC")
      .addOrderBy("t.runAfter", "ASC")
      .limit(1);
    if (isMysql(ds)) qb.setLock("pessimistic_write").setOnLocked("skip_locked");
    const task = await qb.getOne();
    if (!task) return null;
    const polling = task.status === TaskStatus.REMOTE_PROCESSING;
    const claimed = Object.assign(task, {
      status: TaskStatus.RUNNING,
      lockedBy: workerId,
      leaseExpiresAt: new Date(now.getTime() + leaseMs),
      attempts: polling ? task.attempts : task.attempts + 1,
      startedAt: task.startedAt ?? now,
      updatedAt: now,
    });
    const result = await em
      .getRepository(TaskRow)
      .update(
        { id: task.id, status: polling ? TaskStatus.REMOTE_PROCESSING : TaskStatus.PENDING },
        { status: claimed.status, lockedBy: workerId, leaseExpiresAt: claimed.leaseExpiresAt, attempts: claimed.attempts, startedAt: claimed.startedAt, updatedAt: now },
      );
    if (result.affected !== 1) return null;
    await auditTask(em, claimed, polling ? "polling" : "started", now, { worker: workerId });
    return claimed;
  });
}
