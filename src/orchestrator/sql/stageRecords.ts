import { DataSource } from "typeorm";
import { StagedBatchRow, TaskRow } from "../../entities";
import type { BatchInsert } from "../../export/staging";
import { Stopped } from "../stopping";
import { guardedInsert } from "./leaseGuard";

/**
 * Stages one encrypted batch of a COLLECT's records under the lease guard (guardedInsert: one
 * statement that commits alone, never inside another command's transaction). So a batch lands whole,
 * only while this claim holds the task. A lost lease inserts nothing and stops the attempt.
 */
export function guardedBatchInsert(ds: DataSource, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string): BatchInsert {
  const insert = guardedInsert(ds, StagedBatchRow, { task, workerId });
  return async (row) => {
    if (!(await insert(row))) throw new Stopped("lease-lost");
  };
}
