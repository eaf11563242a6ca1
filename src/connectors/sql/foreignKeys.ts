import type { SqlTableConfig } from "./config";
import { DialectKind, quote, Statement } from "./database";

/**
 * Foreign keys that meet an erasure. A key declared `ON DELETE CASCADE` (or `SET NULL`, `SET DEFAULT`;
 * `ON UPDATE ...` for a referenced column ANONYMIZE overwrites) does not refuse the connector's DELETE
 * or UPDATE of a row that other rows still refer to: it deletes those rows too, or cuts them off from
 * the person. Rows a retention rule or a legal hold keeps would then go (or be orphaned, holding
 * personal data nothing can find again) behind the connector's back. A key that refuses (RESTRICT, NO
 * ACTION: the default of a plain `REFERENCES`) fails the statement instead, and with it every deletion
 * of the person for as long as the rows referring to theirs are kept (sessions for 90 days, invoices for
 * 7 years). So the connector reads the keys from the database's own catalog, once, and leaves a row in
 * place, named residual with why, while rows it did not erase refer to it through any key.
 */

/** What a foreign key does to the referring rows when the row they refer to is deleted or its key changed. */
export type ReferentialAction = "CASCADE" | "SET NULL" | "SET DEFAULT" | "RESTRICT" | "NO ACTION";

/** Actions that refuse the erase of a referred row rather than act on the rows referring to it. */
const REFUSING: ReadonlySet<ReferentialAction> = new Set(["RESTRICT", "NO ACTION"]);

/** One foreign key that refers to a configured table. */
export interface ForeignKey {
  /** The referring table, as the catalog names it. */
  child: string;
  /** Its schema, when the connection does not reach it unqualified (another MySQL database, a PostgreSQL schema off the search path). */
  childSchema?: string;
  /** The referring columns, in the key's order. */
  childColumns: string[];
  /** The configured table referred to, as configured. */
  parent: string;
  /** The referred columns, in the key's order (a parallel list to childColumns). */
  parentColumns: string[];
  onDelete: ReferentialAction;
  onUpdate: ReferentialAction;
}

/** PostgreSQL's pg_constraint codes for the actions. */
const POSTGRES_ACTIONS: Record<string, ReferentialAction> = { a: "NO ACTION", r: "RESTRICT", c: "CASCADE", n: "SET NULL", d: "SET DEFAULT" };

/**
 * The foreign keys referring to any of `tables`, one row per column of a key, from the database's own
 * catalog: SQLite's PRAGMA foreign_key_list (for every table), MySQL/MariaDB's information_schema
 * (REFERENTIAL_CONSTRAINTS for the actions, KEY_COLUMN_USAGE for the columns), PostgreSQL's
 * pg_constraint. Every row has the same columns (see foreignKeysOf).
 */
