import fs from "node:fs";
import path from "node:path";
import { DataSource, DataSourceOptions } from "typeorm";
import type { Config } from "../config/env";
import { ENTITIES } from "../entities";
import { MIGRATIONS } from "../migrations";
import { exclusive, queueSqliteConnection } from "./connectionQueue";
import { SERVICE_CACHE_KIB, sqlitePageCache } from "./sqliteCache";

/** TypeORM options for the configured database. synchronize is off: migrations own the schema. */
export function dataSourceOptions(config: Pick<Config, "database">): DataSourceOptions {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, migrationsRun: false, logging: false } as const;
  if (config.database.kind === "sqlite") {
    return { ...common, type: "better-sqlite3", database: config.database.file, enableWAL: true, timeout: 5000, prepareDatabase: sqlitePageCache(SERVICE_CACHE_KIB) };
  }
  return {
    ...common,
    type: "mysql",
    url: config.database.url,
    ...mysqlSocket(config.database.url),
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

/**
 * `?socketPath=/run/mysqld/mysqld.sock` on DATABASE_URL: talk to a server on the same host through its
 * Unix socket instead of TCP (TypeORM reads host, port and credentials from the URL, not this option).
 * Each statement is a write and a read on the connection; over loopback TCP the kernel's TCP path was a
 * quarter of a worker's CPU in bench/orchestrator (CPU profile: mysql2's socket writes).
 */
function mysqlSocket(url: string): { socketPath?: string } {
  const socketPath = new URL(url).searchParams.get("socketPath");
  return socketPath ? { socketPath } : {};
}

/** The service's DataSource. On SQLite its one connection is owned by the statement queue (connectionQueue.ts). */
export function createDataSource(config: Pick<Config, "database">): DataSource {
  if (config.database.kind !== "sqlite") return new DataSource(dataSourceOptions(config));
  fs.mkdirSync(path.dirname(config.database.file), { recursive: true });
  const ds = new DataSource(dataSourceOptions(config));
  queueSqliteConnection(ds);
  return ds;
}

export function isMysql(ds: DataSource): boolean {
  return ds.options.type === "mysql" || ds.options.type === "mariadb";
}

/**
 * Applies pending migrations. On MySQL a named lock makes concurrent starts of several processes take
 * turns, so only one of them changes the schema. Returns the names of the migrations it applied.
 */
export async function migrate(ds: DataSource): Promise<string[]> {
  if (!isMysql(ds)) return (await exclusive(ds, () => ds.runMigrations({ transaction: "each" }))).map((m) => m.name);
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
