/**
 * SQLite's page cache per connection, for the databases this process opens with better-sqlite3.
 *
 * better-sqlite3 builds SQLite with a 16 MB cache per connection (SQLite's own default is 2 MB). A big
 * subject's data passes through two of them once, each page read or written a single time: the auth
 * log read by its primary key, and the staged batches written and read back. Both caches then fill
 * with pages that are never read again, 32 MB of resident memory (bench/subject, 2,000,000 events).
 */

/** The service's own database: its hot rows (tasks, requests, audit heads) fit in far less. */
export const SERVICE_CACHE_KIB = 4096;
/** A connector's SQLite database (the sample auth log): one pass per subject, SQLite's own default. */
export const CONNECTOR_CACHE_KIB = 2048;

/** The part of a better-sqlite3 connection the setting uses. */
interface Pragmas {
  pragma(source: string): unknown;
}

/** TypeORM's prepareDatabase hook that sets a connection's cache to `kib` KiB. */
export function sqlitePageCache(kib: number): (db: Pragmas) => void {
  return (db) => void db.pragma(`cache_size = -${kib}`);
}
