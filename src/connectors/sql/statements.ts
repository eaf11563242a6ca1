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

/** The distinct pairs (the value the row was found by, a non-null value of `column`) the table holds for the subject, at most `limit`. */
export function selectIdentity(d: DialectKind, t: SqlTableConfig, column: string, identities: IdentityLookup, limit: number): Statement {
  const q = (c: string) => quote(d, c);
  const columns = [...new Set([t.identityColumn, column])];
  return {
    sql: `SELECT DISTINCT ${columns.map(q).join(", ")} FROM ${q(t.table)} WHERE ${matches(d, t, identities)} AND ${q(column)} IS NOT NULL LIMIT ?`,
    params: [...identities.spellings, limit],
  };
}

/** Deletes the listed rows, still only if they belong to the subject (a row may have changed since it was read). */
export function deleteRows(d: DialectKind, t: SqlTableConfig, keys: readonly unknown[], identities: IdentityLookup): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `DELETE FROM ${q(t.table)} WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${matches(d, t, identities)}`,
    params: [...keys, ...identities.spellings],
  };
}

/**
 * Overwrites the listed rows' personal columns. Rows already holding every replacement are left alone,
 * so a second erasure affects (and counts) nothing.
 */
export function anonymizeRows(d: DialectKind, t: SqlTableConfig, columns: Record<string, ReplacementValue>, keys: readonly unknown[], identities: IdentityLookup): Statement {
  const q = (c: string) => quote(d, c);
  const entries = Object.entries(columns);
  const same = d === "mysql" ? "<=>" : d === "postgres" ? POSTGRES_SAME : "IS";
  return {
    sql:
      `UPDATE ${q(t.table)} SET ${entries.map(([c]) => `${q(c)} = ?`).join(", ")}` +
      ` WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${matches(d, t, identities)}` +
      ` AND NOT (${entries.map(([c]) => `${q(c)} ${same} ?`).join(" AND ")})`,
    params: [...entries.map(([, v]) => v), ...keys, ...identities.spellings, ...entries.map(([, v]) => v)],
  };
}

/** Sets corrected values on the listed rows of the subject in one table (rows the connector matched and confirmed). */
export function updateColumns(d: DialectKind, t: SqlTableConfig, values: ReadonlyMap<string, string>, keys: readonly unknown[], identities: IdentityLookup): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `UPDATE ${q(t.table)} SET ${[...values.keys()].map((c) => `${q(c)} = ?`).join(", ")} WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${matches(d, t, identities)}`,
    params: [...values.values(), ...keys, ...identities.spellings],
  };
}

/** Proves a table and columns exist without reading a row. */
export function probe(d: DialectKind, table: string, columns: readonly string[]): Statement {
  return { sql: `SELECT ${columns.map((c) => quote(d, c)).join(", ")} FROM ${quote(d, table)} WHERE 1 = 0`, params: [] };
}
