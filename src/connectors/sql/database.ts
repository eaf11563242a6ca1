import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import path from "node:path";
import { DataSource, QueryRunner } from "typeorm";
import { CONNECTOR_CACHE_KIB, sqlitePageCache } from "../../db/sqliteCache";
import { mysqlSocket, mysqlSslOptions, mysqlTls, plaintextHosts, postgresTlsProblem } from "../../config/transport";
import { breathe } from "../../eventLoop";
import { IDENTIFIER } from "./config";
import { exactJson } from "../exactJson";
import { WriteUndone } from "../sdk";
import { dateOf, withFraction } from "../recordedAt";
import { numberedParameters, POSTGRES_SESSION, POSTGRES_TYPE_PARSERS } from "./postgres";

/** The SQL dialects the connector speaks. Statements are written with `?` parameters; PostgreSQL's are numbered on the way out. */
export type DialectKind = "sqlite" | "mysql" | "postgres";

/** A statement and its parameters; values only ever travel as parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

/** What a statement returned: rows for a SELECT, affected rows for a DELETE or UPDATE. */
export interface StatementResult {
  rows: Record<string, unknown>[];
  affected: number;
}

/** How the connector reaches its database: exactly one of `dataSource` or `url`. */
export interface SqlConnection {
  /** A TypeORM DataSource the caller owns (initialised on first use if it is not yet); close() leaves it open. */
  dataSource?: DataSource;
  /**
   * mysql://user:password@host:3306/db (MySQL or MariaDB), postgres://user:password@host:5432/db
   * (PostgreSQL, through pg) or sqlite:<file>; the connector opens and closes it.
   */
  url?: string;
  /** For `url` connections: SQLite's busy timeout, MySQL's and PostgreSQL's connect timeout, in ms (default 5000). */
  timeoutMs?: number;
  /**
   * Hosts a mysql:// or postgres:// `url` may reach without TLS (the service passes DSR_PLAINTEXT_HOSTS);
   * loopback needs no listing. Any other host must be reached over TLS: MySQL's `ssl-mode` and `ssl-ca`
   * as for the service's DATABASE_URL, PostgreSQL's `sslmode` of require, verify-ca or verify-full.
   */
  plaintextHosts?: readonly string[];
}

const SQLITE_TYPES = ["better-sqlite3", "sqlite"];
const MYSQL_TYPES = ["mysql", "mariadb"];
const POSTGRES_TYPES = ["postgres"];
const URL_SHAPE = /^(mysql|mariadb|postgres|postgresql):\/\/[^/]+\/[A-Za-z0-9_$-]+(\?.*)?$|^sqlite:.+$/;

/** The dialect of a DataSource type. */
function dialectOf(type: string): DialectKind {
  return SQLITE_TYPES.includes(type) ? "sqlite" : POSTGRES_TYPES.includes(type) ? "postgres" : "mysql";
}

/** Problems with a connection option (never echoing the url: it may carry a password). */
export function connectionProblems(connection: SqlConnection): string[] {
  if (!!connection.dataSource === !!connection.url) return ["give exactly one of the options dataSource or url"];
  if (connection.url !== undefined && !URL_SHAPE.test(connection.url)) {
    return ["url must look like mysql://user:password@host:3306/database, postgres://user:password@host:5432/database or sqlite:<file>"];
  }
  if (connection.dataSource) {
    const type = String(connection.dataSource.options.type);
    if (![...SQLITE_TYPES, ...MYSQL_TYPES, ...POSTGRES_TYPES].includes(type)) return [`dataSource type ${type} is not supported (use better-sqlite3, sqlite, mysql, mariadb or postgres)`];
  }
  if (connection.timeoutMs !== undefined && !(Number.isInteger(connection.timeoutMs) && connection.timeoutMs > 0)) return ["timeoutMs must be a positive whole number of milliseconds"];
  return connection.url === undefined ? [] : transportProblems(connection.url, connection.plaintextHosts);
}

