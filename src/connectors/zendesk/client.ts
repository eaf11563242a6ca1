import Bottleneck from "bottleneck";
import { setTimeout as delay } from "node:timers/promises";
import { deadline } from "../../deadline";
import { withInlineRetry } from "../inlineRetry";
import { ConnectorError, retryAfterMs, TaskContext } from "../sdk";
import type { ResolvedZendeskOptions } from "./config";

/** The calls of the connector, named in error messages. */
export type Operation = "check" | "collect" | "erase" | "roster";

/** What a call needs from its caller: where to stop, where to log, and (while paging) a heartbeat. */
export type CallContext = Pick<TaskContext, "signal" | "logger"> & { heartbeat?: () => Promise<void> };

/** A parsed JSON answer; 404 comes back (callers decide what absence means), every other failure throws (see ZendeskClient.get's `answered`). */
export interface ZendeskReply<T> {
  status: number;
  body: T;
}

/** The part of a Zendesk job status the connector reads. */
export interface JobState {
  id?: string;
  status?: string;
}

/** Cursor pagination, as Zendesk documents it for its list endpoints; `next_page` is offset pagination's link. */
interface CursorPage {
  meta?: { has_more?: boolean };
  links?: { next?: string | null };
  next_page?: string | null;
}

/**
 * What a successful answer must hold to be the one asked for: the object (or, with `list`, the array)
 * under `key`. A 200 without it (an error body, a proxy's page) is not "none": taken as empty it would
 * read as the subject having no tickets, and an erasure would report done with them untouched.
 */
export interface Expect {
  key: string;
  list?: boolean;
}

/**
 * How a list endpoint pages: by cursor (`page[size]`, `links.next`), which most offer, or by offset
 * (`per_page`, `next_page`), the only way some do (the user search answers 400 to `page[size]`).
 */
export type Paging = "cursor" | "offset";

/**
 * Zendesk Support API calls with basic token auth, a request rate spread evenly by bottleneck, a time
 * limit per call and faults turned into ConnectorErrors: 429 and 5xx carry Retry-After as retryAfterMs,
 * 401/403 are not retryable. Reads (GET) are retried inline a few times; writes never are, because a
 * write whose answer was lost must be re-read before it is repeated (erase does that on its next run).
 */
export class ZendeskClient {
  private readonly limiter: Bottleneck;
  private readonly authorization: string;
  private readonly origin: string;

  constructor(private readonly o: ResolvedZendeskOptions) {
    this.limiter = new Bottleneck({ minTime: Math.ceil(60_000 / o.requestsPerMinute) });
    this.authorization = `Basic ${Buffer.from(`${o.email}/token:${o.apiToken}`).toString("base64")}`;
    this.origin = new URL(o.baseUrl).origin;
  }

  /** A URL under /api/v2/ for a path, or a link Zendesk handed out (only on this account's origin). */
  private url(pathOrLink: string, op: Operation): URL {
    const url = /^https?:/.test(pathOrLink) ? new URL(pathOrLink) : new URL(`${this.o.baseUrl}/api/v2/${pathOrLink}`);
    // The token goes with every call: never send it to a host a response named.
    if (url.origin !== this.origin) throw new ConnectorError(`${this.o.name}: Zendesk answered with a link to another host; the ${op} stopped`, `${op}: pagination link outside ${this.origin}`, false);
    return url;
  }

  private stopped(op: Operation, signal: AbortSignal): ConnectorError {
    return new ConnectorError(`${this.o.name}: the ${op} was stopped before it finished; it resumes on the next attempt`, `aborted: ${String(signal.reason)}`, true);
  }

