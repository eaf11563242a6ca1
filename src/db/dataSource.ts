import path from "node:path";
import { DataSource, DataSourceOptions } from "typeorm";
import type { Config } from "../config/env";
import { ENTITIES } from "../entities";
import { MIGRATIONS } from "../migrations";
import { lendDataKeys } from "../migrations/dataKeys";
import type { DataKeys } from "../export/keys";
import { mysqlSocket, mysqlSslOptions } from "../config/transport";
import { exclusive, queueSqliteConnection, sqliteBusyTimeout, SQLITE_LOCK_WAIT_MS } from "./connectionQueue";
import { SERVICE_CACHE_KIB, sqlitePageCache } from "./sqliteCache";
import { overwriteRemoved } from "./sqliteResidue";
import { makeFolder } from "../folders";

/** How the service opens its SQLite file: a small page cache, and what it removes overwritten (sqliteResidue.ts). */
function prepareServiceSqlite(db: { pragma(source: string): unknown }): void {
  sqlitePageCache(SERVICE_CACHE_KIB)(db);
  overwriteRemoved(db);
}

/** TypeORM options for the configured database. synchronize is off: migrations own the schema. */
export function dataSourceOptions(config: Pick<Config, "database">): DataSourceOptions {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, migrationsRun: false, logging: false } as const;
  if (config.database.kind === "sqlite") {
    return { ...common, type: "better-sqlite3", database: config.database.file, enableWAL: true, timeout: SQLITE_LOCK_WAIT_MS, prepareDatabase: prepareServiceSqlite };
  }
  return {
    ...common,
    type: "mysql",
    url: config.database.url,
    ...mysqlSocket(config.database.url),
    // TLS as DATABASE_URL's ssl-mode and ssl-ca say (src/config/transport.ts); TypeORM hands `ssl` to mysql2.
    ssl: mysqlSslOptions(config.database.tls),
    // Dates are UTC on the wire and in the database, whatever the server's time zone.
    timezone: "Z",
    dateStrings: false,
    charset: "utf8mb4_unicode_ci",
    // No stack capture per query: mysql2's `trace` (on by default) calls Error.captureStackTrace for
    // every statement, about 5% of a worker's CPU in bench/orchestrator; our errors name the statement.
    trace: false,
    extra: { connectionLimit: 10 },
  };
}

/** The service's DataSource. On SQLite its one connection is owned by the statement queue (connectionQueue.ts). */
export function createDataSource(config: Pick<Config, "database">): DataSource {
  if (config.database.kind !== "sqlite") return new DataSource(dataSourceOptions(config));
  makeFolder(path.dirname(config.database.file));
  const ds = new DataSource(dataSourceOptions(config));
  queueSqliteConnection(ds);
  return ds;
}

/** Node's codes for a TLS certificate it did not accept (the chain did not lead to a trusted CA, or it has lapsed). */
const CERTIFICATE_REFUSED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
]);

/**
 * Opens the DataSource. On MySQL a failure to connect says so under DATABASE_URL's name, with the host
 * and, when TLS is why, what to change; never the URL itself (it may hold a password).
 */
export async function openDataSource(ds: DataSource, config: Pick<Config, "database">): Promise<void> {
  try {
    await ds.initialize();
  } catch (error) {
    if (config.database.kind !== "mysql") throw error;
    throw new Error(mysqlConnectProblem(config.database, error as { code?: string; message?: string }), { cause: error });
  }
  // Opened (the driver waited up to its timeout for the file), statements no longer sleep on the loop for a lock.
  if (config.database.kind === "sqlite") await sqliteBusyTimeout(ds, 0);
}