export function foreignKeyCatalog(d: DialectKind, tables: readonly string[]): Statement {
  const marks = tables.map(() => "?").join(", ");
  if (d === "sqlite") {
    return {
      sql:
        `SELECT m.name AS fk_table, f.id AS fk, f.seq AS seq, NULL AS child_schema, 1 AS visible, m.name AS child, f."table" AS parent, f."from" AS child_column, f."to" AS parent_column, f.on_delete AS on_delete, f.on_update AS on_update` +
        ` FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq`,
      params: [],
    };
  }
  if (d === "mysql") {
    return {
      sql:
        "SELECT k.TABLE_NAME AS `fk_table`, k.CONSTRAINT_NAME AS `fk`, k.ORDINAL_POSITION AS `seq`, k.TABLE_SCHEMA AS `child_schema`, k.TABLE_SCHEMA = DATABASE() AS `visible`, k.TABLE_NAME AS `child`," +
        " k.REFERENCED_TABLE_NAME AS `parent`, k.COLUMN_NAME AS `child_column`, k.REFERENCED_COLUMN_NAME AS `parent_column`, r.DELETE_RULE AS `on_delete`, r.UPDATE_RULE AS `on_update`" +
        " FROM information_schema.KEY_COLUMN_USAGE AS k JOIN information_schema.REFERENTIAL_CONSTRAINTS AS r" +
        " ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME" +
        ` WHERE k.REFERENCED_TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IN (${marks}) ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
      params: [...tables],
    };
  }
  return {
    sql:
      `SELECT ccl.oid::text AS fk_table, con.oid::text AS fk, k.n AS seq, cns.nspname AS child_schema, pg_table_is_visible(ccl.oid) AS visible, ccl.relname AS child, pcl.relname AS parent,` +
      ` ca.attname AS child_column, pa.attname AS parent_column, con.confdeltype AS on_delete, con.confupdtype AS on_update` +
      ` FROM pg_constraint AS con JOIN pg_class AS ccl ON ccl.oid = con.conrelid JOIN pg_namespace AS cns ON cns.oid = ccl.relnamespace JOIN pg_class AS pcl ON pcl.oid = con.confrelid` +
      ` CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_attnum, parent_attnum, n)` +
      ` JOIN pg_attribute AS ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_attnum JOIN pg_attribute AS pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_attnum` +
      // A key declared on a partitioned table is repeated on each partition (conparentid): the declared one covers them.
      ` WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid IN (${tables.map(() => "to_regclass(quote_ident(?::text))").join(", ")}) ORDER BY con.oid, k.n`,
    params: [...tables],
  };
}

/** SQLite and MySQL name tables without regard to case here (MySQL on the usual settings); PostgreSQL resolved them exactly. */
const sameName = (d: DialectKind, a: string, b: string) => (d === "postgres" ? a === b : a.toLowerCase() === b.toLowerCase());

const actionOf = (d: DialectKind, value: unknown): ReferentialAction => {
  const text = String(value ?? "NO ACTION");
  if (d === "postgres") return POSTGRES_ACTIONS[text] ?? "NO ACTION";
  const upper = text.toUpperCase() as ReferentialAction;
  return ["CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT"].includes(upper) ? upper : "NO ACTION";
};

/** The catalog's rows (foreignKeyCatalog) as keys referring to configured tables, each key once with its columns in order. */
export function foreignKeysOf(d: DialectKind, rows: readonly Record<string, unknown>[], tables: readonly SqlTableConfig[]): ForeignKey[] {
  const keys = new Map<string, ForeignKey>();
  for (const row of rows) {
    const parent = tables.find((t) => sameName(d, t.table, String(row.parent)));
    if (!parent) continue;
    const id = `${String(row.child_schema)}\u0000${String(row.fk_table)}\u0000${String(row.fk)}`;
    let key = keys.get(id);
    if (!key) {
      const visible = row.visible === true || Number(row.visible) === 1;
      key = { child: String(row.child), ...(visible ? {} : { childSchema: String(row.child_schema) }), childColumns: [], parent: parent.table, parentColumns: [], onDelete: actionOf(d, row.on_delete), onUpdate: actionOf(d, row.on_update) };
      keys.set(id, key);
    }
    key.childColumns.push(String(row.child_column));
    // SQLite leaves `to` empty for a key naming only the table: it refers to the parent's primary key.
    key.parentColumns.push(row.parent_column === null || row.parent_column === undefined ? parent.primaryKey : String(row.parent_column));
  }
  return [...keys.values()];
}

/** Whether the configuration names the referring table of a key (in the connection's own schema). */
export function configures(d: DialectKind, tables: readonly SqlTableConfig[], key: ForeignKey): SqlTableConfig | undefined {
  return key.childSchema === undefined ? tables.find((t) => sameName(d, t.table, key.child)) : undefined;
}

/**
 * The keys referring to `t` that its erasure meets, whatever they do (act or refuse): DELETE, every key
 * referring to it; ANONYMIZE, those on a referred column it overwrites.
 */
export function setOffBy(t: SqlTableConfig, keys: readonly ForeignKey[]): ForeignKey[] {
  const erase = t.erase;
  const overwritten = erase.strategy === "ANONYMIZE" ? Object.keys(erase.columns).map((c) => c.toLowerCase()) : [];
  return keys.filter((k) => k.parent === t.table && (erase.strategy === "DELETE" || k.parentColumns.some((c) => overwritten.includes(c.toLowerCase()))));
}

/** How a key reads in words: `ON DELETE CASCADE`, `ON UPDATE SET NULL`. */
export function clauseOf(t: SqlTableConfig, k: ForeignKey): string {
  return t.erase.strategy === "DELETE" ? `ON DELETE ${k.onDelete}` : `ON UPDATE ${k.onUpdate}`;
}

const childName = (k: ForeignKey) => (k.childSchema === undefined ? k.child : `${k.childSchema}.${k.child}`);

/**
 * Why a row of `t` stays: rows that refer to it through `k` stay, and erasing it would have the database
 * delete them or cut them off from the person, or the database refuses it. Words for people; table and
 * column names only.
 */
export function residualReason(t: SqlTableConfig, k: ForeignKey, configured: boolean): string {
  const what = t.erase.strategy === "DELETE" ? "deleting it" : `overwriting its ${k.parentColumns.join(", ")}`;
  const clause = clauseOf(t, k);
  const action = t.erase.strategy === "DELETE" ? k.onDelete : k.onUpdate;
  const effect = action === "CASCADE" ? (t.erase.strategy === "DELETE" ? "delete them too" : "rewrite their link to it") : "cut them off from the person while they still hold their data, where no later request could find them";
  const consequence = REFUSING.has(action) ? `the database refuses ${what}` : `${what} would have the database ${effect}`;
  if (!configured) {
    return `rows of table ${childName(k)}, which the connector configuration does not name, refer to it with ${clause}: ${consequence}${REFUSING.has(action) ? "" : ", unreported"}, so it stays while they do; add the table to the configuration`;
  }
  return `rows of table ${childName(k)} that stay refer to it with ${clause} (rows kept by a retention rule or a legal hold, or another person's): ${consequence}, so it stays while they do`;
}

/** Quotes a name read from the catalog (not from configuration, so not held to IDENTIFIER): the quote character doubled. */
function quoteName(d: DialectKind, name: string): string {
  return d === "mysql" ? `\`${name.replace(/`/g, "``")}\`` : `"${name.replace(/"/g, '""')}"`;
}

