import { isSupportedCountry, type CountryCode } from "libphonenumber-js";
import { recordedAtFormatProblems, type RecordedAtFormat } from "../recordedAt";
import { isReplacementValue, type ReplacementValue } from "../replacement";
import { CATEGORY_NAME, ConnectorConfigError, kindProblem, needProblem, type DataCategory, type IdentityKind, type IdentityNeed } from "../sdk";

/**
 * The declarative SQL connector's configuration: plain, JSON-able data a platform team writes instead
 * of code. It never holds secrets; the connection is an option (see SqlConnectorOptions).
 */

/** Identifiers are checked before they are quoted: a name outside this pattern never reaches SQL. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A value ANONYMIZE writes in place of personal data (one type for the SQL and HTTP connectors: ../replacement.ts). */
export type { ReplacementValue };

/** How a table's rows about the subject are erased. */
export type EraseStrategy =
  /** The rows are deleted. */
  | { strategy: "DELETE" }
  /**
   * The rows stay (e.g. invoices the law keeps) with the listed columns overwritten: column ->
   * replacement. They must include the identity column and every column the table provides an identity
   * from, each with null or "" (a value that is nobody's identity), so that no anonymised row leads to
   * the person any more; every exported column is overwritten or listed in `keep`.
   */
  | { strategy: "ANONYMIZE"; columns: Record<string, ReplacementValue>; keep?: string[] };

/** One table that holds records about a subject. List each table once. */
export interface SqlTableConfig {
  /** Table name (an identifier: letters, digits, underscore; no schema prefix, no quotes). */
  table: string;
  /**
   * Column that holds the subject's identity. Emails are matched case-insensitively (index it with
   * COLLATE NOCASE on SQLite; a _ci collation on MySQL/MariaDB), phones in any usual spelling, anything
   * else exactly; see docs/connectors.md.
   */
  identityColumn: string;
  /** Which identity the identity column holds: a kind (`email`, `userId`, `phone`, ...) or an external id (`external:crm`). */
  identityKind: IdentityNeed;
  /** Category of every record of the table (drives retention and the export's layout). */
  category: DataCategory;
  /** Record type shown in the export, e.g. `session`. */
  recordType: string;
  /** Single-column primary key: records' ids, and the key that collect pages and erase chunks by. */
  primaryKey: string;
  /** The columns exported to the subject; nothing else of the row leaves the database. */
  exportColumns: string[];
  /** When each row came into being (a date, ISO text or epoch); retention counts from here. */
  recordedAtColumn?: string;
  /**
   * How recordedAtColumn writes its dates (recordedAt.ts RECORDED_AT_FORMATS). Without it, a date type
   * or date text is read as such and a number only as 10-digit epoch seconds or 13-digit epoch
   * milliseconds; any other number fails the task rather than be guessed.
   */
  recordedAtFormat?: RecordedAtFormat;
  /** What erase does to the subject's rows. */
  erase: EraseStrategy;
}

/** An identity the connector discovers for others: `column` of the subject's row(s) in `table`. */
export interface SqlProvidedIdentity {
  /** The identity kind found, e.g. `paymentCustomerId`. */
  kind: IdentityKind;
  /** A configured table; the subject's rows are found through its identity column. */
  table: string;
  /** Column holding the identity. */
  column: string;
}

/** Where a correctable field lives. */
export interface SqlRectifiableField {
  /** A configured table; the subject's rows are found through its identity column. */
  table: string;
  /** Column that receives the corrected value. */
  column: string;
}

/** The whole configuration of one SQL connector. */
export interface SqlConnectorConfig {
  /** Connector name: 2-40 lower-case letters, digits or dashes (it keys tasks and idempotency). */
  name: string;
  /** Version of this configuration, shown with the connector's health. */
  version: string;
  /** The tables holding the subject's data, at least one. */
  tables: SqlTableConfig[];
  /** Identities this database can discover for other connectors (and for its own tables). */
  provides?: SqlProvidedIdentity[];
  /** Correctable fields: field name (as in a CORRECTION request) -> where it is stored. */
  rectifiable?: Record<string, SqlRectifiableField>;
  /** Country whose national spelling (`020 7946 0958`) phone numbers in this database may have, e.g. `GB`; without it only international spellings are read. */
  defaultPhoneCountry?: CountryCode;
}

/** Thrown when a configuration is invalid; `problems` lists every problem found, not just the first. */
export class SqlConnectorConfigError extends ConnectorConfigError {
  constructor(connector: string, problems: string[]) {
    super(connector, problems, "SQL connector");
    this.name = "SqlConnectorConfigError";
  }
}

const TOP_FIELDS = ["name", "version", "tables", "provides", "rectifiable", "defaultPhoneCountry"];
const TABLE_FIELDS = ["table", "identityColumn", "identityKind", "category", "recordType", "primaryKey", "exportColumns", "recordedAtColumn", "recordedAtFormat", "erase"];
const RECORD_TYPE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => (typeof v === "string" ? `"${v}"` : JSON.stringify(v) ?? String(v));