function mysqlConnectProblem(database: Extract<Config["database"], { kind: "mysql" }>, error: { code?: string; message?: string }): string {
  const url = new URL(database.url);
  const where = url.searchParams.get("socketPath") ?? `${url.hostname}:${url.port || 3306}`;
  const mode = database.tls?.mode ?? "DISABLED";
  const code = error.code ?? "";
  const message = error.message ?? String(error);
  let why = "";
  // mysql2 hands on Node's TLS error with its code replaced by HANDSHAKE_SSL_ERROR; the message stays Node's.
  const tlsRefused = code === "HANDSHAKE_SSL_ERROR" || CERTIFICATE_REFUSED.has(code) || code === "ERR_TLS_CERT_ALTNAME_INVALID";
  if (tlsRefused && (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /does not match certificate's altnames/.test(message))) {
    why = `the server's TLS certificate is not made out to ${url.hostname}: connect by a name it is made out to, or set ssl-mode=VERIFY_CA`;
  } else if (tlsRefused) why = `the server's TLS certificate was not accepted (ssl-mode=${mode}): give the CA that issued it as ssl-ca`;
  else if (code === "HANDSHAKE_NO_SSL_SUPPORT") why = `the server offers no TLS (ssl-mode=${mode}): turn TLS on there (ssl_cert, ssl_key)`;
  else if (/insecure transport/i.test(message)) why = "the server accepts only TLS connections: set ssl-mode=VERIFY_IDENTITY (or VERIFY_CA) and ssl-ca";
  // MariaDB with require_secure_transport answers a connection without TLS as a wrong password would.
  else if (mode === "DISABLED" && code === "ER_ACCESS_DENIED_ERROR") why = "access denied, which is also how a server that accepts only TLS answers a connection without it: check the credentials, or set ssl-mode=VERIFY_IDENTITY (or VERIFY_CA) and ssl-ca";
  return `DATABASE_URL: cannot connect to ${where}${why ? `: ${why}` : ""} (${code || "error"}: ${message})`;
}

export function isMysql(ds: DataSource): boolean {
  return ds.options.type === "mysql" || ds.options.type === "mariadb";
}

/**
 * Applies pending migrations. On MySQL a named lock makes concurrent starts of several processes take
 * turns, so only one of them changes the schema. Returns the names of the migrations it applied.
 */
/**
 * The migrations this database has not applied, by name, found by reading only: a database without the
 * migrations table has applied none (TypeORM's showMigrations creates the table to answer).
 */
export async function pendingMigrations(ds: DataSource): Promise<string[]> {
  const names = ds.migrations.map((m) => m.name ?? m.constructor.name);
  const table = isMysql(ds)
    ? await ds.query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'migrations'`)
    : await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'migrations'`);
  if (table.length === 0) return names;
  const applied = new Set((await ds.query(`SELECT name FROM migrations`)).map((r: { name: string }) => r.name));
  return names.filter((name) => !applied.has(name));
}

/**
 * Applies the pending migrations (one process at a time on MySQL). `keys` is the configured key source,
 * made only if a migration has personal data to encrypt (KeptUndatedIds1767800000000).
 */
export async function migrate(ds: DataSource, keys?: () => DataKeys): Promise<string[]> {
  if (keys) lendDataKeys(ds, keys);
  if (!isMysql(ds)) {
    // At start, before anything is served: a migration waits for another process's lock as SQLite does.
    const applied = await exclusive(ds, async () => {
      await sqliteBusyTimeout(ds, SQLITE_LOCK_WAIT_MS);
      try {
        return await ds.runMigrations({ transaction: "each" });
      } finally {
        await sqliteBusyTimeout(ds, 0);
      }
    });
    return applied.map((m) => m.name);
  }
  const runner = ds.createQueryRunner();
  try {
    await runner.connect();
    const [{ locked }] = await runner.query("SELECT GET_LOCK('dsr_migrations', 120) AS locked");
    if (Number(locked) !== 1) throw new Error("could not take the migration lock within 120 s");
    try {
      return (await ds.runMigrations({ transaction: "each" })).map((m) => m.name);
    } finally {
      await runner.query("SELECT RELEASE_LOCK('dsr_migrations')");
    }
  } finally {
    await runner.release();
  }
}