/** Encryption in transit for a url (src/config/transport.ts): TLS to any host that is not loopback. */
function transportProblems(url: string, plain: readonly string[] = []): string[] {
  const allowed = plaintextHosts(plain);
  if (/^(mysql|mariadb):/.test(url)) return mysqlTls(url, allowed, "url").problems;
  if (/^postgres(ql)?:/.test(url)) return [postgresTlsProblem(url, allowed, "url")].filter((p): p is string => p !== null);
  return [];
}

/** Quotes an identifier for a dialect; refuses anything that is not a plain identifier, whatever the caller checked. */
export function quote(dialect: DialectKind, identifier: string): string {
  if (!IDENTIFIER.test(identifier)) throw new Error(`refusing to quote a non-identifier as SQL`);
  return dialect === "mysql" ? `\`${identifier}\`` : `"${identifier}"`; // SQLite and PostgreSQL: standard quotes
}

/**
 * One database behind one connector. Connections are opened on first use, not at construction, so a
 * connector can be registered while its database is down (check() reports it); a failed open is
 * retried by the next call.
 */
export class SqlDatabase {
  /** The dialect, known before connecting (from the url scheme or the DataSource type). */
  readonly dialect: DialectKind;
  private readonly owned: boolean;
  private readonly source: DataSource;
  private opening?: Promise<DataSource>;
  /** The connection of the exclusive() section a statement runs in, if any: its statements run where its lock is held. */
  private readonly pinned = new AsyncLocalStorage<QueryRunner>();
  /** A SQLite database the connector opened itself reads integers as BigInts (fromUrl): rows are made exact (exactInteger). */
  private readonly safeIntegers: boolean;

  constructor(connection: SqlConnection) {
    this.owned = !connection.dataSource;
    this.source = connection.dataSource ?? fromUrl(connection.url!, connection.timeoutMs ?? 5000, connection.plaintextHosts);
    this.dialect = dialectOf(String(this.source.options.type));
    this.safeIntegers = this.owned && this.dialect === "sqlite";
  }

  /** Runs one statement on its own (autocommit): never a long transaction. */
  async run(statement: Statement): Promise<StatementResult> {
    const ds = await this.open();
    const pinned = this.pinned.getStore();
    const runner = pinned ?? (await this.runner(ds));
    try {
      const sql = this.dialect === "postgres" ? numberedParameters(statement.sql) : statement.sql;
      const result = await runner.query(sql, statement.params, true);
      const rows: Record<string, unknown>[] = Array.isArray(result.records) ? result.records : [];
      if (this.safeIntegers) for (const row of rows) for (const key of Object.keys(row)) row[key] = exactInteger(row[key]);
      return { rows, affected: Number(result.affected ?? 0) };
    } finally {
      if (!pinned) await runner.release();
      // better-sqlite3 answers synchronously: a loop of statements would otherwise never let the event loop turn.
      if (this.dialect === "sqlite") await breathe();
    }
  }

