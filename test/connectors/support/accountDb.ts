import { DataSource } from "typeorm";
import { numberedParameters } from "../../../src/connectors/sql/postgres";
import type { Identities } from "../../../src/connectors/sdk";
import { createSqlConnector, type SqlConnector, type SqlConnectorConfig } from "../../../src/connectors/sql";
import { createSqliteDatabase, type TestDatabase } from "../../support/databases";

/**
 * A realistic account database for connector tests: users (found by email, the source of userId and
 * paymentCustomerId), their MFA factors and sessions (found by user id, with foreign keys to users), and
 * invoices (found by payment customer id, anonymised rather than deleted, as bookkeeping law keeps them).
 */

/** The instant the seeded data is relative to. */
export const T0 = new Date("2025-06-01T00:00:00.000Z");
/** The subject, with every identity the orchestrator can know. */
export const ADA: Identities = { email: "ada.lovelace@example.com", userId: "1", paymentCustomerId: "cus_ada_0001" };
/** Someone else, whose rows sit between the subject's. */
export const GRACE: Identities = { email: "grace.hopper@example.com", userId: "2", paymentCustomerId: "cus_grace_0002" };
/** A person the database stores in mixed case (and with a letter outside ASCII); identities come normalized. */
export const ZOE: Identities = { email: "zoë.mixed+dsr@example.com" };
/** How the database stores Zoë's address. */
export const ZOE_STORED = "Zoë.Mixed+DSR@Example.COM";
/** Björn as the orchestrator passes him (the domain in Unicode), and as the users table stores him. */
export const BJORN: Identities = { email: "bjorn@bücher.de" };
export const BJORN_STORED = "Bjorn@XN--BCHER-KVA.DE";
/** Sessions of the subject: more than two chunks of 500. */
export const ADA_SESSIONS = 1200;
/** Records collect returns for the subject: 1 user, 2 MFA factors, the sessions, 3 invoices. */
export const ADA_RECORDS = 1 + 2 + ADA_SESSIONS + 3;
/** When the subject's i-th session began: one per hour, going back from T0. */
export const adaSessionAt = (i: number) => new Date(T0.getTime() - i * 3_600_000);

/** The declarative configuration of the account database (a fresh copy each call). */
export function accountDbConfig(): SqlConnectorConfig {
  return {
    name: "account-db",
    version: "1.0.0",
    tables: [
      {
        table: "users",
        identityColumn: "email",
        identityKind: "email",
        category: "ACCOUNT",
        recordType: "user",
        primaryKey: "id",
        exportColumns: ["email", "name", "created_at"],
        recordedAtColumn: "created_at",
        erase: { strategy: "DELETE" },
      },
      {
        table: "mfa_factors",
        identityColumn: "user_id",
        identityKind: "userId",
        category: "ACCOUNT",
        recordType: "mfa_factor",
        primaryKey: "id",
        exportColumns: ["kind", "label"],
        erase: { strategy: "DELETE" },
      },
      {
        table: "sessions",
        identityColumn: "user_id",
        identityKind: "userId",
        category: "AUTH_LOGS",
        recordType: "session",
        primaryKey: "id",
        exportColumns: ["ip", "user_agent", "created_at"],
        recordedAtColumn: "created_at",
        erase: { strategy: "DELETE" },
      },
      {
        table: "invoices",
        identityColumn: "customer_ref",
        identityKind: "paymentCustomerId",
        category: "PAYMENTS",
        recordType: "invoice",
        primaryKey: "id",
        exportColumns: ["amount_cents", "billing_name", "billing_address", "issued_at"],
        recordedAtColumn: "issued_at",
        erase: { strategy: "ANONYMIZE", columns: { customer_ref: "", billing_name: null, billing_address: null }, keep: ["amount_cents", "issued_at"] },
      },
    ],
    provides: [
      { kind: "userId", table: "users", column: "id" },
      { kind: "paymentCustomerId", table: "users", column: "payment_customer_id" },
    ],
    rectifiable: { name: { table: "users", column: "name" }, email: { table: "users", column: "email" } },
  };
}

