import type { CountryCode } from "libphonenumber-js";
import { emailProblem, normalizeIdentity, normalizePhone } from "../../domain/identities";
import type { SqlProvidedIdentity, SqlTableConfig } from "./config";

/**
 * The columns of a table that people are found by, with their identity kind: the table's identity
 * column and each column the database provides an identity from. A correction that writes one decides
 * whose rows are whose from then on (see rectify in sqlConnector.ts).
 */
export function identityColumns(t: SqlTableConfig, provides: readonly SqlProvidedIdentity[] = []): Map<string, string> {
  const columns = new Map<string, string>([[t.identityColumn, t.identityKind]]);
  for (const p of provides) if (p.table === t.table && !columns.has(p.column)) columns.set(p.column, p.kind);
  return columns;
}

/**
 * Why `value` cannot be written to a column people are found by as `kind`, or null when it can: an
 * address no request can name, a phone no system can read, or an empty value (nobody's identity) would
 * cut the person's rows off from every later request, their erasure included. Never names the value.
 */
export function identityValueProblem(kind: string, value: string, defaultCountry?: CountryCode): string | null {
  if (kind === "email") return emailProblem(value) === null ? null : "is not an email address";
  if (kind === "phone") return normalizePhone(value, defaultCountry) ? null : "is not a phone number this database can read";
  return normalizeIdentity(kind, value).trim() === "" ? "is empty" : null;
}

/**
 * Where this database holds a field it is not configured to correct, or undefined: a column the
 * person's records show (an export column or an identity column) named as the field, or as its
 * snake_case (`jobTitle` is `job_title`). Reported as not held, the field would read as absent here
 * while the old value stays in place.
 */
export function uncorrectableColumn(field: string, tables: readonly SqlTableConfig[]): { table: string; column: string } | undefined {
  const names = new Set([field, field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]);
  for (const t of tables) {
    const column = [t.identityColumn, ...t.exportColumns].find((c) => names.has(c));
    if (column) return { table: t.table, column };
  }
  return undefined;
}
