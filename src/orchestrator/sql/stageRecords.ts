import { DataSource } from "typeorm";
import { isMysql } from "../../db/dataSource";
import { writeAlone } from "../../db/transaction";
import { StagedBatchRow, TaskRow } from "../../entities";
import type { BatchInsert } from "../../export/staging";
import { Stopped } from "../stopping";
import { leaseGuard } from "./leaseGuard";

/**
 * Stages one encrypted batch of a COLLECT's records, under the lease guard, in ONE statement that
 * commits alone: INSERT ... SELECT from the task row WHERE the claim still holds it (leaseGuard's
 * condition, built from it). So a batch lands whole, only while this claim holds the task, and never
 * inside another command's transaction. On MySQL the SELECT is a locking read (FOR UPDATE): it reads the task row's
 * latest version, not a snapshot, and holds it until the batch commits, so the lease cannot be taken
 * back in between. A lost lease inserts nothing and stops the attempt.
 */
export function guardedBatchInsert(ds: DataSource, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string): BatchInsert {
  const columns = ds.getMetadata(StagedBatchRow).columns;
  // The condition is leaseGuard's own, column by column.
  const guard = Object.entries(leaseGuard(task, workerId));
  const sql =
    `INSERT INTO staged_batches (${columns.map((c) => ds.driver.escape(c.databaseName)).join(", ")}) ` +
    `SELECT ${columns.map(() => "?").join(", ")} FROM tasks WHERE ${guard.map(([column]) => `${ds.driver.escape(column)} = ?`).join(" AND ")}` +
    (isMysql(ds) ? " FOR UPDATE" : "");
  return async (row) => {
    // Each value in its stored form, as the driver writes it for an insert (dates as UTC text on SQLite).
    const values = columns.map((c) => ds.driver.preparePersistentValue(c.getEntityValue(row), c));
    const landed = await writeAlone(ds, sql, [...values, ...guard.map(([, value]) => value)]);
    if (landed !== 1) throw new Stopped("lease-lost");
  };
}
