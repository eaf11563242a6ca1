/**
 * How the declarative HTTP connector reads a listing (the subject search, a resource's records, the
 * roster of everyone) page by page, as its `pagination` says, and refuses to take part of a list for
 * all of it: a 404, a sign that more pages follow where none is read, a next page asked for before, a
 * numbered page repeating the one before, a listing past its page limit.
 */

import { createHash } from "node:crypto";
import { stringify as stringifyLossless } from "lossless-json";
import { ConnectorError, TaskContext } from "../sdk";
import type { Pagination } from "./config";
import { pick } from "./pick";

/** What a listing is read for: a subject's collect or erase, or a roster of everyone. */
export type Op = "collect" | "erase" | "roster";
/** What stopping short would have done, for the errors that refuse to. */
export const DOING: Record<Op, string> = { collect: "collect", erase: "erase", roster: "list" };
/** What a listing needs of its caller's context: a task's, or a roster job's. */
export type ListingContext = Pick<TaskContext, "signal" | "heartbeat" | "logger">;

/** One listing: where it is, where its items are in an answer, how it pages, and the settings to name when it goes wrong. */
export interface Listing {
  /** What is listed, for messages (`note records`). */
  what: string;
  path: string;
  query: Record<string, string>;
  /** Dotted path of the array of items in an answer. */
  items: string;
  /** The setting to check when an answer has no array there. */
  itemsHint: string;
  pagination: Pagination;
  /** Pages at most and the setting saying so, when not the connector's maxPages. */
  maxPages?: { pages: number; setting: string };
  /** The setting to check when the path answers 404. */
  pathHint: string;
}

/** What a listing reads its pages through: the connector's reads, URLs and limits. */
export interface PageSource {
  /** The connector's name, for messages. */
  name: string;
  /** Where the API is: a next link leading elsewhere is refused (it would carry the credentials there). */
  base: URL;
  /** Pages of one listing at most, unless the listing says otherwise (the configuration's maxPages). */
  maxPages: number;
  urlOf(path: string, query?: Record<string, string | number>): URL;
  read(url: URL, op: Op, ctx: ListingContext): Promise<{ status: number; body: unknown; link: string | null }>;
}

/**
 * Every item of a listing, page by page (a heartbeat per page). A 404 fails it, naming `pathHint`: a
 * path the API does not serve (a typo, a retired version) read as an empty list would be "no such
 * person" or "no such records", and a deletion COMPLETED with everything in place. But for a numbered
 * page after the first: the path answered before, so that 404 says the page is past the last. Past its page
 * limit (maxPages, or the roster's) it fails: ending there would hand back the pages read as if they
 * were all.
 */
