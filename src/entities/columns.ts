import { Column, ColumnOptions } from "typeorm";

/** A UTC timestamp with millisecond precision on both MySQL (datetime(3)) and SQLite (ISO text). */
export function TimestampColumn(options: Omit<ColumnOptions, "type" | "precision"> = {}): PropertyDecorator {
  return Column({ type: "datetime", precision: 3, ...options });
}