  /** One HTTP exchange, through the rate limiter, with the per-call time limit. */
  private async once<T>(method: string, url: URL, op: Operation, ctx: CallContext, body?: unknown, answered: readonly number[] = NOT_FOUND, expect?: Expect): Promise<ZendeskReply<T>> {
    // Paths carry the subject's user id: internal messages (logged) name the route, never the id.
    const where = `${op} ${method} ${url.pathname.replace(/\d+/g, "{id}")}`;
    return this.limiter.schedule(async () => {
      if (ctx.signal.aborted) throw this.stopped(op, ctx.signal);
      // A deadline of its own: a timeout signal inside AbortSignal.any can be garbage-collected unfired (deadline.ts).
      const limit = deadline(this.o.timeoutMs);
      const signal = AbortSignal.any([ctx.signal, limit.signal]);
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method,
          signal,
          headers: { authorization: this.authorization, accept: "application/json", ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          // Not followed: the subject's address travels in search URLs (an answer like any other non-2xx).
          redirect: "manual",
        });
        text = await response.text();
      } catch (error) {
        if (ctx.signal.aborted) throw this.stopped(op, ctx.signal);
        if (limit.signal.aborted) throw new ConnectorError(`${this.o.name}: Zendesk did not answer within ${this.o.timeoutMs} ms; the task will be retried`, `${where}: timed out`, true);
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
        throw new ConnectorError(`${this.o.name}: Zendesk is unreachable (${cause}); the task will be retried`, `${where}: ${cause}`, true);
      } finally {
        limit.clear();
      }
      const { status } = response;
      if (status === 429 || status >= 500) {
        const wait = retryAfterMs(response.headers.get("retry-after"));
        const what = status === 429 ? "is limiting the request rate" : `answered ${status}`;
        throw new ConnectorError(`${this.o.name}: Zendesk ${what}; the task will be retried`, `${where}: HTTP ${status}${wait === undefined ? "" : `, retry after ${wait} ms`}`, true, wait);
      }
      if ((status === 401 || status === 403) && !answered.includes(status)) {
        throw new ConnectorError(`${this.o.name}: Zendesk refused the credentials (HTTP ${status}); check the connector's email and API token, and that token access is enabled`, `${where}: HTTP ${status}`, false);
      }
      if (!answered.includes(status) && (status < 200 || status >= 300)) {
        throw new ConnectorError(`${this.o.name}: Zendesk refused the ${op} (HTTP ${status}); details are in the service log`, `${where}: HTTP ${status} ${errorCode(text)}`, false);
      }
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : {};
      } catch {
        throw new ConnectorError(`${this.o.name}: Zendesk sent an answer that could not be read; the task will be retried`, `${where}: HTTP ${status} with a body that is not JSON`, true);
      }
      if (expect && status >= 200 && status < 300 && !holds(parsed, expect)) {
        throw new ConnectorError(
          `${this.o.name}: Zendesk answered the ${op} without what was asked for (an error in a successful answer); the task will be retried`,
          `${where}: HTTP ${status} without ${expect.list ? "a list" : "an object"} "${expect.key}" ${errorCode(text)}`,
          true,
        );
      }
      return { status, body: parsed as T };
    });
  }

  /**
   * A GET, retried inline (after Retry-After, or a short backoff) while the wait stays short. The
   * statuses in `answered` (404 unless told) come back as replies; every other failure throws.
   */
  async get<T>(pathOrLink: string, op: Operation, ctx: CallContext, retries = this.o.readRetries, answered: readonly number[] = NOT_FOUND, expect?: Expect): Promise<ZendeskReply<T>> {
    const url = this.url(pathOrLink, op);
    return withInlineRetry(() => this.once<T>("GET", url, op, ctx, undefined, answered, expect), {
      retries,
      maxWaitMs: this.o.maxInlineWaitMs,
      signal: ctx.signal,
      stopped: () => this.stopped(op, ctx.signal),
      heartbeat: ctx.heartbeat && (() => ctx.heartbeat!()),
      onRetry: (attempt, waitMs, error) => ctx.logger.debug({ connector: this.o.name, op, attempt, waitMs, internal: error.internalMessage }, "zendesk read retried"),
    });
  }

  /** A write (PUT, DELETE), sent once. */
  send<T>(method: "PUT" | "DELETE", path: string, op: Operation, ctx: CallContext, body?: unknown): Promise<ZendeskReply<T>> {
    return this.once<T>(method, this.url(path, op), op, ctx, body);
  }

  /**
   * Every item of a paginated list (by cursor unless `paging` says offset), one page in memory at a
   * time, with a heartbeat per page. `onPage` sees each page's whole answer before its items (what it
   * sideloads, e.g. `users`). A list Zendesk does not find (404) is empty.
   */
  async *list<T>(path: string, key: string, op: Operation, ctx: CallContext, onPage?: (page: Record<string, unknown>) => void, paging: Paging = "cursor"): AsyncGenerator<T> {
    yield* this.pages<T>(path, key, op, ctx, { onPage, paging });
  }

  /**
   * Every item of a list Zendesk refuses (403) when the account lacks what serves it (an add-on such
   * as Collaboration, for side conversations): `refused` hears of it, and the list is empty.
   */
  async *listUnlessRefused<T>(path: string, key: string, op: Operation, ctx: CallContext, refused: () => void): AsyncGenerator<T> {
    yield* this.pages<T>(path, key, op, ctx, { refused });
  }

  private async *pages<T>(path: string, key: string, op: Operation, ctx: CallContext, how: { onPage?: (page: Record<string, unknown>) => void; paging?: Paging; refused?: () => void }): AsyncGenerator<T> {
    const paging = how.paging ?? "cursor";
    let next: string | null | undefined = `${path}${path.includes("?") ? "&" : "?"}${paging === "cursor" ? "page[size]" : "per_page"}=${this.o.pageSize}`;
    while (next) {
      const { status, body }: ZendeskReply<CursorPage & Record<string, T[] | undefined>> = await this.get(next, op, ctx, this.o.readRetries, how.refused ? NOT_FOUND_OR_REFUSED : NOT_FOUND, { key, list: true });
      if (status === 403) how.refused?.();
      if (status === 404 || status === 403) return;
      how.onPage?.(body);
      yield* body[key] ?? [];
      // An answer by offset to a cursor call (side conversations and their events answer so, as Zendesk
      // documents them) goes on through next_page: read as a cursor answer it would end at its first page.
      next = paging === "offset" || !body.meta ? body.next_page : body.meta.has_more ? body.links?.next : null;
      // More promised and no way to it: stopping here would pass the rest over as if there were none.
      if (paging === "cursor" && body.meta?.has_more && !next) {
        throw new ConnectorError(`${this.o.name}: Zendesk said a list goes on but gave no link to the rest; the task will be retried`, `${op}: has_more without links.next`, true);
      }
      await ctx.heartbeat?.();
      if (ctx.signal.aborted) throw this.stopped(op, ctx.signal);
    }
  }

  /**
   * Waits for a background job (Zendesk answers some writes, such as a permanent ticket deletion, with a
   * queued job status) to complete, polling its status with growing pauses for up to `timeoutMs` x 4.
   * A job that fails, vanishes or outlasts the wait is a retryable error: the caller's unit of work is
   * then unfinished, and the next attempt repeats the write (which Zendesk refuses with 404 once done).
   */
  async awaitJob(queued: JobState | undefined, op: Operation, ctx: CallContext): Promise<void> {
    if (!queued?.id) return;
    const path = `job_statuses/${encodeURIComponent(queued.id)}.json`;
    const until = performance.now() + this.o.timeoutMs * 4;
    let state: string | undefined = queued.status;
    for (let round = 0; state !== "completed"; round += 1) {
      if (state === "failed" || state === "killed") {
        throw new ConnectorError(`${this.o.name}: a Zendesk background job of the ${op} failed; the task will be retried`, `${op}: job ${state}`, true);
      }
      if (performance.now() > until) throw new ConnectorError(`${this.o.name}: Zendesk is still working on the ${op}; the task will be retried`, `${op}: job still ${state}`, true);
      await delay(Math.min(2000, 50 * 2 ** round), undefined, { signal: ctx.signal }).catch(() => {
        throw this.stopped(op, ctx.signal);
      });
      const reply: ZendeskReply<{ job_status?: JobState }> = await this.get(path, op, ctx);
      if (reply.status === 404 || !reply.body.job_status) throw new ConnectorError(`${this.o.name}: Zendesk lost track of a background job of the ${op}; the task will be retried`, `${op}: job status gone`, true);
      state = reply.body.job_status.status;
    }
  }

  /** Drops calls still waiting for the rate limiter. */
  async close(): Promise<void> {
    await this.limiter.stop({ dropWaitingJobs: true });
  }
}

/** The statuses a read answers with rather than throws: absence (callers decide what it means). */
const NOT_FOUND: readonly number[] = [404];
/** And a refusal, for lists that exist only with an add-on (see listUnlessRefused). */
const NOT_FOUND_OR_REFUSED: readonly number[] = [403, 404];

/** Whether a parsed answer holds what `expect` names (see Expect). */
function holds(parsed: unknown, expect: Expect): boolean {
  const value = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>)[expect.key] : undefined;
  return expect.list ? Array.isArray(value) : typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Zendesk's error code from an error body (e.g. RecordInvalid); its details can echo values, so they are left out. */
function errorCode(text: string): string {
  try {
    const code = (JSON.parse(text) as { error?: unknown }).error;
    return typeof code === "string" && /^[A-Za-z ']{1,60}$/.test(code) ? code : "";
  } catch {
    return "";
  }
}