/** Says what is wrong with one identifier, or nothing when it may be quoted into SQL. */
function identifierProblem(at: string, field: string, value: unknown): string[] {
  if (typeof value !== "string" || value === "") return [`${at}: ${field} is required`];
  if (!IDENTIFIER.test(value)) return [`${at}: ${field} ${show(value)} is not a plain identifier (letters, digits, underscore; at most 64; not starting with a digit)`];
  return [];
}

function unknownFields(at: string, value: Record<string, unknown>, allowed: string[]): string[] {
  return Object.keys(value)
    .filter((k) => !allowed.includes(k))
    .map((k) => `${at}: unknown field "${k}" (allowed: ${allowed.join(", ")})`);
}

function tableProblems(at: string, t: Record<string, unknown>): string[] {
  const problems = [...unknownFields(at, t, TABLE_FIELDS)];
  for (const field of ["table", "identityColumn", "primaryKey"]) problems.push(...identifierProblem(at, field, t[field]));
  const kindWrong = needProblem(t.identityKind);
  if (kindWrong) problems.push(`${at}: identityKind ${kindWrong}; e.g. email, userId, or external:crm for an id given in subject.externalIds`);
  if (typeof t.category !== "string" || !CATEGORY_NAME.test(t.category)) problems.push(`${at}: category must be an upper-case data category such as ACCOUNT`);
  if (typeof t.recordType !== "string" || !RECORD_TYPE.test(t.recordType)) problems.push(`${at}: recordType must be a short name such as session`);
  if (t.exportColumns === undefined) problems.push(`${at}: exportColumns is required (the columns the subject receives)`);
  else if (!Array.isArray(t.exportColumns) || t.exportColumns.length === 0) problems.push(`${at}: exportColumns must list at least one column`);
  else {
    const columns: unknown[] = t.exportColumns;
    columns.forEach((c, i) => problems.push(...identifierProblem(at, `exportColumns[${i}]`, c)));
    const dupes = columns.filter((c, i) => columns.indexOf(c) !== i);
    if (dupes.length) problems.push(`${at}: exportColumns lists ${dupes.map(show).join(", ")} more than once`);
  }
  if (t.recordedAtColumn !== undefined) problems.push(...identifierProblem(at, "recordedAtColumn", t.recordedAtColumn));
  problems.push(...recordedAtFormatProblems(`${at}: recordedAtFormat`, t.recordedAtFormat, t.recordedAtColumn !== undefined, "recordedAtColumn"));
  problems.push(...eraseProblems(at, t));
  return problems;
}

function eraseProblems(at: string, t: Record<string, unknown>): string[] {
  const erase = t.erase;
  if (!isObject(erase)) return [`${at}: erase is required: { "strategy": "DELETE" } or { "strategy": "ANONYMIZE", "columns": {...} }`];
  if (erase.strategy === "DELETE") return unknownFields(`${at} erase`, erase, ["strategy"]);
  if (erase.strategy !== "ANONYMIZE") return [`${at}: erase.strategy ${show(erase.strategy)} is unknown (use DELETE or ANONYMIZE)`];
  const problems = unknownFields(`${at} erase`, erase, ["strategy", "columns", "keep"]);
  if (!isObject(erase.columns) || Object.keys(erase.columns).length === 0) return [...problems, `${at}: ANONYMIZE needs columns: { column: replacement value or null }`];
  for (const [column, value] of Object.entries(erase.columns)) {
    problems.push(...identifierProblem(at, "erase.columns key", column));
    if (column === t.primaryKey) problems.push(`${at}: ANONYMIZE cannot overwrite the primary key ${column}`);
    if (!isReplacementValue(value)) problems.push(`${at}: erase.columns.${column} must be a string, number, boolean or null`);
  }
  const keep: unknown[] = erase.keep === undefined ? [] : Array.isArray(erase.keep) ? erase.keep : [];
  if (erase.keep !== undefined && !Array.isArray(erase.keep)) problems.push(`${at}: erase.keep must list columns`);
  keep.forEach((c, i) => problems.push(...identifierProblem(at, `erase.keep[${i}]`, c)));
  const both = keep.filter((c) => typeof c === "string" && Object.hasOwn(erase.columns as object, c));
  if (both.length) problems.push(`${at}: erase.keep lists ${both.map(show).join(", ")}, which erase.columns overwrites: name each column in one of them`);
  if (typeof t.identityColumn === "string") problems.push(...unlinkProblems(at, erase.columns, t.identityColumn, `its identity column ${t.identityColumn}`));
  // An exported column left as it is may be what identifies the person (a name, an address, an IP):
  // the configuration says which ones identify nobody once the row is unlinked.
  const exported: unknown[] = Array.isArray(t.exportColumns) ? t.exportColumns : [];
  const left = exported.filter((c) => typeof c === "string" && !Object.hasOwn(erase.columns as object, c) && !keep.includes(c));
  if (left.length) {
    problems.push(
      `${at}: ANONYMIZE leaves the exported column${left.length > 1 ? "s" : ""} ${left.map(show).join(", ")} as ${left.length > 1 ? "they are" : "it is"}: overwrite ${left.length > 1 ? "them" : "it"} in erase.columns, or list ${left.length > 1 ? "them" : "it"} in erase.keep if ${left.length > 1 ? "they identify" : "it identifies"} nobody once the row no longer leads to the person (an amount, a date)`,
    );
  }
  return problems;
}