const childTable = (d: DialectKind, k: ForeignKey) => `${k.childSchema === undefined ? "" : `${quoteName(d, k.childSchema)}.`}${quoteName(d, k.child)}`;

/**
 * The distinct values of a key's referring columns among `values` (each a tuple of the referred
 * columns' values, none NULL): which of a chunk's rows something still refers to. One short statement.
 */
export function referringValues(d: DialectKind, k: ForeignKey, values: readonly unknown[][]): Statement {
  const columns = k.childColumns.map((c) => quoteName(d, c));
  const where =
    columns.length === 1 ? `${columns[0]} IN (${values.map(() => "?").join(", ")})` : values.map(() => `(${columns.map((c) => `${c} = ?`).join(" AND ")})`).join(" OR ");
  return { sql: `SELECT DISTINCT ${columns.join(", ")} FROM ${childTable(d, k)} WHERE ${where}`, params: values.flat() };
}

/**
 * A condition that keeps a DELETE or UPDATE of `t` off every row that `keys` still refer to, checked
 * in the statement itself: a referring row written between the look (referringValues) and the write
 * keeps its parent too. MySQL refuses a subquery on the table a statement writes, so a key of a table
 * referring to itself there is left to the look alone.
 */
export function unreferenced(d: DialectKind, t: SqlTableConfig, keys: readonly ForeignKey[]): string {
  return keys
    .filter((k) => !(d === "mysql" && k.childSchema === undefined && sameName(d, k.child, t.table)))
    .map((k) => {
      const pairs = k.childColumns.map((c, i) => `${quoteName(d, "dsr_ref")}.${quoteName(d, c)} = ${quote(d, t.table)}.${quoteName(d, k.parentColumns[i])}`);
      return ` AND NOT EXISTS (SELECT 1 FROM ${childTable(d, k)} AS ${quoteName(d, "dsr_ref")} WHERE ${pairs.join(" AND ")})`;
    })
    .join("");
}

