import { Brackets, DataSource, SelectQueryBuilder } from "typeorm";
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

function applyFilter(qb: SelectQueryBuilder<RequestRow>, filter: RequestFilter, now: Date): SelectQueryBuilder<RequestRow> {
  if (filter.status?.length) qb.andWhere("r.status IN (:...statuses)", { statuses: filter.status });
  if (filter.type?.length) qb.andWhere("r.type IN (:...types)", { types: filter.type });
  if (filter.subjectEmail) qb.andWhere("r.subjectEmail = :email", { email: filter.subjectEmail.trim().toLowerCase() });
  if (filter.overdue === true) {
    qb.andWhere("r.dueAt < :now AND r.status NOT IN (:...terminal)", { now, terminal: TERMINAL_STATUSES });
  } else if (filter.overdue === false) {
    qb.andWhere("(r.dueAt >= :now OR r.status IN (:...terminal))", { now, terminal: TERMINAL_STATUSES });
  }
  return qb;
}

/** Requests in due-date order (soonest first, id breaking ties), one keyset page at a time. */
export async function findRequests(
  ds: DataSource,
  now: Date,
  filter: RequestFilter,
  first: number,
  after?: string | null,
  options: PageOptions = {},
): Promise<RequestPage> {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) throw badField("first", `first must be between 1 and ${MAX_PAGE_SIZE}`);
  const base = () => applyFilter(ds.getRepository(RequestRow).createQueryBuilder("r"), filter, now);
  const page = base();
  if (options.columns) page.select([...new Set<string>(["id", "dueAt", ...options.columns])].map((c) => `r.${c}`));
  if (after) {
    const c = decodeCursor(after);
    page.andWhere(
      new Brackets((w) => w.where("r.dueAt > :cDue", { cDue: c.dueAt }).orWhere("r.dueAt = :cDue AND r.id > :cId", { cDue: c.dueAt, cId: c.id })),
    );
  }
  const [rows, totalCount] = await Promise.all([
    page.orderBy("r.dueAt", "ASC").addOrderBy("r.id", "ASC").take(first + 1).getMany(),
    options.withTotal ? base().getCount() : null,
  ]);
  const hasNextPage = rows.length > first;
  const kept = rows.slice(0, first);
  return { rows: kept, cursors: kept.map(encodeCursor), hasNextPage, hasPreviousPage: Boolean(after), totalCount };
}

export async function findRequest(ds: DataSource, id: string): Promise<RequestRow> {
  return loadRequest(ds.manager, id);
}

/** The audit events of one request, oldest first. */
export async function findAuditEvents(ds: DataSource, requestId: string): Promise<AuditEventRow[]> {
  return ds.getRepository(AuditEventRow).find({ where: { requestId }, order: { seq: "ASC" } });
}
