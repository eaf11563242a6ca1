/** How connectors read a record's date from a system (the SQL connector's columns, the HTTP connector's fields). */

/** A date without a zone ("2025-03-01 10:00:00", SQLite's CURRENT_TIMESTAMP) is UTC, as SQLite writes it. */
const NAIVE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * Reads a recordedAt value: a Date (MySQL DATETIME/TIMESTAMP), ISO or SQL text, or epoch seconds /
 * milliseconds (numbers below 1e11 are seconds). undefined: no value; null: a value that is no date.
 */
export function dateOf(value: unknown): Date | undefined | null {
  if (value === null || value === undefined || value === "") return undefined;
  let ms: number;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "number" || typeof value === "bigint" || (typeof value === "string" && /^\d+$/.test(value))) {
    const n = Number(value);
    ms = n < 1e11 ? n * 1000 : n;
  } else if (typeof value === "string") ms = Date.parse(NAIVE.test(value) ? `${value.replace(" ", "T")}Z` : value);
  else ms = Number.NaN;
  return Number.isNaN(ms) ? null : new Date(ms);
}
