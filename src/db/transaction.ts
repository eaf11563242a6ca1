import { DataSource, EntityManager, EntityNotFoundError } from "typeorm";
import { RequestRow } from "../entities";
import { deferAuditEvents, flushAuditEvents } from "../audit/auditTrail";
import { exclusive, inTurn, isSqliteBusy, waitingForLock } from "./connectionQueue";
import { isMysql } from "./dataSource";
import { databaseBusy } from "../errors";

const DEADLOCK_CODES = new Set(["ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT"]);
const MAX_DEADLOCK_RETRIES = 3;

/** A write refused by a unique index (MySQL or SQLite): another transaction stored the same key first. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; driverError?: { code?: string } };
  const code = e?.driverError?.code ?? e?.code;
  return code === "ER_DUP_ENTRY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}

/** Locks a row for the rest of the transaction (MySQL); SQLite transactions are already exclusive. */
export async function lockRow(em: EntityManager, table: "requests" | "tasks" | "legal_holds", id: string): Promise<void> {
  if (isMysql(em.connection)) await em.query(`SELECT id FROM ${table} WHERE id = ? FOR UPDATE`, [id]);
}

/** Reads a request row and locks it for the rest of the transaction (one statement on MySQL). */
export async function lockedRequest(em: EntityManager, id: string): Promise<RequestRow> {
  const request = await em.getRepository(RequestRow).findOne({ where: { id }, ...(isMysql(em.connection) ? { lock: { mode: "pessimistic_write" as const } } : {}) });
  if (!request) throw new EntityNotFoundError(RequestRow, { id });
  return request;
}

/**
 * Runs `work` in one database transaction: everything it writes commits together or not at all.
 *
 * THE RULE (Invariant 4): every write commits with the transaction it belongs to, or alone. Writes that
 * belong together go through here, on `em`; a write that belongs to nothing is one statement on the
 * DataSource and commits alone. On SQLite the one connection is owned by a queue (connectionQueue.ts):
 * a transaction is one turn and a lone statement waits for the open transaction to end instead of
 * joining it. On MySQL each transaction has a pooled connection of its own and a deadlock victim is
 * retried. A transaction the database still refuses (a deadlock victim past its retries, a lock wait
 * timed out, SQLite's file locked by another process past SQLITE_LOCK_WAIT_MS) was rolled back: it fails
 * with databaseBusy (CONFLICT, retryable), never as an internal error. Nothing else opens a transaction
 * (test/db/writeRule.test.ts checks the tree).
 */
export async function inTransaction<T>(ds: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  // Audit events are queued during the work and chained as its last step (see flushAuditEvents).
  const audited = async (em: EntityManager) => {
    deferAuditEvents(em);
    const result = await work(em);
    await flushAuditEvents(em);
    return result;
  };
  if (!isMysql(ds)) {
    // Inside a turn, a second turn would wait for the first forever: say so instead.
    if (inTurn(ds)) return Promise.reject(new Error("inTransaction inside a transaction: pass its EntityManager down instead"));
    // Another process's write lock is waited for between turns (waitingForLock), not on the event loop.
    return waitingForLock(() => exclusive(ds, () => ds.transaction(audited))).catch((error) => Promise.reject(isSqliteBusy(error) ? databaseBusy(error) : error));
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await readCommittedTransaction(ds, audited);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === undefined || !DEADLOCK_CODES.has(code)) throw error;
      if (attempt > MAX_DEADLOCK_RETRIES) throw databaseBusy(error);
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20));
    }
  }
}

/** Pooled MySQL connections whose session isolation is already READ COMMITTED. */
const readCommittedSessions = new WeakSet<object>();

/**
 * One MySQL transaction at READ COMMITTED: every read sees what other transactions committed (task
 * counts, stream heads), and InnoDB takes no gap locks, which keeps concurrent workers out of each
 * other's way. The level is set once per pooled connection (its session), not per transaction: the
 * per-transaction SET was one statement in nine of a worker's.
 */
async function readCommittedTransaction<T>(ds: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  const runner = ds.createQueryRunner();
  try {
    const connection = (await runner.connect()) as object;
    if (!readCommittedSessions.has(connection)) {
      await runner.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
      readCommittedSessions.add(connection);
    }
    await runner.startTransaction();
    try {
      const result = await work(runner.manager);
      await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  } finally {
    await runner.release();
  }
}

/**
 * Runs one write statement alone (its own implicit transaction, on SQLite in a turn of its own) and
 * returns the rows it changed: for a write that is guarded by its own WHERE and must commit alone.
 */
export async function writeAlone(ds: DataSource, sql: string, parameters: unknown[]): Promise<number> {
  const runner = ds.createQueryRunner();
  try {
    const result = await runner.query(sql, parameters, true);
    return result.affected ?? 0;
  } finally {
    await runner.release();
  }
}

/**
 * Runs the reads of `work` in one snapshot: every statement sees the database as of one moment, whatever
 * commits meanwhile (one GraphQL read of a request: its row, its tasks, its exceptions). `work` only
 * reads. MySQL: a pooled connection of its own, in a READ ONLY transaction started WITH CONSISTENT
 * SNAPSHOT at REPEATABLE READ (that transaction only: the session stays READ COMMITTED for writers).
 * SQLite: one turn of the connection's queue (connectionQueue.ts), in a read transaction: no write of
 * this process runs between its statements or inside its transaction (writes queue behind the turn, and
 * its statements are reads), and another process's commit is not seen halfway.
 */
export async function inReadSnapshot<T>(ds: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  if (!isMysql(ds)) {
    // Inside a turn (a command's transaction) its reads are already alone.
    if (inTurn(ds)) return work(ds.manager);
    return waitingForLock(() => exclusive(ds, () => readOnly(ds, "BEGIN", work)));
  }
  return readOnly(ds, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", work, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
}

async function readOnly<T>(ds: DataSource, begin: string, work: (em: EntityManager) => Promise<T>, before?: string): Promise<T> {
  const runner = ds.createQueryRunner();
  try {
    if (before) await runner.query(before);
    await runner.query(begin);
    try {
      const result = await work(runner.manager);
      await runner.query("COMMIT");
      return result;
    } catch (error) {
      await runner.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  } finally {
    await runner.release();
  }
}