const DDL = {
  sqlite: [
    `CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, payment_customer_id TEXT, created_at TEXT NOT NULL)`,
    // What docs/connectors.md asks of an email column on SQLite: an index in NOCASE order.
    `CREATE INDEX users_email_nocase ON users (email COLLATE NOCASE)`,
    `CREATE TABLE mfa_factors (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), kind TEXT NOT NULL, label TEXT)`,
    `CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), ip TEXT, user_agent TEXT, created_at TEXT NOT NULL)`,
    `CREATE INDEX sessions_user ON sessions (user_id, id)`,
    `CREATE TABLE invoices (id TEXT PRIMARY KEY, customer_ref TEXT NOT NULL, billing_name TEXT, billing_address TEXT, amount_cents INTEGER NOT NULL, issued_at TEXT NOT NULL)`,
    `CREATE INDEX invoices_customer ON invoices (customer_ref)`,
  ],
  mariadb: [
    `CREATE TABLE users (id INT NOT NULL PRIMARY KEY, email VARCHAR(320) NULL, name VARCHAR(200) NULL, payment_customer_id VARCHAR(64) NULL, created_at DATETIME(3) NOT NULL, UNIQUE KEY users_email (email)) ENGINE=InnoDB`,
    `CREATE TABLE mfa_factors (id INT NOT NULL PRIMARY KEY, user_id INT NOT NULL, kind VARCHAR(20) NOT NULL, label VARCHAR(100) NULL, KEY mfa_user (user_id), CONSTRAINT mfa_user_fk FOREIGN KEY (user_id) REFERENCES users (id)) ENGINE=InnoDB`,
    `CREATE TABLE sessions (id INT NOT NULL PRIMARY KEY, user_id INT NOT NULL, ip VARCHAR(45) NULL, user_agent VARCHAR(255) NULL, created_at DATETIME(3) NOT NULL, KEY sessions_user (user_id, id), CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users (id)) ENGINE=InnoDB`,
    `CREATE TABLE invoices (id VARCHAR(32) NOT NULL PRIMARY KEY, customer_ref VARCHAR(64) NOT NULL, billing_name VARCHAR(200) NULL, billing_address VARCHAR(255) NULL, amount_cents INT NOT NULL, issued_at DATETIME(3) NOT NULL, KEY invoices_customer (customer_ref)) ENGINE=InnoDB`,
  ],
  postgres: [
    `CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(320) UNIQUE, name VARCHAR(200), payment_customer_id VARCHAR(64), created_at TIMESTAMPTZ(3) NOT NULL)`,
    // What the connector's case-insensitive email match needs to stay an index scan (see postgresIdentityMatch).
    `CREATE INDEX users_email_lower ON users (lower(email))`,
    `CREATE TABLE mfa_factors (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), kind VARCHAR(20) NOT NULL, label VARCHAR(100))`,
    `CREATE INDEX mfa_user ON mfa_factors (user_id)`,
    `CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), ip VARCHAR(45), user_agent VARCHAR(255), created_at TIMESTAMPTZ(3) NOT NULL)`,
    `CREATE INDEX sessions_user ON sessions (user_id, id)`,
    `CREATE TABLE invoices (id VARCHAR(32) PRIMARY KEY, customer_ref VARCHAR(64) NOT NULL, billing_name VARCHAR(200), billing_address VARCHAR(255), amount_cents INTEGER NOT NULL, issued_at TIMESTAMPTZ(3) NOT NULL)`,
    `CREATE INDEX invoices_customer ON invoices (customer_ref)`,
  ],
};

/** The test's own connection to a scratch database of any kind. */
export function testDataSource(db: TestDatabase): DataSource {
  if (db.kind === "sqlite") return new DataSource({ type: "better-sqlite3", database: db.url.slice("sqlite:".length) });
  if (db.kind === "postgres") return new DataSource({ type: "postgres", url: db.url });
  return new DataSource({ type: "mysql", url: db.url, timezone: "Z", charset: "utf8mb4_unicode_ci" });
}