/** Why a row held back by rows that stay was still not erased by the purge that erased them: a hold took its category meanwhile. */
export const HELD_BACK_BY_HOLD = "a legal hold placed on its category while the purge ran keeps it in place";

/** Why a row held back by rows that stay was not erased by the purge that erased them: it no longer holds the subject's identity it was found by. */
export const HELD_BACK_ROW_CHANGED = "it no longer holds the identity it was found by (changed since the deletion), so the purge did not erase it; check it in the system";

/** A tuple of values as one comparable text, so a number read from one table meets the same number read from another. */
export const tupleKey = (values: readonly unknown[]): string => JSON.stringify(values.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : String(v))));

/**
 * Of a chunk of `t`'s rows about to be erased, those that rows of `keys` (setOffBy) still refer to, each
 * with why it stays (residualReason, for the first key found). `run` sends one statement per key.
 * The rows carry every referred column (they were read with them).
 */
export async function referredRows(
  d: DialectKind,
  tables: readonly SqlTableConfig[],
  t: SqlTableConfig,
  keys: readonly ForeignKey[],
  rows: readonly Record<string, unknown>[],
  run: (statement: Statement) => Promise<Record<string, unknown>[]>,
): Promise<Map<Record<string, unknown>, string>> {
  const referred = new Map<Record<string, unknown>, string>();
  for (const k of keys) {
    // A row whose referred columns hold NULL is referred to by nothing.
    const open = rows.filter((r) => !referred.has(r) && k.parentColumns.every((c) => r[c] !== null && r[c] !== undefined));
    if (!open.length) continue;
    const values = open.map((r) => k.parentColumns.map((c) => r[c]));
    const found = new Set((await run(referringValues(d, k, values))).map((r) => tupleKey(k.childColumns.map((c) => r[c]))));
    const reason = residualReason(t, k, configures(d, tables, k) !== undefined);
    for (const [i, r] of open.entries()) if (found.has(tupleKey(values[i]))) referred.set(r, reason);
  }
  return referred;
}

/** Whether a table's ANONYMIZE writes NULL over every referring column of a key (so an anonymised row refers to nothing). */
const unlinks = (t: SqlTableConfig, k: ForeignKey): boolean => {
  const erase = t.erase;
  if (erase.strategy !== "ANONYMIZE") return false;
  const nulled = Object.entries(erase.columns).filter(([, v]) => v === null).map(([c]) => c.toLowerCase());
  return k.childColumns.every((c) => nulled.includes(c.toLowerCase()));
};

/**
 * What check() reports about the keys: a table the configuration does not name that refers to a table
 * an erasure meets (its rows would go, lose their link unreported, or refuse the erase: the erasure
 * leaves the referred row instead, every time); a configured table erased after a table it refers to (its rows
 * still there when that table is erased keep the referred rows, though they were to go themselves);
 * and a configured table that ANONYMIZE leaves referring (its anonymised rows keep the referred row).
 */
export function foreignKeyProblems(d: DialectKind, eraseOrder: readonly SqlTableConfig[], keys: readonly ForeignKey[]): string[] {
  const problems: string[] = [];
  for (const [at, t] of eraseOrder.entries()) {
    for (const k of setOffBy(t, keys)) {
      const child = configures(d, eraseOrder, k);
      if (!child) problems.push(`table ${childName(k)} (not in the configuration) refers to ${t.table} with ${clauseOf(t, k)}: a deletion leaves the person's ${t.table} row in place while rows of it refer to that row; add ${childName(k)} to the tables`);
      else if (child !== t && eraseOrder.indexOf(child) > at) {
        problems.push(`table ${child.table} refers to ${t.table} with ${clauseOf(t, k)} but is erased after it: list it before ${t.table} in tables (tables that provide identities are erased last)`);
      } else if (child !== t && child.erase.strategy === "ANONYMIZE" && !unlinks(child, k)) {
        const columns = k.childColumns.join(", ");
        problems.push(`table ${child.table} is anonymised but keeps ${columns}, which refers to ${t.table} with ${clauseOf(t, k)}: its anonymised rows would keep the person's ${t.table} row in place; overwrite ${columns} with null in erase.columns`);
      }
    }
  }
  return problems;
}