export async function* listPages(source: PageSource, l: Listing, op: Op, ctx: ListingContext): AsyncGenerator<Record<string, unknown>> {
  const { name, base, read, urlOf } = source;
  const p = l.pagination;
  // The configured field gave no next page: the end, unless the answer says more follow (a field
  // misnamed in the configuration), where ending would hand back the first pages as the whole list.
  const lastPage = (body: unknown, link: string | null, setting: string): undefined => {
    const more = morePagesMarker(body, link);
    if (!more) return undefined;
    throw new ConnectorError(
      `${name}: listing ${l.what} answered that more pages follow (${more}), but ${setting} holds no next page, so the ${op} stopped rather than ${DOING[op]} only the pages read. Check the pagination (see docs/connectors.md)`,
      `${name} ${op}: ${l.what} has more pages (${more}) with nothing at ${setting}`,
      false,
    );
  };
  /** The URL of the page after `url`, undefined when `url` was the last. */
  const nextPage = (p: Pagination, url: URL, page: number, count: number, body: unknown, link: string | null): URL | undefined => {
    if (p.type === "none") return undefined;
    if (p.type === "page") {
      // A short page is the last, unless the answer says more follow: an API that caps its page size
      // below `size` answers short pages throughout, and ending at the first would miss the rest.
      if (count === 0 || (count < p.size && !morePagesMarker(body, link))) return undefined;
      const next = new URL(url);
      next.searchParams.set(p.pageParam, String(page + 1));
      return next;
    }
    if (p.type === "cursor") {
      const cursor = pick(body, p.nextCursor);
      if (cursor === null || cursor === undefined || cursor === "") return lastPage(body, link, `pagination.nextCursor (${p.nextCursor})`);
      const next = new URL(url);
      next.searchParams.set(p.cursorParam, String(cursor));
      return next;
    }
    const href = pick(body, p.next);
    if (typeof href !== "string" || !href) return lastPage(body, link, `pagination.next (${p.next})`);
    // Relative to the page it came on (as a Link or an HTML href is), not to baseUrl.
    const next = new URL(href, url);
    // A next link elsewhere would carry our credentials there.
    if (next.origin !== base.origin) throw new ConnectorError(`${name}: a next-page link leads away from ${base.host}; refused`, `${name}: next link to ${next.origin}`, false);
    return next;
  };
  let url = urlOf(l.path, { ...l.query, ...(p.type === "page" ? { [p.pageParam]: 1, [p.sizeParam]: p.size } : p.type === "cursor" && p.sizeParam && p.size ? { [p.sizeParam]: p.size } : {}) });
  const { pages: maxPages, setting } = l.maxPages ?? { pages: source.maxPages, setting: "maxPages" };
  // Every page asked for so far by cursor or link: one asked for again is a loop (a cursor handed
  // back, or a cursorParam the API does not read), which would yield the same records again until
  // maxPages, and then fail anyway. Numbered pages never repeat, and are not kept.
  const asked = new Set<string>([url.toString()]);
  // A numbered page answering what the page before answered (an API that does not read pageParam)
  // loops the same way: its records, as a digest, are kept for the next page only.
  let previous: string | undefined;
  for (let page = 1; page <= maxPages; page += 1) {
    const { status, body, link } = await read(url, op, ctx);
    // A numbered page after a full one answering 404 is past the last ("Invalid page.", as Django REST
    // framework answers): the path answered page 1, so the 404 is about the page, not the path.
    if (status === 404 && p.type === "page" && page > 1) return;
    if (status === 404) throw new ConnectorError(`${name}: ${base.host} has no ${url.pathname} (HTTP 404); check ${l.pathHint}`, `${name} ${op}: ${l.what} answered 404`, false);
    const list = pick(body, l.items);
    if (!Array.isArray(list)) throw new ConnectorError(`${name}: listing ${l.what} answered without ${l.items}; check ${l.itemsHint}`, `${name}: no array at ${l.items}`, false);
    // Configured as one page, yet the answer says more follow: reading on would be a guess, ending
    // here would hand back part of the list as all of it.
    const more = p.type === "none" ? morePagesMarker(body, link) : undefined;
    if (more) {
      throw new ConnectorError(
        `${name}: listing ${l.what} answered that more pages follow (${more}), but no pagination is configured for it, so the ${op} stopped rather than ${DOING[op]} only the first page. Set its pagination (see docs/connectors.md)`,
        `${name} ${op}: ${l.what} has more pages (${more}) with pagination none`,
        false,
      );
    }
    if (p.type === "page" && list.length) {
      const digest = createHash("sha256").update(stringifyLossless(list) ?? "").digest("hex");
      if (digest === previous) {
        throw new ConnectorError(
          `${name}: listing ${l.what} answered, on page ${page}, the same records as on page ${page - 1} (a pageParam the API does not read?), so the ${op} stopped rather than ${DOING[op]} the same records again. Check the pagination`,
          `${name} ${op}: ${l.what} page ${page} repeats page ${page - 1}`,
          false,
        );
      }
      previous = digest;
    }
    // The next page is found (and a loop refused) before this page's items are handed on: a page
    // answered again would otherwise hand them on twice before the loop shows.
    const next = nextPage(p, url, page, list.length, body, link);
    if (next && p.type !== "page" && asked.has(next.toString())) {
      throw new ConnectorError(
        `${name}: listing ${l.what} answered, on page ${page}, a next page it had answered before (a cursor or link that loops), so the ${op} stopped rather than ${DOING[op]} the same records again. Check the pagination`,
        `${name} ${op}: ${l.what} pages loop at page ${page}`,
        false,
      );
    }
    for (const item of list) yield item as Record<string, unknown>;
    await ctx.heartbeat();
    if (!next) return;
    url = next;
    if (p.type !== "page") asked.add(url.toString());
  }
  throw new ConnectorError(
    `${name}: listing ${l.what} went past ${maxPages} pages, so the ${op} stopped rather than ${DOING[op]} only some of them. Check the pagination (a next link or cursor that never ends), or raise ${setting}`,
    `${name} ${op}: ${l.what} past ${setting} (${maxPages})`,
    false,
  );
}

/** Fields by which a page says that more pages follow (a true flag, or a next cursor, token or link). */
const MORE_FLAGS = ["has_more", "hasMore", "more"];
const NEXT_FIELDS = ["next", "next_page", "nextPage", "next_cursor", "nextCursor", "next_page_token", "nextPageToken", "next_url", "nextUrl", "@odata.nextLink"];
/** Where APIs put them: on the answer itself, or in one of these objects. */
const MARKER_HOLDERS = ["", "meta", "links", "pagination", "paging", "page_info", "pageInfo"];

/**
 * The sign, if any, that an answer is one page of several: a Link header with rel="next", or a field
 * of MORE_FLAGS that is true, or of NEXT_FIELDS that holds a cursor or link, on the answer or in one
 * of MARKER_HOLDERS. Returned as it is named (for the error), undefined when there is none.
 */
export function morePagesMarker(body: unknown, link: string | null): string | undefined {
  if (link && /<[^>]*>\s*;[^,]*\brel\s*=\s*"?next"?/i.test(link)) return 'a Link header with rel="next"';
  if (!body || typeof body !== "object" || Array.isArray(body)) return undefined;
  for (const holder of MARKER_HOLDERS) {
    const o = holder ? (body as Record<string, unknown>)[holder] : body;
    if (!o || typeof o !== "object" || Array.isArray(o)) continue;
    const at = (field: string) => (holder ? `${holder}.${field}` : field);
    for (const flag of MORE_FLAGS) if ((o as Record<string, unknown>)[flag] === true) return `${at(flag)}: true`;
    for (const field of NEXT_FIELDS) {
      const v = (o as Record<string, unknown>)[field];
      if ((typeof v === "string" && v !== "") || (typeof v === "number" && Number.isFinite(v)) || typeof v === "bigint") return at(field);
    }
  }
  return undefined;
}