/**
 * Mocha hooks for a suite of a SQL connector over `db`: the test's own DataSource on it (`query` takes
 * `?` placeholders on every dialect), a fresh SQLite service database, and `tables` dropped at the end.
 */
export function sqlSuiteHooks(db: () => TestDatabase, tables: readonly string[]): { ds(): DataSource; serviceDb(): TestDatabase; query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]> } {
  let ds: DataSource;
  let serviceDb: TestDatabase;
  const query = (sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> => ds.query(db().kind === "postgres" ? numberedParameters(sql) : sql, params);
  before(async function () {
    this.timeout(60_000);
    ds = testDataSource(db());
    await ds.initialize();
    serviceDb = await createSqliteDatabase();
  });
  after(async () => {
    for (const table of tables) await query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await ds?.destroy();
    await serviceDb?.drop();
  });
  return { ds: () => ds, serviceDb: () => serviceDb, query };
}

/**
 * A forum's `profiles` table (ids of up to `idLength` characters, no date) holding `ids` as Ada's and one
 * profile of Grace's, and a SQL connector for it: the purge suites' kept records without a date.
 */
export async function forumProfiles(
  db: TestDatabase,
  query: (sql: string, params?: unknown[]) => Promise<unknown>,
  ids: readonly string[],
  options: { idLength: number; ddl?: readonly string[]; dataSource?: DataSource; /** Whether a correction may write profiles.bio (field `bio`). */ rectifiableBio?: boolean; /** The connector's page size (default its own). */ chunkSize?: number },
): Promise<SqlConnector> {
  await query(`DROP TABLE IF EXISTS profiles`);
  await query(`CREATE TABLE profiles (id VARCHAR(${options.idLength}) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, bio VARCHAR(200))`);
  for (const statement of options.ddl ?? []) await query(statement);
  // 500 rows per INSERT: SQLite takes at most 500 rows in one VALUES list.
  for (let at = 0; at < ids.length; at += 500) {
    await query(`INSERT INTO profiles (id, email, bio) VALUES ${ids.slice(at, at + 500).map((id, i) => `('${id}', '${ADA.email}', 'bio ${at + i}')`).join(", ")}`);
  }
  await query(`INSERT INTO profiles (id, email, bio) VALUES ('grace-1', '${GRACE.email}', 'Grace')`);
  return createSqlConnector(
    {
      name: "forum-db",
      version: "1.0.0",
      tables: [{ table: "profiles", identityColumn: "email", identityKind: "email", category: "COMMUNITY", recordType: "profile", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
      ...(options.rectifiableBio ? { rectifiable: { bio: { table: "profiles", column: "bio" } } } : {}),
    },
    { ...(options.dataSource ? { dataSource: options.dataSource } : { url: db.url, timeoutMs: 10_000 }), ...(options.chunkSize ? { chunkSize: options.chunkSize } : {}) },
  );
}

/** The seeded account database of one test, reached through its own DataSource (the test's, not the connector's). */
export class AccountDb {
  private constructor(
    readonly db: TestDatabase,
    readonly ds: DataSource,
  ) {}

  /** Drops and recreates the tables in `db`, then seeds them. */
  static async create(db: TestDatabase): Promise<AccountDb> {
    const ds = testDataSource(db);
    await ds.initialize();
    const account = new AccountDb(db, ds);
    for (const table of ["sessions", "mfa_factors", "invoices", "users"]) await ds.query(`DROP TABLE IF EXISTS ${table}`);
    for (const statement of DDL[db.kind]) await ds.query(statement);
    await account.seed();
    return account;
  }

  /** A date as this database stores it: ISO text in SQLite, DATETIME in MariaDB, timestamptz in PostgreSQL. */
  date(at: Date): Date | string {
    return this.db.kind === "sqlite" ? at.toISOString() : at;
  }

  /** Rows of `table` matching `where`, counted by the test's own connection. */
  async count(table: string, where = "1 = 1", params: unknown[] = []): Promise<number> {
    const [row] = await this.rows(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
    return Number(row.n);
  }

  /** Rows of a query run by the test's own connection (parameters written `?` in every dialect). */
  async rows(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    return this.ds.query(this.db.kind === "postgres" ? numberedParameters(sql) : sql, params);
  }

  /** Closes the test's connection (the database itself belongs to describeEachDatabase). */
  async close(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }

  private async insert(table: string, columns: string[], rows: unknown[][]): Promise<void> {
    for (let i = 0; i < rows.length; i += 200) {
      const batch = rows.slice(i, i + 200);
      const marks = batch.map(() => `(${columns.map(() => "?").join(", ")})`).join(", ");
      await this.rows(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${marks}`, batch.flat());
    }
  }

  private async seed(): Promise<void> {
    const d = (at: Date) => this.date(at);
    const year = (y: number) => new Date(Date.UTC(y, 0, 15));
    await this.insert("users", ["id", "email", "name", "payment_customer_id", "created_at"], [
      [1, ADA.email, "Ada Lovelace", ADA.paymentCustomerId, d(year(2023))],
      [2, GRACE.email, "Grace Hopper", GRACE.paymentCustomerId, d(year(2022))],
      [3, "alan.turing@example.com", "Alan Turing", "cus_alan_0003", d(year(2024))],
      // An empty customer id, as legacy rows have: it must not link Katherine to the orphan invoice below.
      [4, "katherine.johnson@example.com", "Katherine Johnson", "", d(year(2024))],
      [5, ZOE_STORED, "Zoë Mixed", null, d(year(2024))],
      // Not josé@exämple.de: a collation that ignores accents (MariaDB's _ci ones) must not make them one.
      [6, "jose@example.de", "Jose Plain", null, d(year(2024))],
      // Björn's domain is bücher.de, kept in its ASCII (IDNA) spelling, in capitals.
      [7, BJORN_STORED, "Björn Punycode", null, d(year(2024))],
    ]);
    await this.insert("mfa_factors", ["id", "user_id", "kind", "label"], [
      [1, 1, "totp", "Phone"],
      [2, 2, "totp", "Pixel"],
      [3, 1, "webauthn", "YubiKey"],
    ]);
    // The subject's sessions, with other people's interleaved, so pages and chunks cross their rows.
    const owners: number[] = [5, 5, ...Array(ADA_SESSIONS).fill(1)];
    for (const at of [1100, 850, 600, 350, 100]) owners.splice(at, 0, 2);
    for (let at = owners.length; at > 0; at -= 80) owners.splice(at, 0, 3);
    let nth = 0;
    const sessions = owners.map((owner, i) => [
      i + 1,
      owner,
      `192.0.2.${i % 250}`,
      owner === 1 ? "Firefox/128.0" : "Safari/17.0",
      d(owner === 1 ? adaSessionAt(nth++) : adaSessionAt(1)),
    ]);
    await this.insert("sessions", ["id", "user_id", "ip", "user_agent", "created_at"], sessions);
    await this.insert("invoices", ["id", "customer_ref", "billing_name", "billing_address", "amount_cents", "issued_at"], [
      ["in_ada_001", ADA.paymentCustomerId, "Ada Lovelace", "12 St James's Square, London", 1200, d(year(2023))],
      ["in_ada_002", ADA.paymentCustomerId, "Ada Lovelace", "12 St James's Square, London", 1200, d(year(2024))],
      ["in_alan_001", "cus_alan_0003", "Alan Turing", "Hollymeade, Wilmslow", 900, d(year(2024))],
      ["in_ada_003", ADA.paymentCustomerId, "Ada Lovelace", "12 St James's Square, London", 1500, d(year(2025))],
      ["in_grace_001", GRACE.paymentCustomerId, "Grace Hopper", "Arlington, Virginia", 800, d(year(2024))],
      ["in_grace_002", GRACE.paymentCustomerId, "Grace Hopper", "Arlington, Virginia", 800, d(year(2025))],
      ["in_orphan_001", "", null, null, 300, d(year(2021))],
    ]);
  }
}
