import type { Request } from "express";

/** Zendesk allows at most 100 items per page, cursor or offset. */
export const MAX_PAGE_SIZE = 100;

/** Thrown for pagination parameters Zendesk would refuse with 400. */
export class PaginationError extends Error {}

/** Where this call was addressed to, so that links point back at the stand-in itself. */
export function originOf(req: Request): string {
  return `${req.protocol}://${req.get("host")}`;
}

function linkTo(req: Request, params: Record<string, string>): string {
  const url = new URL(`${originOf(req)}${req.baseUrl}${req.path}`);
  // Filters go on to the next page, a repeated one (`role[]=agent&role[]=admin`) with each of its values.
  for (const [name, value] of Object.entries(req.query)) {
    if (name.startsWith("page") || name === "per_page") continue;
    for (const one of [value].flat()) if (typeof one === "string") url.searchParams.append(name, one);
  }
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

const encodeCursor = (id: number) => Buffer.from(`id:${id}`).toString("base64url");
function decodeCursor(cursor: string): number {
  const match = /^id:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!match) throw new PaginationError("page[after] is not a cursor this endpoint handed out");
  return Number(match[1]);
}

function size(raw: unknown, name: string): number {
  if (raw === undefined) return MAX_PAGE_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) throw new PaginationError(`${name} must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  return n;
}

/**
 * One page of `items` (sorted by id here) the way Zendesk pages its list endpoints: cursor pagination
 * when the call carries page[size] or page[after] (`meta.has_more`, `meta.after_cursor`, `links.next`),
 * otherwise offset pagination (`page`, `per_page`; `next_page`, `previous_page`, `count`). Cursors
 * name the last id served, so deleting items between pages neither skips nor repeats any.
 */
export function paginate<T extends { id: number }>(req: Request, key: string, items: readonly T[], present: (item: T) => unknown): Record<string, unknown> {
  const sorted = [...items].sort((a, b) => a.id - b.id);
  const q = req.query as Record<string, string | undefined>;
  if (q["page[size]"] !== undefined || q["page[after]"] !== undefined) {
    const limit = size(q["page[size]"], "page[size]");
    const after = q["page[after]"] ? decodeCursor(q["page[after]"]) : undefined;
    const rest = after === undefined ? sorted : sorted.filter((item) => item.id > after);
    const page = rest.slice(0, limit);
    const hasMore = rest.length > limit;
    const afterCursor = page.length ? encodeCursor(page[page.length - 1].id) : null;
    const beforeCursor = page.length ? encodeCursor(page[0].id) : null;
    return {
      [key]: page.map(present),
      meta: { has_more: hasMore, after_cursor: afterCursor, before_cursor: beforeCursor },
      links: { next: hasMore && afterCursor ? linkTo(req, { "page[size]": String(limit), "page[after]": afterCursor }) : null, prev: null },
    };
  }
  return offsetPage(req, key, sorted, present);
}

/**
 * One page of `items`, in their order, by offset (`page`, `per_page`, at most 100, its default; `next_page`,
 * `previous_page`, `count`), whatever else the call asks: how the lists that know no cursor answer.
 */
export function offsetPage<T>(req: Request, key: string, items: readonly T[], present: (item: T) => unknown): Record<string, unknown> {
  const q = req.query as Record<string, string | undefined>;
  const perPage = size(q.per_page, "per_page");
  const number = q.page === undefined ? 1 : Number(q.page);
  if (!Number.isInteger(number) || number < 1) throw new PaginationError("page must be a whole number from 1");
  const page = items.slice((number - 1) * perPage, number * perPage);
  const more = number * perPage < items.length;
  return {
    [key]: page.map(present),
    next_page: more ? linkTo(req, { page: String(number + 1), per_page: String(perPage) }) : null,
    previous_page: number > 1 ? linkTo(req, { page: String(number - 1), per_page: String(perPage) }) : null,
    count: items.length,
  };
}
