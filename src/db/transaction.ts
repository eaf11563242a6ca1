import { DataSource, EntityManager } from "typeorm";
import { deferAuditEvents, flushAuditEvents } from "../audit/auditTrail";
import { isMysql } from "./dataSource";

/** A promise chain that lets one SQLite transaction run at a time (better-sqlite3 has one connection). */
const sqliteQueues = new WeakMap<DataSource, Promise<unknown>>();

const DEADLOCK_CODES = new Set(["ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT"]);
const MAX_DEADLOCK_RETRIES = 3;

/** Locks a row for the rest of the transaction (MySQL); SQLite transactions are already exclusive. */
export async function lockRow(em: EntityManager, table: "requests" | "tasks" | "legal_holds", id: string): Promise<void> {
  if (isMysql(em.connection)) await em.query(`SELECT id FROM ${table} WHERE id = ? FOR UPDATE`, [id]);
}

/**
 * Runs `work` in one database transaction: everything it writes commits together or not at all.
 * On SQLite transactions are serialized in-process; on MySQL a deadlock victim is retried.
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
    const previous = sqliteQueues.get(ds) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => ds.transaction(audited));
    sqliteQueues.set(ds, run);
    return run;
  }
  for (let attempt = 1; ; attempt++) {
    try {
      // READ COMMITTED: every read sees what other transactions committed (task counts, chain head),
      // and InnoDB takes no gap locks, which keeps concurrent workers out of each other's way.
      return await ds.transaction("READ COMMITTED", audited);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt > MAX_DEADLOCK_RETRIES || code === undefined || !DEADLOCK_CODES.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt + Math.random() * 20));
    }
  }
}