/**
 * An anonymised row must lead to nobody: each of `columns` (the identity column; a column the table
 * provides an identity from) is overwritten with null or "", values that are nobody's identity. Left
 * as it is, the row is still the person's (the check after erasing finds it, and the deletion fails);
 * overwritten with another value, every anonymised row would be whoever holds that value.
 */
function unlinkProblems(at: string, replacements: Record<string, unknown>, column: string, what: string): string[] {
  if (!Object.hasOwn(replacements, column)) {
    return [`${at}: ANONYMIZE must overwrite ${what} (with null, or "" where it cannot be null): a row that still holds it still leads to the person, so it is not anonymous`];
  }
  const value = replacements[column];
  return value === null || value === "" ? [] : [`${at}: ANONYMIZE must overwrite ${what} with null or "": with ${show(value)} every anonymised row would be found as the person whose identity that is`];
}

/**
 * Every problem of a configuration (empty when valid). Checks shapes and identifiers only; whether the
 * tables and columns exist is check()'s job, against the live database.
 */
export function configProblems(config: unknown): string[] {
  if (!isObject(config)) return ["the configuration must be an object"];
  const problems = [...unknownFields("config", config, TOP_FIELDS)];
  const tables = new Map<string, Record<string, unknown>>();
  if (!Array.isArray(config.tables) || config.tables.length === 0) problems.push("tables must list at least one table");
  else
    config.tables.forEach((t, i) => {
      const at = `tables[${i}]${isObject(t) && typeof t.table === "string" ? ` (${t.table})` : ""}`;
      if (!isObject(t)) return problems.push(`${at}: must be an object`);
      problems.push(...tableProblems(at, t));
      if (typeof t.table === "string") {
        if (tables.has(t.table)) problems.push(`${at}: table ${t.table} is listed twice (list each table once)`);
        tables.set(t.table, t);
      }
    });

  if (config.provides !== undefined && !Array.isArray(config.provides)) problems.push("provides must be a list of { kind, table, column }");
  const provided = new Set<string>();
  for (const [i, p] of (Array.isArray(config.provides) ? config.provides : []).entries()) {
    const at = `provides[${i}]`;
    if (!isObject(p)) {
      problems.push(`${at}: must be { kind, table, column }`);
      continue;
    }
    problems.push(...unknownFields(at, p, ["kind", "table", "column"]), ...identifierProblem(at, "column", p.column));
    const kindWrong = kindProblem(p.kind);
    if (kindWrong) problems.push(`${at}: kind ${kindWrong}; e.g. paymentCustomerId`);
    else if (p.kind === "email") problems.push(`${at}: email cannot be provided (every request carries it)`);
    else if (provided.has(p.kind as string)) problems.push(`${at}: ${p.kind} is provided twice (one source per kind)`);
    else provided.add(p.kind as string);
    const source = typeof p.table === "string" ? tables.get(p.table) : undefined;
    if (!source) problems.push(`${at}: table ${show(p.table)} is not one of the configured tables`);
    else if (source.identityKind === p.kind) problems.push(`${at}: table ${p.table} is found by ${p.kind}, so it cannot provide it`);
    // A primary key cannot be overwritten, and leads only to the table's own (anonymised) row.
    else if (isObject(source.erase) && source.erase.strategy === "ANONYMIZE" && isObject(source.erase.columns) && typeof p.column === "string" && p.column !== source.primaryKey) {
      problems.push(...unlinkProblems(`${at}`, source.erase.columns, p.column, `the column ${p.column} (table ${p.table} provides ${p.kind} from it)`));
    }
  }

  if (config.defaultPhoneCountry !== undefined && !(typeof config.defaultPhoneCountry === "string" && isSupportedCountry(config.defaultPhoneCountry))) {
    problems.push(`defaultPhoneCountry must be a two-letter country code such as GB or IN`);
  }
  if (config.rectifiable !== undefined && !isObject(config.rectifiable)) problems.push("rectifiable must map field names to { table, column }");
  for (const [field, target] of Object.entries(isObject(config.rectifiable) ? config.rectifiable : {})) {
    const at = `rectifiable.${field}`;
    if (!isObject(target)) {
      problems.push(`${at}: must be { table, column }`);
      continue;
    }
    problems.push(...unknownFields(at, target, ["table", "column"]), ...identifierProblem(at, "column", target.column));
    const source = typeof target.table === "string" ? tables.get(target.table) : undefined;
    if (!source) problems.push(`${at}: table ${show(target.table)} is not one of the configured tables`);
    else if (source.primaryKey === target.column) problems.push(`${at}: the primary key ${target.column} cannot be corrected`);
  }
  return problems;
}
