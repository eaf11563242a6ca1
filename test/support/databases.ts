import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mysql from "mysql2/promise";

/** A fresh, empty database for one suite. */
export interface TestDatabase {
  kind: "sqlite" | "mariadb";
  /** DATABASE_URL for the service. */
  url: string;
  /** Removes the database (or file) again. */
  drop(): Promise<void>;
}

export const MYSQL_URL = process.env.DSR_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
/** With DSR_TEST_REQUIRE_MYSQL=1 (CI) an unreachable MariaDB fails the MySQL suites instead of skipping them. */
export const REQUIRE_MYSQL = process.env.DSR_TEST_REQUIRE_MYSQL === "1" || process.env.DSR_TEST_REQUIRE_MYSQL === "true";

export function tempDir(prefix = "dsr-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
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

/**
 * Declares `body` once per database: the embedded SQLite and MariaDB. The MariaDB run is skipped when
 * the server is unreachable, unless DSR_TEST_REQUIRE_MYSQL makes that a failure.
 */
export function describeEachDatabase(title: string, body: (db: () => TestDatabase) => void): void {
  for (const kind of ["sqlite", "mariadb"] as const) {
    describe(`${title} [${kind}]`, function () {
      let db: TestDatabase | undefined;
      before(async function () {
        if (kind === "sqlite") {
          db = await createSqliteDatabase();
          return;
        }
        try {
          db = await createMariadbDatabase();
        } catch (error) {
          if (REQUIRE_MYSQL) throw new Error(`MariaDB at ${MYSQL_URL} is required (DSR_TEST_REQUIRE_MYSQL) but unreachable: ${(error as Error).message}`);
          console.warn(`      (skipping MariaDB suite: ${(error as Error).message}; set DSR_TEST_REQUIRE_MYSQL=1 to fail instead)`);
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
