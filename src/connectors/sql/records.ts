import { ConnectorError, SubjectRecord } from "../sdk";
import { readRecordedAt, unreadableReason } from "../recordedAt";
import type { SqlTableConfig } from "./config";

/** A row's recordedAt, or a non-retryable error naming the table and column (never the value). */
export function recordedAtOf(connector: string, t: SqlTableConfig, row: Record<string, unknown>): Date | undefined {
  if (!t.recordedAtColumn) return undefined;
  const at = readRecordedAt(row[t.recordedAtColumn], t.recordedAtFormat);
  if (typeof at === "string") {
    // Not retryable: the same value reads the same way next time. Never guessed: a date read wrong is
    // a record erased that retention keeps, or kept that it erases.
    throw new ConnectorError(
      `${connector}: table ${t.table} has ${unreadableReason(at, t.recordedAtFormat)} in ${t.recordedAtColumn}; fix recordedAtColumn or recordedAtFormat in the connector configuration`,
      `${connector}: unreadable date in ${t.table}.${t.recordedAtColumn} (${at})`,
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
