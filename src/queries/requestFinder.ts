import { DataSource, EntityManager } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import { loadRequest } from "../commands/requestTransition";
import { RequestStatus, RequestType, TERMINAL_STATUSES } from "../domain/enums";
import { normalizeEmail } from "../domain/identities";
import type { RequestView } from "../presenters/request.presenter";
import { AuditEventRow, RequestRow } from "../entities";
import { isoFromSqliteText } from "../db/timestamps";
import { badField } from "../errors";

export interface RequestFilter {
  status?: RequestStatus[] | null;
  type?: RequestType[] | null;
  /** true: past due and still open; false: everything else. */
  overdue?: boolean | null;
  subjectEmail?: string | null;
}

export interface RequestPage {
  /** Rows with the loaded columns; on SQLite their dates are ISO 8601 text (Instants), on MySQL Dates. */
  rows: RequestView[];
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

/**
 * Opaque cursors: the (dueAt, id) position of each row in the due-date order, as base64url of the JSON
 * array [dueAt as ISO 8601, id] padded with spaces to a multiple of 3 bytes. The padding lets a page's
 * cursors be encoded together, one buffer instead of one per row (which was a quarter of the page's cost):
 * base64 turns each 3 bytes into 4 characters, so each cursor is a slice of the whole. Cursors without the
 * padding (earlier versions) decode the same way.
 */
export function encodeCursors(rows: readonly Pick<RequestView, "dueAt" | "id">[]): string[] {
  let text = "";
  const ends: number[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const json = cursorJson(rows[i]);
    text += json + CURSOR_PADDING[json.length % 3];
    ends[i] = text.length;
  }
  // One byte per character only when all are ASCII (ids are UUIDs); otherwise each cursor on its own.
  if (!/^[\x20-\x7e]*$/.test(text)) return rows.map(encodeOne);
  const encoded = Buffer.from(text, "latin1").toString("base64url");
  return ends.map((end, i) => encoded.slice(i ? (ends[i - 1] / 3) * 4 : 0, (end / 3) * 4));
}

const CURSOR_PADDING = ["", "  ", " "];

const cursorJson = ({ dueAt, id }: Pick<RequestView, "dueAt" | "id">) => `["${typeof dueAt === "string" ? dueAt : dueAt.toISOString()}",${JSON.stringify(id)}]`;

function encodeOne(row: Pick<RequestView, "dueAt" | "id">): string {
  const bytes = Buffer.from(cursorJson(row), "utf8");
  return Buffer.concat([bytes, Buffer.from(CURSOR_PADDING[bytes.length % 3])]).toString("base64url");
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
  if (filter.subjectEmail) add(`${c("subjectEmail")} = :email`, { email: normalizeEmail(filter.subjectEmail) });
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
  db: DataSource | EntityManager,
  now: Date,
  filter: RequestFilter,
  first: number,
  after?: string | null,
  options: PageOptions = {},
): Promise<RequestPage> {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw badField("first", `first must be between 1 and ${MAX_PAGE_SIZE}`);
  const ds = db instanceof EntityManager ? db.connection : db;
  const { driver } = ds;
  const meta = ds.getMetadata(RequestRow);
  const c = (column: string) => driver.escape(column);
  const loaded = options.columns ? meta.columns.filter((col) => col.propertyName === "id" || col.propertyName === "dueAt" || options.columns!.includes(col.propertyName as keyof RequestRow)) : meta.columns;
  const { filtered, paged, params } = conditions(filter, now, after ? decodeCursor(after) : null, c);
  const run = (sql: string) => db.query(...driver.escapeQueryWithParameters(sql, params));
  const table = c(meta.tableName);
  const columns = loaded.map((col) => c(col.databaseName)).join(", ");
  const pageSql = `SELECT ${columns} FROM ${table}${paged} ORDER BY ${c("dueAt")} ASC, ${c("id")} ASC LIMIT ${first + 1}`;
  const countSql = `SELECT COUNT(*) AS ${c("n")} FROM ${table}${filtered}`;
  const sqlite = ds.options.type === "better-sqlite3";
  let raw: unknown[][];
  let total: number | null = null;
  if (sqlite) {
    // One statement: the page as one JSON text (one string to hand over instead of an object per row and a
    // string per value) and, when asked for, the total beside it.
    const [r]: Array<{ page: string; n: number | null }> = await run(
      `SELECT json_group_array(json_array(${columns})) AS ${c("page")}, ${options.withTotal ? `(${countSql})` : "NULL"} AS ${c("n")} FROM (${pageSql})`,
    );
    raw = inKeyOrder(JSON.parse(r.page) as unknown[][], loaded.findIndex((col) => col.propertyName === "dueAt"), loaded.findIndex((col) => col.propertyName === "id"));
    total = r.n === null ? null : Number(r.n);
  } else {
    const [page, n] = await Promise.all([
      run(pageSql) as Promise<Record<string, unknown>[]>,
      options.withTotal ? (run(countSql) as Promise<Array<{ n: unknown }>>) : null,
    ]);
    raw = page.map((record) => loaded.map((col) => record[col.databaseName]));
    total = n ? Number(n[0].n) : null;
  }
  const hydrate = loaded.map((col) => hydrator(ds, col, sqlite));
  const rows = raw.slice(0, first).map((values) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < loaded.length; i++) row[loaded[i].propertyName] = hydrate[i](values[i]);
    return row as RequestView;
  });
  return { rows, cursors: encodeCursors(rows), hasNextPage: raw.length > first, hasPreviousPage: Boolean(after), totalCount: total };
}

