import { types } from "pg";
import { exactJson } from "../exactJson";
import { dateOf, withFraction } from "../recordedAt";

/**
 * What PostgreSQL needs that SQLite and MySQL do not: numbered parameters, its own null-safe equality,
 * case-insensitive identity matching that keeps its index, its error codes (SQLSTATE), and dates
 * without a zone read as UTC.
 */

/**
 * Rewrites `?` parameters as `$1, $2, ...`. Statements are built with `?` only: identifiers are quoted
 * plain identifiers and values always travel as parameters, so a `?` in the text is always a parameter.
 */
export function numberedParameters(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Null-safe "is the same value" (SQLite IS, MySQL <=>). */
export const POSTGRES_SAME = "IS NOT DISTINCT FROM";

/**
 * Matches a column against the subject's values. Emails compare case-insensitively as
 * `lower(column) IN (?::text, ...)`: an expression index on `lower(column)` (or a citext column with a
 * plain index) serves it, so the lookup stays an index scan. The values are not lowered here: lower()
 * folds what the column's collation says (under "C", ASCII letters only), and a value lowered under
 * another collation than the column's would miss `Éléonore` stored as typed; the spellings sent are
 * already each mix of case of the letters the column's lower() may leave (foldedCaseSpellings).
 * Other kinds compare exactly.
 */
export function postgresIdentityMatch(column: string, caseInsensitive: boolean, count: number): string {
  if (!caseInsensitive) return `${column} IN (${Array(count).fill("?").join(", ")})`;
  return `lower(${column}) IN (${Array(count).fill("?::text").join(", ")})`;
}

/** SQLSTATEs worth retrying: connection failures, deadlocks, lock and statement time-outs, shutdowns, too many clients. */
export const POSTGRES_TRANSIENT = new Set(["08000", "08001", "08003", "08004", "08006", "40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300"]);
/** SQLSTATEs of a configuration naming what the database does not have. */
export const POSTGRES_MISSING: Record<string, "table" | "column"> = { "42P01": "table", "42703": "column" };
/** pg reports a connection lost mid-statement, or a connect time-out, without a code: known by its words. */
export const POSTGRES_TRANSIENT_MESSAGE = /^Connection terminated( unexpectedly| due to connection timeout)?$|^timeout expired$|^Client has encountered a connection error/;

/**
 * What each connection of a connector's own pool is set to before its first statement: the text pg's
 * parsers read. pg reads dates and timestamps as ISO text only; under a server's or database's
 * `DateStyle` of `SQL, DMY` it read DATE 2024-03-05 as 3 May, exported it so and dated retention by it,
 * and a `timestamptz` as no date at all. `IntervalStyle` `iso_8601` makes an interval exact text the
 * export hands over (P1Y2M3DT4H5M6.789S), where pg's parser knows only the `postgres` style and read
 * `sql_standard`'s as an empty object.
 */
export const POSTGRES_SESSION = ["SET DateStyle = 'ISO'", "SET IntervalStyle = 'iso_8601'"];

/** PostgreSQL's dates past every date, as it writes them: exported as its own words (a Date cannot hold them). */
const INFINITE = new Set(["infinity", "-infinity"]);

/** OIDs of `timestamp` (without time zone) and `date`: values with no zone, which pg reads in the process's zone. */
const ZONELESS = new Set<number>([types.builtins.TIMESTAMP, types.builtins.DATE]);
/** OIDs of `json` and `jsonb`, which pg reads with JSON.parse (rounding an integer past 2^53). */
const JSON_TYPES = new Set<number>([types.builtins.JSON, types.builtins.JSONB]);

/**
 * The pool's type parsers: `timestamp` and `date` (no zone) are read as UTC, as the MySQL reader
 * (`timezone: "Z"`) and SQLite's text are, so a recordedAtColumn and an exported birth date mean the same
 * instant on every database. pg reads them in the process's zone: under TZ=Asia/Kolkata a visit at 12:00
 * read as 06:30 UTC (retention erased a row it keeps) and DATE 1990-05-17 was exported as the day before.
 * A year past 9999 or BC is read as UTC too (dateOf); `infinity` and `-infinity` stay PostgreSQL's
 * words (pg made them the number Infinity, which the export wrote as null: an empty value the system
 * did not hold). An `interval` is its ISO 8601 text (POSTGRES_SESSION). `json` and `jsonb` are
 * read exactly (exactJson): an integer past 2^53 as its digits, as in a bigint column, where JSON.parse
 * handed the person a rounded number. Per pool, never pg's global parsers.
 */
export const POSTGRES_TYPE_PARSERS = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    const standard = types.getTypeParser(oid, format as "text");
    if (format === "binary") return standard;
    if (JSON_TYPES.has(oid)) return exactJson;
    if (oid === types.builtins.INTERVAL) return (value: string) => value;
    // Microseconds kept (withFraction): a Date holds milliseconds only.
    if (oid === types.builtins.TIMESTAMPTZ) return (value: string) => (INFINITE.has(value) ? value : withFraction(standard(value), value));
    if (!ZONELESS.has(oid)) return standard;
    // The connectors' one reading of a date without a zone (recordedAt.ts): UTC.
    return (value: string) => {
      if (INFINITE.has(value)) return value;
      const at = dateOf(value);
      return at ? withFraction(at, value) : standard(value);
    };
  }) as typeof types.getTypeParser,
};
