import type { ReplacementValue, SqlTableConfig } from "./config";
import { DialectKind, quote, Statement } from "./database";
import { POSTGRES_SAME, postgresIdentityMatch } from "./postgres";

/**
 * Every statement the connector sends. Identifiers come from a validated configuration and are quoted;
 * every value (identities, keys, replacements, limits) is a `?` parameter. Each statement touches at most
 * one page of rows, so none of them holds locks for long.
 */

const marks = (values: readonly unknown[]) => values.map(() => "?").join(", ");

/**
 * How a table's identity column is compared with the subject's spellings of one identity, per dialect.
 * `caseless`: emails, compared case-insensitively in a way the column's index serves. The clause finds
 * candidates; the connector keeps only rows whose value normalizes to the subject's (identityMatch.ts),
 * so a collation that also ignores accents never hands over another person's rows.
 * - SQLite: `COLLATE NOCASE` (ASCII letters), served by an index declared `COLLATE NOCASE`.
 * - MySQL/MariaDB: the column's own collation (a `_ci` one folds case), served by a plain index.
 * - PostgreSQL: `lower(column)`, served by an expression index on `lower(column)` (postgresDialect.ts).
 */
export const IDENTITY_MATCH: Record<DialectKind, (column: string, count: number, caseless: boolean) => string> = {
  sqlite: (column, count, caseless) => `${column}${caseless ? " COLLATE NOCASE" : ""} IN (${Array(count).fill("?").join(", ")})`,
  mysql: (column, count) => `${column} IN (${Array(count).fill("?").join(", ")})`,
  postgres: (column, count, caseless) => postgresIdentityMatch(column, caseless, count),
};

/** The spellings of one identity a table is searched by, and whether they are compared case-insensitively. */
export interface IdentityLookup {
  spellings: readonly string[];
  caseless: boolean;
}

const matches = (d: DialectKind, t: SqlTableConfig, lookup: IdentityLookup) => IDENTITY_MATCH[d](quote(d, t.identityColumn), lookup.spellings.length, lookup.caseless);

/** Reads one page of the subject's rows in primary-key order, after the key `after` (keyset paging). */
export function selectPage(d: DialectKind, t: SqlTableConfig, columns: readonly string[], identities: IdentityLookup, after: unknown, limit: number): Statement {
  const q = (c: string) => quote(d, c);
  const pk = q(t.primaryKey);
  const keyset = after === undefined ? "" : ` AND ${pk} > ?`;
  return {
    sql: `SELECT ${columns.map(q).join(", ")} FROM ${q(t.table)} WHERE ${matches(d, t, identities)}${keyset} ORDER BY ${pk} LIMIT ?`,
    params: [...identities.spellings, ...(after === undefined ? [] : [after]), limit],
  };
}

/**
 * Reads the listed rows by primary key, whosever they are now: residue an erasure left is erased by id
 * once what held it back is gone (eraseHeldBack), never by looking the subject up again.
 */
export function selectByKeys(d: DialectKind, t: SqlTableConfig, columns: readonly string[], keys: readonly unknown[]): Statement {
  const q = (c: string) => quote(d, c);
  return { sql: `SELECT ${columns.map(q).join(", ")} FROM ${q(t.table)} WHERE ${q(t.primaryKey)} IN (${marks(keys)})`, params: [...keys] };
}

/** The distinct pairs (the value the row was found by, a non-null value of `column`) the table holds for the subject, at most `limit`. */
export function selectIdentity(d: DialectKind, t: SqlTableConfig, column: string, identities: IdentityLookup, limit: number, also: readonly string[] = []): Statement {
  const q = (c: string) => quote(d, c);
  const columns = [...new Set([t.identityColumn, column, ...also])];
  return {
    sql: `SELECT DISTINCT ${columns.map(q).join(", ")} FROM ${q(t.table)} WHERE ${matches(d, t, identities)} AND ${q(column)} IS NOT NULL LIMIT ?`,
    params: [...identities.spellings, limit],
  };
}