  /**
   * Runs one write that must commit within `timeLeft()` ms (TaskContext.unitTimeLeft; undefined: no
   * bound, as run()). The database enforces it where it can: MariaDB's max_statement_time, PostgreSQL's
   * statement_timeout; a statement it cuts is rolled back. MySQL has no timeout for writes: there the
   * write runs in a transaction that is rolled back when it returns too late to commit in time. Either
   * way a write cut erased nothing, and WriteOutOfTime says so. SQLite runs as run(): a statement there
   * holds the process (see docs/connectors.md, "Units of erasure").
   */
  async runWithin(statement: Statement, timeLeft: () => number | undefined): Promise<StatementResult> {
    const first = timeLeft();
    if (first === undefined || this.dialect === "sqlite") return this.run(statement);
    if (first < MIN_WRITE_MS) throw new WriteOutOfTime();
    const ds = await this.open();
    const pinned = this.pinned.getStore();
    const runner = pinned ?? (await this.runner(ds));
    try {
      let sql = this.dialect === "postgres" ? numberedParameters(statement.sql) : statement.sql;
      const mariadb = this.dialect === "mysql" && (await this.isMariaDb(runner));
      await runner.startTransaction();
      const ms = Math.floor(timeLeft() ?? first);
      if (ms < MIN_WRITE_MS) throw new WriteOutOfTime();
      if (this.dialect === "postgres") await runner.query(`SET LOCAL statement_timeout = ${ms}`);
      else if (mariadb) sql = `SET STATEMENT max_statement_time=${(ms / 1000).toFixed(3)} FOR ${sql}`;
      const result = await runner.query(sql, statement.params, true);
      // Too late to commit before the unit ends (MySQL, or a slow answer): undone.
      if ((timeLeft() ?? 0) <= 0) throw new WriteOutOfTime();
      await runner.commitTransaction();
      return { rows: Array.isArray(result.records) ? result.records : [], affected: result.affected ?? 0 };
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw statementTimedOut(error) ? new WriteOutOfTime() : error;
    } finally {
      if (!pinned) await runner.release();
    }
  }

  /**
   * A query runner on a connection whose session is on UTC. On MySQL and MariaDB the server hands
   * TIMESTAMP values over in the session's time zone, which is the server's (`time_zone`, often
   * SYSTEM) unless set, while the pool reads them as UTC (`timezone: "Z"`): on a server on +05:30 a
   * visit at 10:00 UTC was exported as 15:30Z and dated so for retention, and a Date sent to compare
   * with such a column was taken for local time. So each connection of the connector's own pool is put
   * on UTC once, before its first statement; a PostgreSQL one on the date and interval styles its
   * parsers read (POSTGRES_SESSION). A DataSource passed in belongs to its owner, as do its sessions.
   */
  private async runner(ds: DataSource): Promise<QueryRunner> {
    const runner = ds.createQueryRunner();
    if (this.dialect === "sqlite" || !this.owned) return runner;
    try {
      const connection: object = await runner.connect();
      if (!setSessions.has(connection)) {
        for (const sql of this.dialect === "mysql" ? [`SET time_zone = '+00:00'`] : POSTGRES_SESSION) await runner.query(sql);
        setSessions.add(connection);
      }
      return runner;
    } catch (error) {
      await runner.release();
      throw error;
    }
  }

  /** Whether a mysql-dialect server is MariaDB (it has SET STATEMENT max_statement_time), asked once. */
  private mariadb?: Promise<boolean>;
  private isMariaDb(runner: QueryRunner): Promise<boolean> {
    this.mariadb ??= runner.query(`SELECT VERSION() AS v`).then(
      (rows: { v: unknown }[]) => /mariadb/i.test(String(rows[0]?.v)),
      (error: unknown) => {
        this.mariadb = undefined;
        throw error;
      },
    );
    return this.mariadb;
  }

  /**
   * Runs `work` while holding the database's named locks `keys` (MySQL/MariaDB `GET_LOCK`, PostgreSQL
   * session advisory locks), taken in one order by every process sharing the database; `work`'s
   * statements run, each still on its own, on the connection holding them, so a check and the write it
   * allows are never split by another holder's. Answers `onTimeout()`'s error when the locks are not
   * had within `waitMs`. SQLite has no named locks: there `work` runs as it is, and a write that must
   * not follow another's has to decide it in its own statement (one statement reads and writes under
   * the database's write lock).
   */
  async exclusive<T>(keys: readonly string[], waitMs: number, onTimeout: () => Error, work: () => Promise<T>): Promise<T> {
    if (this.dialect === "sqlite" || !keys.length) return work();
    const ds = await this.open();
    const runner = await this.runner(ds);
    const names = [...new Set(keys.map((k) => createHash("sha256").update(k).digest("hex")))].sort();
    const held: string[] = [];
    try {
      const until = Date.now() + waitMs;
      for (const name of names) {
        if (!(await this.lock(runner, name, until))) throw onTimeout();
        held.push(name);
      }
      return await this.pinned.run(runner, work);
    } finally {
      for (const name of held.reverse()) await this.unlock(runner, name).catch(() => undefined);
      await runner.release();
    }
  }

