import { ConnectorError, SubjectRecord } from "../sdk";
import type { SqlTableConfig } from "./config";

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

/** A row's recordedAt, or a non-retryable error naming the table and column (never the value). */
export function recordedAtOf(connector: string, t: SqlTableConfig, row: Record<string, unknown>): Date | undefined {
  if (!t.recordedAtColumn) return undefined;
  const at = dateOf(row[t.recordedAtColumn]);
  if (at === null) {
    throw new ConnectorError(
      `${connector}: table ${t.table} has a value in ${t.recordedAtColumn} that is not a date; fix recordedAtColumn in the connector configuration`,
      `${connector}: unreadable date in ${t.table}.${t.recordedAtColumn}`,
      false,
    );
  }
  return at;
}

/** Makes a column value JSON-safe: dates as ISO text, big integers as text, binary as base64. */
export function jsonValue(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return value;
}

/** One row as the subject's record: only the export columns leave the database. */
export function toRecord(connector: string, t: SqlTableConfig, row: Record<string, unknown>): SubjectRecord {
  const data: Record<string, unknown> = {};
  for (const column of t.exportColumns) data[column] = jsonValue(row[column]);
  const record: SubjectRecord = { category: t.category, type: t.recordType, id: String(jsonValue(row[t.primaryKey])), data };
  const recordedAt = recordedAtOf(connector, t, row);
  if (recordedAt) record.recordedAt = recordedAt;
  return record;
}