/**
 * Deletes the listed rows, still only if they belong to the subject (a row may have changed since it was
 * read). `guard`: further conditions without parameters (foreignKeys.ts's unreferenced).
 */
export function deleteRows(d: DialectKind, t: SqlTableConfig, keys: readonly unknown[], identities: IdentityLookup, guard = ""): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `DELETE FROM ${q(t.table)} WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${matches(d, t, identities)}${guard}`,
    params: [...keys, ...identities.spellings],
  };
}

/**
 * Overwrites the listed rows' personal columns. Rows already holding every replacement are left alone,
 * so a second erasure affects (and counts) nothing. `guard` as for deleteRows.
 */
export function anonymizeRows(d: DialectKind, t: SqlTableConfig, columns: Record<string, ReplacementValue>, keys: readonly unknown[], identities: IdentityLookup, guard = ""): Statement {
  const q = (c: string) => quote(d, c);
  const entries = Object.entries(columns);
  const same = d === "mysql" ? "<=>" : d === "postgres" ? POSTGRES_SAME : "IS";
  return {
    sql:
      `UPDATE ${q(t.table)} SET ${entries.map(([c]) => `${q(c)} = ?`).join(", ")}` +
      ` WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${matches(d, t, identities)}` +
      ` AND NOT (${entries.map(([c]) => `${q(c)} ${same} ?`).join(" AND ")})${guard}`,
    params: [...entries.map(([, v]) => v), ...keys, ...identities.spellings, ...entries.map(([, v]) => v)],
  };
}

/** A column a correction writes that people are found by, with the value it is given, looked up as that identity. */
export interface ClaimedIdentity {
  column: string;
  lookup: IdentityLookup;
}

/**
 * Sets corrected values on the listed rows of the subject in one table (rows the connector matched and
 * confirmed). `unclaimed` (SQLite): only while no row outside `own` (every row of the subject in the
 * table) holds a claimed value, decided in the UPDATE itself, so of two connections' corrections to
 * one value the second writes nothing.
 */
export function updateColumns(
  d: DialectKind,
  t: SqlTableConfig,
  values: ReadonlyMap<string, string>,
  keys: readonly unknown[],
  identities: IdentityLookup,
  unclaimed?: { claims: readonly ClaimedIdentity[]; own: readonly unknown[] },
): Statement {
  const q = (c: string) => quote(d, c);
  const free = (unclaimed?.claims ?? []).map(
    (c) => ` AND NOT EXISTS (SELECT 1 FROM ${q(t.table)} AS other WHERE ${IDENTITY_MATCH[d](`other.${q(c.column)}`, c.lookup.spellings.length, c.lookup.caseless)} AND other.${q(t.primaryKey)} NOT IN (${marks(unclaimed!.own)}))`,
  );
  return {
    sql: `UPDATE ${q(t.table)} SET ${[...values.keys()].map((c) => `${q(c)} = ?`).join(", ")} WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${matches(d, t, identities)}${free.join("")}`,
    params: [...values.values(), ...keys, ...identities.spellings, ...(unclaimed?.claims ?? []).flatMap((c) => [...c.lookup.spellings, ...unclaimed!.own])],
  };
}

/** Proves a table and columns exist without reading a row. */
export function probe(d: DialectKind, table: string, columns: readonly string[]): Statement {
  return { sql: `SELECT ${columns.map((c) => quote(d, c)).join(", ")} FROM ${quote(d, table)} WHERE 1 = 0`, params: [] };
}

/**
 * A few of `column`'s values (none NULL), for check() to read as dates: a recordedAtColumn of numbers
 * whose unit the configuration does not say fails the check, before a deletion reads it.
 */
export function datedSample(d: DialectKind, table: string, column: string, rows = 20): Statement {
  return { sql: `SELECT ${quote(d, column)} FROM ${quote(d, table)} WHERE ${quote(d, column)} IS NOT NULL LIMIT ${rows}`, params: [] };
}

/**
 * A column compared byte for byte, whatever its collation: counts grouped by it keep every stored
 * spelling apart (a `_ci` column would merge `abc` and `ABC`, which the connector tells apart, and
 * `josé` and `jose`, two people), and
 * the connector then adds up the spellings that normalize to one identity.
 */
