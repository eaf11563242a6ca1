import { DataSource } from "typeorm";
import { inTransaction } from "../../db/transaction";
import { CollectedRecordRow, TaskRow } from "../../entities";
import { holdsLease } from "./leaseGuard";

/**
 * Stages a chunk of a COLLECT's records, under the lease guard: in one transaction of its own that
 * first checks (and locks) the claim, so a chunk lands whole, only while this claim holds the task, and
 * never inside another command's transaction. False: the lease was lost and nothing was written.
 */
export async function stageRecordChunk(ds: DataSource, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string, rows: readonly CollectedRecordRow[]): Promise<boolean> {
  if (!rows.length) return true;
  return inTransaction(ds, async (em) => {
    if (!(await holdsLease(em, task, workerId))) return false;
    await em.getRepository(CollectedRecordRow).insert([...rows]);
    return true;
  });
}
