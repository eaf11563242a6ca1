import type { CountryCode } from "libphonenumber-js";
import { emailProblem, normalizeIdentity, normalizePhone } from "../../domain/identities";
import { folded } from "../../domain/corrections";
import { ConnectorError, FieldChange } from "../sdk";
import type { SqlConnectorConfig, SqlProvidedIdentity, SqlTableConfig } from "./config";

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
 * person's records show (an export column or an identity column) named as the field in any spelling
 * (letter case, `_` and `-` aside: `jobTitle`, `JOB_TITLE` and `job_title` are one). Reported as not
 * held, the field would read as absent here while the old value stays in place.
 */
function uncorrectableColumn(field: string, tables: readonly SqlTableConfig[]): { table: string; column: string } | undefined {
  for (const t of tables) {
    const column = [t.identityColumn, ...t.exportColumns].find((c) => folded(c) === folded(field));
    if (column) return { table: t.table, column };
  }
  return undefined;
}

/**
 * A correction's changes as one UPDATE's columns and values per table (correcting the column a table
 * is found by cannot then hide its other fields), and the fields no table holds. Refused, before
 * anything is written and not retried: a field held here that is not configured to be corrected
 * (reported not held, the old value would stay unmentioned), and two fields stored in one column with
 * different values (the column would keep the last, and both would be reported changed).
 */
export function correctionsByTable(
  name: string,
  cfg: SqlConnectorConfig,
  changes: readonly FieldChange[],
): { perTable: Map<SqlTableConfig, { values: Map<string, string>; fields: string[] }>; notHeld: string[] } {
  const perTable = new Map<SqlTableConfig, { values: Map<string, string>; fields: string[] }>();
  const notHeld: string[] = [];
  for (const change of changes) {
    const target = cfg.rectifiable && Object.hasOwn(cfg.rectifiable, change.field) ? cfg.rectifiable[change.field] : undefined;
    if (!target) {
      // Field names are matched exactly: `Email` where `email` is configured would otherwise be reported not held, the address unchanged.
      const configured = Object.keys(cfg.rectifiable ?? {}).filter((f) => folded(f) === folded(change.field));
      if (configured.length) {
        const where = configured.map((f) => `${cfg.rectifiable![f].table}.${cfg.rectifiable![f].column}`).join(", ");
        throw new ConnectorError(
          `${name}: it corrects this field as ${configured.join(" or ")} (${where}), and field names are matched exactly (letter case, _ and - included); the rectify changed nothing. Submit the correction again with the field named ${configured.join(" or ")}`,
          `${name} rectify: a field spelled otherwise than rectifiable ${configured.join(", ")}`,
          false,
        );
      }
      const held = uncorrectableColumn(change.field, cfg.tables);
      if (held) {
        throw new ConnectorError(
          `${name}: it holds ${change.field} (${held.table}.${held.column}) but is not configured to correct it (rectifiable); the rectify changed nothing. Correct it by hand, or make it rectifiable, and submit the correction again`,
          `${name} rectify: ${change.field} held in ${held.table}.${held.column}, not rectifiable`,
          false,
        );
      }
      notHeld.push(change.field);
      continue;
    }
    const t = cfg.tables.find((x) => x.table === target.table)!;
    const group = perTable.get(t) ?? { values: new Map<string, string>(), fields: [] };
    const other = group.values.get(target.column);
    if (other !== undefined && other !== change.value) {
      const first = group.fields.find((f) => cfg.rectifiable![f].column === target.column)!;
      throw new ConnectorError(
        `${name}: fields ${first} and ${change.field} are both stored in ${t.table}.${target.column}, and the correction gives them different values; the rectify changed nothing. Submit a correction with one value for them`,
        `${name} rectify: two values for ${t.table}.${target.column}`,
        false,
      );
    }
    group.values.set(target.column, change.value);
    if (!group.fields.includes(change.field)) group.fields.push(change.field);
    perTable.set(t, group);
  }
  return { perTable, notHeld };
}
