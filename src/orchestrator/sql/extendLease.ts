import { DataSource } from "typeorm";
import { dbTimeSql } from "../../db/dbClock";
import { TaskRow } from "../../entities";
import { leaseGuard } from "./leaseGuard";

/**
 * Heartbeat: pushes the lease out, on the database's clock. False when the claim no longer holds the
 * task (expired and taken back): the attempt MUST stop writing.
 */
export async function extendLease(ds: DataSource, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string, now: Date, leaseMs: number): Promise<boolean> {
  const result = await ds.getRepository(TaskRow).update(leaseGuard(task, workerId), { leaseExpiresAt: () => dbTimeSql(ds, leaseMs), updatedAt: now });
  return result.affected === 1;
}