/**
 * SQLite's json_group_array adds rows in the order the page query yields them, but does not promise it
 * (ordering inside the aggregate cost a third of the query): the order is checked, and restored if needed.
 * Stored timestamps (SQLite's text form) and ids compare as text the way ORDER BY compares them.
 */
export function inKeyOrder(rows: unknown[][], due: number, id: number): unknown[][] {
  const compare = (a: unknown[], b: unknown[]) => (a[due]! < b[due]! ? -1 : a[due]! > b[due]! ? 1 : a[id]! < b[id]! ? -1 : a[id]! > b[id]! ? 1 : 0);
  for (let i = 1; i < rows.length; i++) if (compare(rows[i - 1], rows[i]) > 0) return rows.sort(compare);
  return rows;
}

function hydrator(ds: DataSource, col: ColumnMetadata, sqlite: boolean): (value: unknown) => unknown {
  const prepare = (value: unknown) => ds.driver.prepareHydratedValue(value, col);
  if (col.transformer) return prepare;
  if (col.type === "varchar" || col.type === "text") return (value) => value;
  if (sqlite && col.type === "datetime") {
    return (value) => (typeof value === "string" ? (isoFromSqliteText(value) ?? prepare(value)) : prepare(value));
  }
  return prepare;
}

export async function findRequest(db: DataSource | EntityManager, id: string): Promise<RequestRow> {
  return loadRequest(db instanceof EntityManager ? db : db.manager, id);
}

/** The audit events that say what became of a request's one-time code (verificationCodeIssuer.ts). */
export const CODE_ACTIONS = ["request.submitted", "request.verification_code_sent", "request.verification_code_undelivered"];

/**
 * Whether the notifier took the request's current code, from the last of its CODE_ACTIONS events:
 * request.submitted or request.verification_code_sent when a code went out, and
 * request.verification_code_undelivered when the notifier refused it.
 */
export const deliveredBy = (last: Pick<AuditEventRow, "action"> | undefined): boolean => last?.action !== "request.verification_code_undelivered";

/** The audit events of one request, oldest first. */
export async function findAuditEvents(ds: DataSource, requestId: string): Promise<AuditEventRow[]> {
  return ds.getRepository(AuditEventRow).find({ where: { requestId }, order: { seq: "ASC" } });
}