  /** Takes one named lock on `runner`'s connection, waiting until `until` at most; false when it did not come. */
  private async lock(runner: QueryRunner, name: string, until: number): Promise<boolean> {
    if (this.dialect === "mysql") {
      // GET_LOCK names are at most 64 characters; its wait is in whole seconds (at least one).
      const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
      const [row] = await runner.query(`SELECT GET_LOCK(?, ?) AS got`, [`dsr:${name.slice(0, 56)}`, seconds]);
      return Number(row?.got) === 1;
    }
    for (;;) {
      const [row] = await runner.query(`SELECT pg_try_advisory_lock($1::bigint) AS got`, [advisoryKey(name)]);
      if (row?.got === true) return true;
      if (Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 10 + Math.floor(Math.random() * 20)));
    }
  }

  private async unlock(runner: QueryRunner, name: string): Promise<void> {
    if (this.dialect === "mysql") await runner.query(`SELECT RELEASE_LOCK(?)`, [`dsr:${name.slice(0, 56)}`]);
    else await runner.query(`SELECT pg_advisory_unlock($1::bigint)`, [advisoryKey(name)]);
  }

  /**
   * A SELECT's rows as arrays, each in the order of `columns` (its select list). On a SQLite database
   * the connector opened itself (a `sqlite:` url), they come straight from better-sqlite3 in raw mode:
   * a big subject's pages make no object per row (bench: 1,000,000 auth events paged 500 at a time,
   * 1.4 s against 2.4 s as objects through TypeORM's query runner). Elsewhere, run() and then arrays.
   */
  async selectArrays(statement: Statement, columns: readonly string[]): Promise<unknown[][]> {
    const ds = await this.open();
    const raw = this.owned ? rawSqlite(ds) : null;
    if (!raw) return (await this.run(statement)).rows.map((row) => columns.map((c) => row[c]));
    try {
      const rows = raw.prepared(statement.sql).all(...statement.params);
      for (const row of rows) for (let i = 0; i < row.length; i++) row[i] = exactInteger(row[i]);
      return rows;
    } finally {
      await breathe();
    }
  }

  /** Closes the connections the connector opened itself; a DataSource passed in belongs to its owner. */
  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    if (!this.owned || !opening) return;
    const ds = await opening.catch(() => undefined);
    if (ds?.isInitialized) await ds.destroy();
  }

  private open(): Promise<DataSource> {
    if (this.source.isInitialized) return Promise.resolve(this.source);
    this.opening ??= this.source.initialize().catch((error: unknown) => {
      this.opening = undefined;
      throw error;
    });
    return this.opening;
  }
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * An integer better-sqlite3 read as a BigInt (a connector's own SQLite database reads every one so):
 * a number when a double holds it exactly, else its digits, as mysql2 and pg give a BIGINT. Read as a
 * double, 1234567890123456789 is 1234567890123456800: another row's id, or nobody's, and a user id
 * derived from it reaches another person's records or misses hers. The digits bind back exactly (an
 * INTEGER column compares a text parameter as the integer it spells).
 */
export function exactInteger(value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  return value <= MAX_EXACT && value >= -MAX_EXACT ? Number(value) : value.toString();
}

/** A write not started, or cut and rolled back, because it could not commit within its unit: it changed nothing. */
export class WriteOutOfTime extends WriteUndone {
  // WriteUndone's check answers for every undone write; this class is the SQL connector's own.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /**
   * @param done how many of the keys given, from the first, are known handled (deleted or found gone)
   * before time ran out: the caller goes on after them in a new unit. 0: none (a SQL statement cut).
   */
  constructor(readonly done = 0) {
    super("the write could not commit before its unit of erasure ends: it was rolled back");
  }
}