const EXACT: Record<DialectKind, (column: string) => string> = {
  sqlite: (column) => `${column} COLLATE BINARY`,
  mysql: (column) => `CAST(${column} AS BINARY)`,
  // As text under "C": a citext column, or one under a nondeterministic ICU collation (one ignoring
  // accents takes `josé@` for `jose@`, and `straße@` for `strasse@`), would merge two people's groups.
  postgres: (column) => `${column}::text COLLATE "C"`,
};

/** One page of a table's keys and identities, in primary-key order after `after` (the roster's walk). */
export function selectKeys(d: DialectKind, t: SqlTableConfig, after: unknown, limit: number): Statement {
  const q = (c: string) => quote(d, c);
  const pk = q(t.primaryKey);
  const columns = [...new Set([t.primaryKey, t.identityColumn])].map(q).join(", ");
  return {
    sql: `SELECT ${columns} FROM ${q(t.table)}${after === undefined ? "" : ` WHERE ${pk} > ?`} ORDER BY ${pk} LIMIT ?`,
    params: [...(after === undefined ? [] : [after]), limit],
  };
}

/**
 * Per stored spelling of the identities looked up: the spelling (`value`), how many rows hold it (`n`)
 * and how many of those have a primary key at or below `upTo` (`earlier`: rows a keyset walk has
 * already passed; 0 when `upTo` is undefined). Compared in the database, so its order is the walk's.
 */
export function countRows(d: DialectKind, t: SqlTableConfig, identities: IdentityLookup, upTo: unknown): Statement {
  const q = (c: string) => quote(d, c);
  const earlier = upTo === undefined ? "0" : `SUM(CASE WHEN ${q(t.primaryKey)} <= ? THEN 1 ELSE 0 END)`;
  return {
    sql: `SELECT MIN(${q(t.identityColumn)}) AS ${q("value")}, COUNT(*) AS ${q("n")}, ${earlier} AS ${q("earlier")} FROM ${q(t.table)} WHERE ${matches(d, t, identities)} GROUP BY ${EXACT[d](q(t.identityColumn))}`,
    params: [...(upTo === undefined ? [] : [upTo]), ...identities.spellings],
  };
}

/**
 * Per stored spelling of `column` among the values looked up: the spelling (`value`) and the greatest
 * identity of the rows holding it (`holder`, NULL when no such row has one): whether a value of a
 * provided identity belongs to anyone the table is found by.
 */
export function heldBy(d: DialectKind, t: SqlTableConfig, column: string, values: IdentityLookup): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `SELECT MIN(${q(column)}) AS ${q("value")}, MAX(${q(t.identityColumn)}) AS ${q("holder")} FROM ${q(t.table)} WHERE ${IDENTITY_MATCH[d](q(column), values.spellings.length, values.caseless)} GROUP BY ${EXACT[d](q(column))}`,
    params: [...values.spellings],
  };
}

/** The distinct pairs (a value of `column` among those looked up, the identity of a row holding it), at most `limit`. */
export function holdersOf(d: DialectKind, t: SqlTableConfig, column: string, values: IdentityLookup, limit: number, also: readonly string[] = []): Statement {
  const q = (c: string) => quote(d, c);
  const columns = [...new Set([column, t.identityColumn, ...also])];
  return {
    sql: `SELECT DISTINCT ${columns.map(q).join(", ")} FROM ${q(t.table)} WHERE ${IDENTITY_MATCH[d](q(column), values.spellings.length, values.caseless)} LIMIT ?`,
    params: [...values.spellings, limit],
  };
}

/**
 * MySQL/MariaDB: the collation of a table's column in the connection's database, and the expression it
 * is generated from (NULL for a stored column): whether the column compares letter case (see caseProblem).
 */
export function columnCollation(table: string, column: string): Statement {
  return {
    sql: "SELECT COLLATION_NAME AS `collation`, GENERATION_EXPRESSION AS `generation`, DATA_TYPE AS `type` FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
    params: [table, column],
  };
}
