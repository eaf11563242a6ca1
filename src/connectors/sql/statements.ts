import type { ReplacementValue, SqlTableConfig } from "./config";
import { DialectKind, quote, Statement } from "./database";
import { POSTGRES_SAME, postgresIdentityMatch } from "./postgres";

/**
 * Every statement the connector sends. Identifiers come from a validated configuration and are quoted;
 * every value (identities, keys, replacements, limits) is a `?` parameter. Each statement touches at most
 * one page of rows, so none of them holds locks for long.
 */

const marks = (values: readonly unknown[]) => values.map(() => "?").join(", ");

/** The condition "this row belongs to the subject": the table's identity column against their values (one `?` each). */
function identityIn(d: DialectKind, t: SqlTableConfig, identities: readonly unknown[]): string {
  const column = quote(d, t.identityColumn);
  if (d === "postgres") return postgresIdentityMatch(column, t.identityKind === "email", identities.length);
  return `${column} IN (${marks(identities)})`;
}

/** Reads one page of the subject's rows in primary-key order, after the key `after` (keyset paging). */
export function selectPage(d: DialectKind, t: SqlTableConfig, columns: readonly string[], identities: readonly string[], after: unknown, limit: number): Statement {
  const q = (c: string) => quote(d, c);
  const pk = q(t.primaryKey);
  const keyset = after === undefined ? "" : ` AND ${pk} > ?`;
  return {
    sql: `SELECT ${columns.map(q).join(", ")} FROM ${q(t.table)} WHERE ${identityIn(d, t, identities)}${keyset} ORDER BY ${pk} LIMIT ?`,
    params: [...identities, ...(after === undefined ? [] : [after]), limit],
  };
}

/** Reads an identity the table holds for the subject (non-null values, lowest primary key first). */
export function selectIdentity(d: DialectKind, t: SqlTableConfig, column: string, identities: readonly string[], limit: number): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `SELECT ${q(column)} FROM ${q(t.table)} WHERE ${identityIn(d, t, identities)} AND ${q(column)} IS NOT NULL ORDER BY ${q(t.primaryKey)} LIMIT ?`,
    params: [...identities, limit],
  };
}

/** Deletes the listed rows, still only if they belong to the subject (a row may have changed since it was read). */
export function deleteRows(d: DialectKind, t: SqlTableConfig, keys: readonly unknown[], identities: readonly string[]): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `DELETE FROM ${q(t.table)} WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${identityIn(d, t, identities)}`,
    params: [...keys, ...identities],
  };
}

/**
 * Overwrites the listed rows' personal columns. Rows already holding every replacement are left alone,
 * so a second erasure affects (and counts) nothing.
 */
export function anonymizeRows(d: DialectKind, t: SqlTableConfig, columns: Record<string, ReplacementValue>, keys: readonly unknown[], identities: readonly string[]): Statement {
  const q = (c: string) => quote(d, c);
  const entries = Object.entries(columns);
  const same = d === "mysql" ? "<=>" : d === "postgres" ? POSTGRES_SAME : "IS";
  return {
    sql:
      `UPDATE ${q(t.table)} SET ${entries.map(([c]) => `${q(c)} = ?`).join(", ")}` +
      ` WHERE ${q(t.primaryKey)} IN (${marks(keys)}) AND ${identityIn(d, t, identities)}` +
      ` AND NOT (${entries.map(([c]) => `${q(c)} ${same} ?`).join(" AND ")})`,
    params: [...entries.map(([, v]) => v), ...keys, ...identities, ...entries.map(([, v]) => v)],
  };
}

/** Sets corrected values on every row of the subject in one table. */
export function updateColumns(d: DialectKind, t: SqlTableConfig, values: ReadonlyMap<string, string>, identities: readonly string[]): Statement {
  const q = (c: string) => quote(d, c);
  return {
    sql: `UPDATE ${q(t.table)} SET ${[...values.keys()].map((c) => `${q(c)} = ?`).join(", ")} WHERE ${identityIn(d, t, identities)}`,
    params: [...values.values(), ...identities],
  };
}

/** Proves a table and columns exist without reading a row. */
export function probe(d: DialectKind, table: string, columns: readonly string[]): Statement {
  return { sql: `SELECT ${columns.map((c) => quote(d, c)).join(", ")} FROM ${quote(d, table)} WHERE 1 = 0`, params: [] };
}
