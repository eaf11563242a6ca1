import { DataSource } from "typeorm";
import { inTransaction } from "../../db/transaction";
import { StagedBatchRow, TaskRow } from "../../entities";
import type { BatchInsert } from "../../export/staging";
import { Stopped } from "../stopping";
import { holdsLease } from "./leaseGuard";

/**
 * Stages one encrypted batch of a COLLECT's records, under the lease guard: in one transaction of its
 * own that first checks (and locks) the claim, so a batch lands whole, only while this claim holds the
 * task, and never inside another command's transaction. A lost lease writes nothing and stops the attempt.
 */
export function guardedBatchInsert(ds: DataSource, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string): BatchInsert {
  return async (row) => {
    const landed = await inTransaction(ds, async (em) => {
      if (!(await holdsLease(em, task, workerId))) return false;
      await em.getRepository(StagedBatchRow).insert(row);
      return true;
    });
    if (!landed) throw new Stopped("lease-lost");
  };
}
