import type { DataSource } from "typeorm";
import { exclusive, inTurn } from "./connectionQueue";

/**
 * What the service removes from its SQLite file leaves no readable trace there (Invariant 7).
 *
 * SQLite frees a deleted row's bytes without erasing them: they stay in the page's free space, in a
 * freed page, and in the write-ahead log's older frames, until something happens to overwrite them. A
 * person's address, phone and the hold fence's SHA-256 of her address were read back from dsr.sqlite
 * and dsr.sqlite-wal years after every row holding them was purged (test/residueSweep.test.ts).
 */

/**
 * TypeORM's prepareDatabase step for the service's own connection: `secure_delete`, so SQLite
 * overwrites with zeros what a DELETE or an UPDATE removes (a request's identities past their purpose,
 * a fence's hashed address, staged batches, a subject cleared from a request's record).
 */
export function overwriteRemoved(db: { pragma(source: string): unknown }): void {
  db.pragma("secure_delete = ON");
}

/**
 * Runs `work` (statements that remove ciphertext alone, its key removed before it) with SQLite's
 * secure_delete at FAST: zeros only where no page is written for it. Zeroing every page a staged batch
 * frees made each 20-batch DELETE take 50-90 ms instead of 8 (the event loop held for it), to erase what
 * nobody can read without the key. One turn of the connection (or the caller's), secure_delete back on
 * after; on MySQL, just `work`.
 */
export async function freeingCiphertext<T>(ds: DataSource, work: () => Promise<T>): Promise<T> {
  if (ds.options.type !== "better-sqlite3") return work();
  const fast = async () => {
    await ds.query("PRAGMA secure_delete = FAST");
    try {
      return await work();
    } finally {
      await ds.query("PRAGMA secure_delete = ON");
    }
  };
  // Inside a turn already (a transaction), queuing another would wait for this one.
  return inTurn(ds) ? fast() : exclusive(ds, fast);
}

/**
 * On SQLite, copies the write-ahead log into the database file and truncates the log to nothing: its
 * older frames still hold page images from before the purge's deletions (SQLite reuses the log from its
 * start and never shortens it). One turn of the connection, with no busy wait: a reader in another
 * process (a CLI command) that holds an old snapshot would otherwise hold the event loop for the whole
 * busy timeout; then SQLite answers busy, nothing changes, and the next purge run, ten minutes on, tries
 * again. A no-op on MySQL.
 */
export async function truncateSqliteLog(ds: DataSource): Promise<void> {
  if (ds.options.type !== "better-sqlite3") return;
  await exclusive(ds, async () => {
    const [{ timeout }] = (await ds.query("PRAGMA busy_timeout")) as Array<{ timeout: number }>;
    await ds.query("PRAGMA busy_timeout = 0");
    try {
      await ds.query("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      await ds.query(`PRAGMA busy_timeout = ${Number(timeout)}`);
    }
  });
}
