import { DataSource } from "typeorm";
import { loadRequest } from "../commands/requestTransition";
import { RequestStatus, RequestType, TERMINAL_STATUSES } from "../domain/enums";
import { AuditEventRow, RequestRow } from "../entities";
import { badField } from "../errors";

export interface RequestFilter {
  status?: RequestStatus[] | null;
  type?: RequestType[] | null;
  /** true: past due and still open; false: everything else. */
  overdue?: boolean | null;
  subjectEmail?: string | null;
}

export interface RequestPage {
  rows: RequestRow[];
  cursors: string[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  /** Every match over all pages; null unless asked for (PageOptions.withTotal). */
  totalCount: number | null;
}

export interface PageOptions {
  /** Columns to load (plus id and dueAt, which cursors need); the whole row when absent. */
  columns?: readonly (keyof RequestRow)[];
  /** Count every match (a second query); callers that show no total skip it. */
  withTotal?: boolean;
}

/** Page sizes a caller may ask for. */
export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

export function isOverdue(row: Pick<RequestRow, "dueAt" | "status">, now: Date): boolean {
  return row.dueAt.getTime() < now.getTime() && !TERMINAL_STATUSES.includes(row.status);
}

/** Opaque cursor: the (dueAt, id) position of a row in the due-date order. */
export function encodeCursor(row: Pick<RequestRow, "dueAt" | "id">): string {
  return Buffer.from(JSON.stringify([row.dueAt.toISOString(), row.id])).toString("base64url");
}

function decodeCursor(cursor: string): { dueAt: Date; id: string } {
  try {
    const [dueAt, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string];
    const at = new Date(dueAt);
    if (typeof id !== "string" || Number.isNaN(at.getTime())) throw new Error("bad cursor");
    return { dueAt: at, id };
  } catch {
    throw badField("after", "after must be a cursor returned by a previous page");
  }
}

/**
 * The conditions of a filter (and of a cursor position) in the driver's `:name` syntax. Column names are
 * RequestRow's property names, which are its column names (test/requests.test.ts pages and filters on
 * SQLite and MariaDB).
 */
function conditions(filter: RequestFilter, now: Date, cursor: { dueAt: Date; id: string } | null, c: (column: keyof RequestRow) => string) {
  const where: string[] = [];
  const params: Record<string, unknown> = { now, terminal: TERMINAL_STATUSES };
  const add = (condition: string, values: Record<string, unknown> = {}) => {
    where.push(condition);
    Object.assign(params, values);
  };
  if (filter.status?.length) add(`${c("status")} IN (:...statuses)`, { statuses: filter.status });
  if (filter.type?.length) add(`${c("type")} IN (:...types)`, { types: filter.type });
  if (filter.subjectEmail) add(`${c("subjectEmail")} = :email`, { email: filter.subjectEmail.trim().toLowerCase() });
  if (filter.overdue === true) add(`${c("dueAt")} < :now AND ${c("status")} NOT IN (:...terminal)`);
  else if (filter.overdue === false) add(`(${c("dueAt")} >= :now OR ${c("status")} IN (:...terminal))`);
  // totalCount counts every match; only the page starts after the cursor.
  const filtered = where.length ? ` WHERE ${where.join(" AND ")}` : "";
  if (cursor) add(`(${c("dueAt")} > :cDue OR (${c("dueAt")} = :cDue AND ${c("id")} > :cId))`, { cDue: cursor.dueAt, cId: cursor.id });
  return { filtered, paged: where.length ? ` WHERE ${where.join(" AND ")}` : "", params };
}

/**
 * Requests in due-date order (soonest first, id breaking ties), one keyset page at a time.
 *
 * Plain SQL on purpose: every admin console lists requests, and TypeORM's query builder and entity
 * transformer cost more than the page itself. Parameters go through the driver's own escaping and values
 * through its own hydration (dates, JSON, booleans), exactly as the builder would do on each database.
 */
export async function findRequests(
  ds: DataSource,
  now: Date,
  filter: RequestFilter,
  first: number,
  after?: string | null,
  options: PageOptions = {},
): Promise<RequestPage> {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw badField("first", `first must be between 1 and ${MAX_PAGE_SIZE}`);
  const { driver } = ds;
  const meta = ds.getMetadata(RequestRow);
  const c = (column: string) => driver.escape(column);
  const loaded = options.columns ? meta.columns.filter((col) => col.propertyName === "id" || col.propertyName === "dueAt" || options.columns!.includes(col.propertyName as keyof RequestRow)) : meta.columns;
  const { filtered, paged, params } = conditions(filter, now, after ? decodeCursor(after) : null, c);
  const run = (sql: string) => ds.query(...driver.escapeQueryWithParameters(sql, params));
  const table = c(meta.tableName);
  const [raw, count] = await Promise.all([
    run(`SELECT ${loaded.map((col) => c(col.databaseName)).join(", ")} FROM ${table}${paged} ORDER BY ${c("dueAt")} ASC, ${c("id")} ASC LIMIT ${first + 1}`),
    options.withTotal ? run(`SELECT COUNT(*) AS ${c("n")} FROM ${table}${filtered}`) : null,
  ]);
  const rows = (raw as Record<string, unknown>[]).slice(0, first).map((record) => {
    const row = new RequestRow();
    for (const col of loaded) col.setEntityValue(row, driver.prepareHydratedValue(record[col.databaseName], col));
    return row;
  });
  return { rows, cursors: rows.map(encodeCursor), hasNextPage: raw.length > first, hasPreviousPage: Boolean(after), totalCount: count ? Number(count[0].n) : null };
}

export async function findRequest(ds: DataSource, id: string): Promise<RequestRow> {
  return loadRequest(ds.manager, id);
}

/** The audit events of one request, oldest first. */
export async function findAuditEvents(ds: DataSource, requestId: string): Promise<AuditEventRow[]> {
  return ds.getRepository(AuditEventRow).find({ where: { requestId }, order: { seq: "ASC" } });
}
