import { DataSource, EntityManager } from "typeorm";
import { deferAuditEvents, flushAuditEvents } from "../audit/auditTrail";
import { exclusive, inTurn } from "./connectionQueue";
import { isMysql } from "./dataSource";

const DEADLOCK_CODES = new Set(["ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT"]);
const MAX_DEADLOCK_RETRIES = 3;

/** Locks a row for the rest of the transaction (MySQL); SQLite transactions are already exclusive. */
export async function lockRow(em: EntityManager, table: "requests" | "tasks" | "legal_holds", id: string): Promise<void> {
  if (isMysql(em.connection)) await em.query(`SELECT id FROM ${table} WHERE id = ? FOR UPDATE`, [id]);
}

/**
 * Runs `work` in one database transaction: everything it writes commits together or not at all.
 *
 * THE RULE (Invariant 4): every write commits with the transaction it belongs to, or alone. Writes that
 * belong together go through here, on `em`; a write that belongs to nothing is one statement on the
 * DataSource and commits alone. On SQLite the one connection is owned by a queue (connectionQueue.ts):
 * a transaction is one turn and a lone statement waits for the open transaction to end instead of
 * joining it. On MySQL each transaction has a pooled connection of its own and a deadlock victim is
 * retried. Nothing else opens a transaction (test/db/writeRule.test.ts checks the tree).
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
    return exclusive(ds, () => ds.transaction(audited));
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