/** mysql2 connections (reused by the pool) whose session time zone is set to UTC (SqlDatabase.runner). */
const setSessions = new WeakSet<object>();

/** Below this many ms left, a write is not started: it could not commit in time. */
const MIN_WRITE_MS = 50;

/** Whether the database cut a statement at its timeout: MariaDB's ER_STATEMENT_TIMEOUT, PostgreSQL's query_canceled. */
function statementTimedOut(error: unknown): boolean {
  const e = error as { errno?: unknown; code?: unknown; driverError?: { errno?: unknown; code?: unknown } };
  const errno = e?.errno ?? e?.driverError?.errno;
  const code = e?.code ?? e?.driverError?.code;
  return errno === 1969 || code === "ER_STATEMENT_TIMEOUT" || code === "57014";
}

/** PostgreSQL's advisory locks are keyed by a bigint: the first 8 bytes of a lock name's hash, signed. */
function advisoryKey(hexName: string): string {
  return BigInt.asIntN(64, BigInt(`0x${hexName.slice(0, 16)}`)).toString();
}

function fromUrl(url: string, timeoutMs: number, plain: readonly string[] = []): DataSource {
  const common = { entities: [], migrations: [], synchronize: false, migrationsRun: false, logging: false };
  if (url.startsWith("sqlite:")) {
    // fileMustExist: a mistyped path must fail check(), not silently create an empty database.
    const pageCache = sqlitePageCache(CONNECTOR_CACHE_KIB);
    const prepareDatabase = (db: { pragma(source: string): unknown; defaultSafeIntegers(toggle: boolean): unknown }) => {
      pageCache(db);
      // Every INTEGER as a BigInt, made exact by exactInteger: read as a double, one past 2^53 is another number.
      db.defaultSafeIntegers(true);
    };
    return new DataSource({ ...common, type: "better-sqlite3", database: path.resolve(url.slice("sqlite:".length)), fileMustExist: true, timeout: timeoutMs, prepareDatabase });
  }
  if (/^postgres(ql)?:/.test(url)) {
    // Four connections at most, like MySQL's pool: every statement is short and runs on its own. Dates
    // without a zone are read as UTC (POSTGRES_TYPE_PARSERS), as on SQLite and MySQL, from ISO text
    // whatever the server's DateStyle (POSTGRES_SESSION, set by runner()).
    return new DataSource({ ...common, type: "postgres", url, connectTimeoutMS: timeoutMs, extra: { max: 4, types: POSTGRES_TYPE_PARSERS } });
  }
  return new DataSource({
    ...common,
    type: "mysql",
    url: url.replace(/^mariadb:/, "mysql:"),
    // Dates are UTC on the wire, whatever the server's time zone.
    timezone: "Z",
    connectTimeout: timeoutMs,
    charset: "utf8mb4_unicode_ci",
    // A server on this host through its Unix socket, and TLS as the url's ssl-mode and ssl-ca say: TypeORM reads neither from the url.
    ...mysqlSocket(url),
    ssl: mysqlSslOptions(mysqlTls(url, plaintextHosts(plain), "url").tls),
    extra: { connectionLimit: 4, typeCast: exactJsonColumns },
  });
}

/** The part of a mysql2 column that typeCast sees (mysql2's documented typeCast field). */
interface MysqlField {
  type: string;
  extendedFormat?: string;
  /** The column's declared length: for BIT(n), n. */
  length: number;
  string(encoding?: string): string | null;
  buffer(): Buffer | null;
}

/** The widest BIT whose every value a JSON number holds exactly (2^53 - 1). */
const BIT_AS_NUMBER = 53;

