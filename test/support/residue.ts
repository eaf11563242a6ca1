import { expect } from "chai";
import type { DataSource } from "typeorm";

/** The needles (case-insensitive) that `bytes` holds, read as text whatever they are. */
export function needlesIn(bytes: Buffer | string, needles: readonly string[]): string[] {
  const text = (typeof bytes === "string" ? bytes : bytes.toString("latin1")).toLowerCase();
  return needles.filter((n) => text.includes(n.toLowerCase()));
}

/**
 * Every table and column of the service's own database that holds one of `needles` (case-insensitive),
 * as `table.column`: each table read whole, every row raw, text and binary alike. What a person with
 * read access to the database would find (the tests' databases are small).
 */
export async function columnsHolding(ds: DataSource, needles: readonly string[]): Promise<string[]> {
  const mysql = ds.options.type === "mysql" || ds.options.type === "mariadb";
  const tables: string[] = mysql
    ? (await ds.query(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()`)).map((r: any) => r.name ?? r.NAME)
    : (await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table'`)).map((r: any) => r.name);
  expect(tables, "the service's tables, listed").to.include.members(["requests", "request_identities", "legal_holds", "audit_events", "staged_batches", "erasure_fences"]);
  const found = new Set<string>();
  for (const table of tables) {
    for (const row of await ds.query(`SELECT * FROM ${mysql ? `\`${table}\`` : `"${table}"`}`)) {
      for (const [column, value] of Object.entries(row as Record<string, unknown>)) {
        if (value === null || value === undefined || value instanceof Date) continue;
        if (needlesIn(Buffer.isBuffer(value) ? value : String(value), needles).length) found.add(`${table}.${column}`);
      }
    }
  }
  return [...found].sort();
}
