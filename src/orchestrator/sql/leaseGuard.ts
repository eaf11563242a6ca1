import { DataSource, EntityManager, EntityTarget, FindOptionsWhere, ObjectLiteral } from "typeorm";
import { inTransaction, writeAlone } from "../../db/transaction";
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
export function holdsLease(em: EntityManager, task: Pick<TaskRow, "id" | "leaseToken">, workerId: string): Promise<boolean> {
  return taskRowIs(em, leaseGuard(task, workerId));
}

/** Inside a transaction: whether the task row matches `where`, the row then locked (MySQL) until commit. */
export async function taskRowIs(em: EntityManager, where: FindOptionsWhere<TaskRow>): Promise<boolean> {
  const qb = em.getRepository(TaskRow).createQueryBuilder("t").select("t.id").where(where);
  if (isMysql(em.connection)) qb.setLock("pessimistic_write");
  return (await qb.getOne()) !== null;
}

/** An attempt's claim on its task: what its guarded writes carry (leaseGuard). */
export interface Claim {
  task: Pick<TaskRow, "id" | "leaseToken">;
  workerId: string;
  /** What else must hold for the attempt to write, read in the same statement as the lease guard. */
  also?: AlsoGuard;
}

/**
 * A condition a guarded insert carries beside the lease guard (a correction's: no deletion of its person
 * at work), read in the insert's own statement, after `lock` in the same transaction: a writer that
 * changes what `where` reads takes that lock first, so the two take turns (MySQL; SQLite transactions
 * are exclusive already) and the insert never reads a state that writer is about to change.
 */
export interface AlsoGuard {
  /** SQL over other tables (e.g. NOT EXISTS (...)), its parameters positional (`?`). */
  where: string;
  params: unknown[];
  lock(em: EntityManager): Promise<void>;
  /** Throws what refused the insert when it was this condition, not the lease (read after the refusal). */
  refused(): Promise<void>;
}

/**
 * Inserts one row of `entity` under the lease guard, in ONE statement that commits alone: INSERT ...
 * SELECT from the task row WHERE the claim still holds it (leaseGuard's condition, column by column).
 * On MySQL the SELECT is a locking read (FOR UPDATE): it reads the task row's latest version, not a
 * snapshot, and holds it until the row commits, so the lease cannot be taken back in between; SQLite
 * runs one statement at a time. Resolves true when the row landed, false (nothing written) once the
 * claim lost its task. A claim's `also` joins the statement's condition, its lock taken first in a
 * transaction of the two.
 */
export function guardedInsert<T extends ObjectLiteral>(ds: DataSource, entity: EntityTarget<T>, claim: Claim): (row: T) => Promise<boolean> {
  const metadata = ds.getMetadata(entity);
  const columns = metadata.columns;
  const guard = Object.entries(leaseGuard(claim.task, claim.workerId));
  const { also } = claim;
  const sql =
    `INSERT INTO ${ds.driver.escape(metadata.tableName)} (${columns.map((c) => ds.driver.escape(c.databaseName)).join(", ")}) ` +
    `SELECT ${columns.map(() => "?").join(", ")} FROM tasks WHERE ${guard.map(([column]) => `${ds.driver.escape(column)} = ?`).join(" AND ")}` +
    (also ? ` AND ${also.where}` : "") +
    (isMysql(ds) ? " FOR UPDATE" : "");
  return async (row) => {
    // Each value in its stored form, as the driver writes it for an insert (dates as UTC text on SQLite).
    const values = columns.map((c) => ds.driver.preparePersistentValue(c.getEntityValue(row), c));
    const params = [...values, ...guard.map(([, value]) => value), ...(also?.params ?? [])];
    if (!also) return (await writeAlone(ds, sql, params)) === 1;
    const affected = await inTransaction(ds, async (em) => {
      await also.lock(em);
      return ((await em.queryRunner!.query(sql, params, true)) as { affected?: number }).affected ?? 0;
    });
    if (affected === 1) return true;
    await also.refused();
    return false;
  };
}