/**
 * A BIT(n) value as the server holds it: a number up to BIT(53), the n-digit bit string ("0101...")
 * past that, where a number could be rounded. mysql2 hands BIT over as a Buffer, and the person
 * received its bytes in base64 (BIT(1) b'1' as "AQ==", BIT(10) b'1010000001' as "AoE=").
 */
function bitValue(field: MysqlField): number | string | null {
  const bytes = field.buffer();
  if (bytes === null) return null;
  const value = bytes.length ? BigInt(`0x${bytes.toString("hex")}`) : 0n;
  return field.length <= BIT_AS_NUMBER ? Number(value) : value.toString(2).padStart(field.length, "0");
}

/**
 * mysql2's typeCast: a DATETIME or TIMESTAMP with its microseconds (a Date holds milliseconds: 01:30:00.123456
 * was exported as 01:30:00.123Z); a JSON column (MySQL's JSON type, MariaDB's JSON alias of LONGTEXT, which it names
 * in its extended metadata) is read exactly (exactJson); a BIT as its number or bits (bitValue); every other column as mysql2 reads it. mysql2
 * reads JSON with JSON.parse: an integer past 2^53 in it reached the person rounded
 * (12345678901234567891 as 12345678901234567000), where a BIGINT column is exact (bigNumberStrings).
 */
function exactJsonColumns(field: MysqlField, next: () => unknown): unknown {
  // JSON text is UTF-8 (MySQL sends the JSON type as binary).
  if (field.type === "JSON" || field.extendedFormat === "json") return exactJson(field.string("utf8"));
  if (field.type === "BIT") return bitValue(field);
  if (!MYSQL_DATES.has(field.type)) return next();
  // As mysql2 reads it with timezone Z (UTC), its microseconds kept (withFraction).
  const text = field.string();
  if (text === null) return null;
  const at = dateOf(text);
  return at ? withFraction(at, text) : text;
}

/**
 * Column types read by exactJsonColumns as dates. A date that names no day (the zero date
 * `0000-00-00`, `2024-00-00`, which a server without NO_ZERO_DATE / NO_ZERO_IN_DATE stores) is handed
 * over as the text the server holds, and leaves a record undated (dateOf): mysql2 read a DATE
 * `0000-00-00` as 1899-11-30 and `2024-00-00` as 2023-11-30, exported and dated for retention so, and a
 * DATETIME zero date as no date at all (exported as null; as a recordedAtColumn, the person's whole
 * collect failed as misconfigured).
 */
const MYSQL_DATES = new Set(["DATE", "NEWDATE", "DATETIME", "TIMESTAMP"]);

/** The part of a better-sqlite3 Database and Statement that selectArrays uses (public API of better-sqlite3). */
interface BetterSqliteDatabase {
  prepare(sql: string): { raw(toggle: boolean): { all(...params: unknown[]): unknown[][] } };
}

/** Prepared raw statements by connection: a store runs a handful of shapes, each prepared once. */
const rawStatements = new WeakMap<object, Map<string, { all(...params: unknown[]): unknown[][] }>>();

/**
 * The better-sqlite3 connection under a DataSource of ours, with its raw statements; null for any other
 * driver. TypeORM's BetterSqlite3Driver keeps the connection in `databaseConnection` (typed in its
 * declarations, not documented): test/connectors/sqlDatabase.test.ts fails if that changes.
 */
export function rawSqlite(ds: DataSource): { prepared(sql: string): { all(...params: unknown[]): unknown[][] } } | null {
  if (ds.options.type !== "better-sqlite3") return null;
  const db = (ds.driver as unknown as { databaseConnection?: BetterSqliteDatabase }).databaseConnection;
  if (!db || typeof db.prepare !== "function") return null;
  let cache = rawStatements.get(db);
  if (!cache) rawStatements.set(db, (cache = new Map()));
  return {
    prepared(sql) {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql).raw(true);
        if (cache.size < 32) cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}
