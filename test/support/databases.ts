import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mysql from "mysql2/promise";
import { Client } from "pg";

/** A fresh, empty database for one suite (PostgreSQL only for connector suites: the service itself runs on SQLite or MySQL). */
export interface TestDatabase {
  kind: "sqlite" | "mariadb" | "postgres";
  /** DATABASE_URL for the service. */
  url: string;
  /** Removes the database (or file) again. */
  drop(): Promise<void>;
}

export const MYSQL_URL = process.env.DSR_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
/** With DSR_TEST_REQUIRE_MYSQL=1 (CI) an unreachable MariaDB fails the MySQL suites instead of skipping them. */
export const REQUIRE_MYSQL = process.env.DSR_TEST_REQUIRE_MYSQL === "1" || process.env.DSR_TEST_REQUIRE_MYSQL === "true";

export const POSTGRES_URL = process.env.DSR_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
/** With DSR_TEST_REQUIRE_POSTGRES=1 (CI) an unreachable PostgreSQL fails the PostgreSQL suites instead of skipping them. */
export const REQUIRE_POSTGRES = process.env.DSR_TEST_REQUIRE_POSTGRES === "1" || process.env.DSR_TEST_REQUIRE_POSTGRES === "true";

/** Every folder tempDir made in this process: removed when the process exits, whatever the test did with it. */
const madeDirs = new Set<string>();

/** A fresh folder under the system's temp folder, removed when the test process exits. */
export function tempDir(prefix = "dsr-test-"): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (!madeDirs.size) process.once("exit", removeMadeDirs);
  madeDirs.add(dir);
  return dir;
}

/** Removes what tempDir made (synchronously: an exit handler cannot wait). A run left 1,750 folders behind before. */
function removeMadeDirs(): void {
  for (const dir of madeDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // in use or already gone: nothing more to do at exit
    }
  }
  madeDirs.clear();
}

export async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = tempDir();
  return { kind: "sqlite", url: `sqlite:${path.join(dir, "dsr.sqlite")}`, drop: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Creates a scratch schema `dsr_t_<random>` on the MariaDB server, so suites never see each other's rows. */
export async function createMariadbDatabase(): Promise<TestDatabase> {
  const admin = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
  const name = `dsr_t_${randomBytes(5).toString("hex")}`;
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const url = new URL(MYSQL_URL);
  url.pathname = `/${name}`;
  return {
    kind: "mariadb",
    url: url.toString(),
    drop: async () => {
      const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}

/** Creates a scratch database `dsr_t_<random>` on the PostgreSQL server, dropped again by drop(). */
export async function createPostgresDatabase(): Promise<TestDatabase> {
  const name = `dsr_t_${randomBytes(5).toString("hex")}`;
  const admin = async (sql: string) => {
    const client = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  return { kind: "postgres", url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

/** How each kind of scratch database is made, and when an unreachable server fails instead of skipping. */
const SERVERS = {
  mariadb: { create: createMariadbDatabase, required: REQUIRE_MYSQL, name: `MariaDB at ${MYSQL_URL}`, flag: "DSR_TEST_REQUIRE_MYSQL" },
  postgres: { create: createPostgresDatabase, required: REQUIRE_POSTGRES, name: `PostgreSQL at ${POSTGRES_URL}`, flag: "DSR_TEST_REQUIRE_POSTGRES" },
} as const;

/**
 * Declares `body` once per kind of database. A server suite is skipped when its server is unreachable,
 * unless its flag (DSR_TEST_REQUIRE_MYSQL, DSR_TEST_REQUIRE_POSTGRES) makes that a failure.
 */
export function describeEachOf(kinds: readonly TestDatabase["kind"][], title: string, body: (db: () => TestDatabase) => void): void {
  for (const kind of kinds) {
    describe(`${title} [${kind}]`, function () {
      let db: TestDatabase | undefined;
      before(async function () {
        if (kind === "sqlite") {
          db = await createSqliteDatabase();
          return;
        }
        const server = SERVERS[kind];
        try {
          db = await server.create();
        } catch (error) {
          if (server.required) throw new Error(`${server.name} is required (${server.flag}) but unreachable: ${(error as Error).message}`);
          console.warn(`      (skipping ${kind} suite: ${(error as Error).message}; set ${server.flag}=1 to fail instead)`);
          this.skip();
        }
      });
      after(async () => {
        await db?.drop();
      });
      body(() => {
        if (!db) throw new Error("database not created");
        return db;
      });
    });
  }
}

/** Connector suites: the SQL dialects the declarative SQL connector speaks. */
export function describeEachSqlDialect(title: string, body: (db: () => TestDatabase) => void): void {
  describeEachOf(["sqlite", "mariadb", "postgres"], title, body);
}

/**
 * Declares `body` once per database: the embedded SQLite and MariaDB. The MariaDB run is skipped when
 * the server is unreachable, unless DSR_TEST_REQUIRE_MYSQL makes that a failure.
 */
export function describeEachDatabase(title: string, body: (db: () => TestDatabase) => void): void {
  describeEachOf(["sqlite", "mariadb"], title, body);
}
