import { DataSource } from "typeorm";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";

/** Heartbeat: pushes the lease out. False when the lease is no longer ours (expired and taken back). */
export async function extendLease(ds: DataSource, taskId: string, workerId: string, now: Date, leaseMs: number): Promise<boolean> {
  const result = await ds
    .getRepository(TaskRow)
    .update({ id: taskId, lockedBy: workerId, status: TaskStatus.RUNNING }, { leaseExpiresAt: new Date(now.getTime() + leaseMs), updatedAt: now });
  return result.affected === 1;
}
