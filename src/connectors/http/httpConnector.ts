import { randomBytes, randomInt, randomUUID } from "node:crypto";
import Bottleneck from "bottleneck";
import { stringify as stringifyLossless } from "lossless-json";
import { exactValue, readJson } from "../exactJson";
import { emailProblem, emailSpellings, normalizeEmail } from "../../domain/identities";
import { appendTo } from "../../domain/multiMap";
import { deadline } from "../../deadline";
import { withInlineRetry } from "../inlineRetry";
import { readRecordedAt, unreadableReason } from "../recordedAt";
import { KeptTally } from "../keptTally";
import { CheckResult, Connector, ConnectorConfigError, ConnectorError, ErasureInstruction, ErasureOutcome, HeldBackOutcome, Identities, RecordRef, ResidualRecords, retryAfterMs, RosterContext, SubjectRecord, TaskContext } from "../sdk";
import { HttpAccountConfig, HttpConnectorConfig, HttpErase, HttpResourceConfig, HttpRosterConfig, httpConfigProblems } from "./config";
import { DOING, listPages, Listing, ListingContext, Op } from "./pagination";
import { pick, withValues } from "./pick";
import { listHttpSubjects } from "./roster";

const DEFAULT_RETRYABLE = [408, 425, 429, 500, 502, 503, 504];
/** Pages of one resource listed for one subject at most, unless the configuration's maxPages says otherwise. */
const MAX_PAGES = 10_000;
/** Pages of the roster's listing of everyone at most, unless roster.maxPages says otherwise (10 million people in pages of 100). */
const ROSTER_MAX_PAGES = 100_000;

/** Items of the roster's listing looked through, at most, for an address to ask the subject search for in other case. */
const ROSTER_ADDRESS_LOOKS = 100;

/** The roster's listing of everyone, as `listed` reads it. */
const rosterListing = (roster: HttpRosterConfig) => ({
  what: "everyone (roster)",
  path: roster.path,
  query: roster.query ?? {},
  items: roster.items,
  itemsHint: "roster.items",
  pagination: roster.pagination,
  maxPages: { pages: roster.maxPages ?? ROSTER_MAX_PAGES, setting: "roster.maxPages" },
  pathHint: "roster.path",
});

/** Bytes one answer may hold, unless the configuration's maxResponseBytes says otherwise. */
const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/**
 * An answer's body as text, read chunk by chunk; undefined (the rest left unread, the connection
 * dropped) once it passes `maxBytes`, whatever its Content-Length claimed.
 */
async function bodyText(response: Response, maxBytes: number): Promise<string | undefined> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Whether a write's answer says the record is no longer there (404, or 410 Gone): nothing erased by this call. */
const alreadyGone = (status: number) => status === 404 || status === 410;

/**
 * LOST_WRITE_GONE: what a 404 (or 410) to a DELETE sent again means. Each write is one unit of erasure
 * whose note names its record (writeNote); a write whose answer never came (a 503 from a proxy after the
 * system deleted, a connection dropped after the delete, a time limit) fails its unit and leaves the note
 * to the task's next attempt, which sends the same DELETE again (same idempotency key). Gone then, the
 * record is counted erased: this request listed it as the person's and due for erasure, and sent its
 * DELETE; the system no longer holds it. Most likely that DELETE did it; if someone removed it in the
 * moment between, the system still lost it while this request erased it, and it holds nothing of hers,
 * so it is no residue. Counting it nothing would report fewer erased than the system lost (erased 3 of
 * the 4 deleted, matchesPlan false, yet COMPLETED). A 404 to a first DELETE (no note) still counts
 * nothing: the record went between the listing and a call this request had not yet made. Each note is
 * counted once: a unit that ends well finishes the earlier attempts' units of its note (holdFence).
 */
const writeKey = (type: string, id: string) => JSON.stringify([type, id]);
const WRITE_NOTE = "http-write:";
/** A write's unit note (no personal data: a record type and ids), or none when it would pass the 500 characters a note holds. */
const writeNote = (type: string, subject: string, id: string): string | undefined => {
  const note = `${WRITE_NOTE}${JSON.stringify([type, subject, id])}`;
  return note.length <= 500 ? note : undefined;
};
/** The writes earlier attempts' unit notes name (writeNote), by writeKey. */
const lostWrites = (notes: readonly string[]): Map<string, { type: string; subject: string; id: string }> => {
  const lost = new Map<string, { type: string; subject: string; id: string }>();
  for (const note of notes) {
    if (!note.startsWith(WRITE_NOTE)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(note.slice(WRITE_NOTE.length));
    } catch {
      continue;
    }
    if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((v) => typeof v === "string")) continue;
    const [type, subject, id] = parsed as string[];
    lost.set(writeKey(type, id), { type, subject, id });
  }
  return lost;
};

/**
 * `{name}` placeholders filled with URL-encoded values. An id of `.` or `..` (which encoding leaves as
 * it is) is refused: in a path it is a step up, so `/notes/{record}` would reach `/` instead.
 */
function fill(connector: string, template: string, values: Record<string, string>): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, key: string) => {
    if (!(key in values)) return whole;
    if (values[key] === "." || values[key] === "..") {
      throw new ConnectorError(`${connector}: the system answered an id "${values[key]}" for {${key}}, which would lead the call elsewhere in its API; refused`, `${connector}: dot segment as {${key}}`, false);
    }
    return encodeURIComponent(values[key]);
  });
}

type Call = { method: string; url: URL; body?: unknown; op: string; ctx: Pick<TaskContext, "signal"> & Partial<Pick<TaskContext, "idempotencyKey">>; key?: string };

/**
 * The declarative HTTP connector: a REST system connected by configuration alone (see config.ts and
 * docs/connectors.md). Calls are spaced to requestsPerSecond; a retryable status or a network failure is
 * a retryable ConnectorError carrying Retry-After (a read is first repeated inline, readRetries times);
 * erasure deletes or anonymises record by record with an idempotency key per record, after listing
 * them, and counts a record already gone (404 or 410) as nothing.
 */
export function createHttpConnector(config: HttpConnectorConfig, env: NodeJS.ProcessEnv = process.env): Connector & { close(): Promise<void> } {
  const problems = httpConfigProblems(config, env);
  if (problems.length) throw new ConnectorConfigError(String((config as Partial<HttpConnectorConfig> | null)?.name ?? ""), problems, "HTTP connector");
  const c: HttpConnectorConfig = structuredClone(config);
  const name = c.name;
  const base = new URL(c.baseUrl.endsWith("/") ? c.baseUrl : `${c.baseUrl}/`);
  const retryable = new Set(c.retryableStatuses ?? DEFAULT_RETRYABLE);
  const maxBytes = c.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const limiter = new Bottleneck({ minTime: Math.ceil(1000 / (c.requestsPerSecond ?? 5)), maxConcurrent: 1 });
  const secretVariable = c.auth.type === "bearer" ? c.auth.tokenEnv : c.auth.type === "header" ? c.auth.valueEnv : `${c.auth.userEnv}/${c.auth.passwordEnv}`;
  const authHeader: [string, string] =
    c.auth.type === "bearer"
      ? ["authorization", `Bearer ${env[c.auth.tokenEnv]}`]
      : c.auth.type === "header"
        ? [c.auth.header, env[c.auth.valueEnv]!]
        : ["authorization", `Basic ${Buffer.from(`${env[c.auth.userEnv]}:${env[c.auth.passwordEnv]}`).toString("base64")}`];
  const urlOf = (path: string, query: Record<string, string | number> = {}) => {
    const url = new URL(path.replace(/^\//, ""), base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v));
    return url;
  };

  /** The task must stop (lease lost, shutdown): the work resumes on the next attempt. */
  const stopped = (op: string) => new ConnectorError(`${name}: the ${op} was stopped before it finished; it resumes on the next attempt`, "aborted", true);

  /** One call through the rate limiter; answers 2xx and 404 (and 410 to a write), throws a ConnectorError for anything else. */
  const send = ({ method, url, body, op, ctx, key }: Call): Promise<{ status: number; body: unknown; link: string | null }> =>
    limiter.schedule(async () => {
      if (ctx.signal.aborted) throw stopped(op);
      // timeoutMs bounds the whole call, its body included (a body that never ends: a trickle, a proxy
      // holding the connection), by a deadline that fires whatever the garbage collector does (deadline.ts).
      const limit = deadline(c.timeoutMs ?? 10_000, `no full answer within ${c.timeoutMs ?? 10_000} ms`);
      try {
        let response: Response;
        try {
          response = await fetch(url, {
            method,
            headers: { accept: "application/json", [authHeader[0]]: authHeader[1], ...(body === undefined ? {} : { "content-type": "application/json" }), ...(key ? { "idempotency-key": key } : {}) },
            // A record sent back whole (an ANONYMIZE by PUT) keeps its integers past 2^53 exact (read as BigInts).
            body: body === undefined ? undefined : stringifyLossless(body),
            signal: AbortSignal.any([ctx.signal, limit.signal]),
            // Followed, a redirect to another host takes the auth header (fetch drops only Authorization)
            // and the subject's identities in the URL or body along: it is an answer like any other.
            redirect: "manual",
          });
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
          throw new ConnectorError(`${name}: ${base.host} did not answer (${cause}); the task will be retried`, `${name} ${op} ${method} ${url.pathname}: ${cause}`, true);
        }
        const where = `${name} ${op} ${method} ${url.pathname}: HTTP ${response.status}`;
        let text: string | undefined;
        try {
          text = await bodyText(response, maxBytes);
        } catch (error) {
          // The answer stopped part-way: the time limit, the task's signal, or a connection dropped.
          const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
          throw new ConnectorError(`${name}: ${base.host} did not finish its answer (${cause}); the task will be retried`, `${where}: body ${cause}`, true);
        }
        if (text === undefined) {
          throw new ConnectorError(`${name}: ${base.host} answered the ${op} with more than ${maxBytes} bytes, so it was not read on; lower the page size, or raise maxResponseBytes`, `${where}: answer past ${maxBytes} bytes`, false);
        }
        if (retryable.has(response.status)) {
          throw new ConnectorError(`${name}: ${base.host} answered HTTP ${response.status}; the task will be retried`, where, true, retryAfterMs(response.headers.get("retry-after")));
        }
        if (response.status === 401 || response.status === 403) throw new ConnectorError(`${name}: ${base.host} refused the credentials (HTTP ${response.status}); check ${secretVariable}`, where, false);
        if (response.status >= 300 && response.status <= 399) {
          throw new ConnectorError(`${name}: ${base.host} answered the ${op} with a redirect (HTTP ${response.status}), which is not followed; set baseUrl to the address that answers`, where, false);
        }
        // 410 Gone answers a write of a record deleted meanwhile, as 404 does; a read answering it fails (a path no longer served).
        const gone = method === "GET" ? response.status === 404 : alreadyGone(response.status);
        if (!gone && (response.status < 200 || response.status > 299)) throw new ConnectorError(`${name}: ${base.host} refused the ${op} (HTTP ${response.status})`, where, false);
        let parsed: unknown = null;
        // Only a read's answer is read: a write's (and a 404's or 410's) says all by its status. A write that
        // succeeded answered in text (`200 OK`, an HTML page) has still written: failing then would leave
        // the record erased and counted nowhere, and a record gone answered with a 404 page is still gone.
        const readsBody = method === "GET" && !gone;
        if (text) {
          try {
            parsed = readJson(text);
          } catch {
            if (readsBody) throw new ConnectorError(`${name}: ${base.host} answered something that is not JSON; check baseUrl`, `${where}: not JSON`, false);
          }
        }
        // A read that succeeded yet says it failed (an empty search beside `errors`) would read as "nothing
        // of hers here". Writes are not read so: a record answered back may hold a field named error, and
        // the check after erasing finds what a write left.
        const failed = method === "GET" && response.status !== 404 ? errorMarker(parsed) : undefined;
        if (failed) {
          throw new ConnectorError(
            `${name}: ${base.host} answered HTTP ${response.status} with an error (${failed}), so the ${op} stopped rather than take the answer for the records; the task will be retried`,
            `${where} with ${failed}`,
            true,
          );
        }
        return { status: response.status, body: parsed, link: response.headers.get("link") };
      } finally {
        limit.clear();
      }
    });

  /** A GET, repeated inline while it fails for a passing reason (readRetries, maxInlineWaitMs). */
  const read = (url: URL, op: Op, ctx: ListingContext) =>
    withInlineRetry(() => send({ method: "GET", url, op, ctx }), {
      retries: c.readRetries ?? 2,
      maxWaitMs: c.maxInlineWaitMs ?? 10_000,
      signal: ctx.signal,
      stopped: () => stopped(op),
      heartbeat: () => ctx.heartbeat(),
      onRetry: (attempt, waitMs, error) => ctx.logger.debug({ connector: name, op, attempt, waitMs, internal: error.internalMessage }, "read repeated"),
    });

  /** Every item of a listing, page by page (pagination.ts). */
  const pages = { name, base, maxPages: c.maxPages ?? MAX_PAGES, urlOf, read };
  const listed = (l: Listing, op: Op, ctx: ListingContext) => listPages(pages, l, op, ctx);

  /**
   * The subject's accounts in the system, by id with the search's item: every item of the subject
   * search whose address is theirs (a system may hold two accounts under one address), across every
   * page of the search when `subject.pagination` is given. None when it does not know them.
   */
  const findSubjects = async (ids: Identities, op: Op, ctx: TaskContext): Promise<Map<string, Record<string, unknown>>> => {
    const values = Object.fromEntries(Object.entries(ids).filter((e): e is [string, string] => typeof e[1] === "string"));
    const wanted = normalizeEmail(ids.email);
    // A search by email is made for each spelling of the address (an internationalised domain is stored
    // in Unicode or in ASCII); a search by anything else once.
    const byEmail = Object.values(c.subject.query).some((v) => v.includes("{email}"));
    const found = new Map<string, Record<string, unknown>>();
    // An address the search answered that reads otherwise in other case: asked for again so, it tells whether the search ignores case.
    let known: string | undefined;
    // Whether the search was asked, once, for someone nobody is (see searchReadsItsQuery).
    // Items the search answered, and those holding matchField at all: a field none of them holds is
    // a misnamed one (email_address configured as email), which would pass her by as nobody's.
    let answered = 0;
    let holdingMatchField = 0;
    // A query without placeholders lists everyone by design: nothing to ask of it.
    let probed = !Object.values(c.subject.query).some((v) => /\{[A-Za-z0-9_]+\}/.test(v));
    for (const email of byEmail ? emailSpellings(wanted) : [ids.email]) {
      for await (const item of listed(searchFor({ ...values, email }), op, ctx)) {
        // A search may match loosely: only the same address (in matching form: any case, either spelling of the domain) is the subject.
        const address = pick(item, c.subject.matchField);
        answered += 1;
        if (address !== undefined) holdingMatchField += 1;
        if (byEmail && typeof address === "string") {
          if (ignoresCase(address, email)) searchIgnoresCase = true;
          else if (known === undefined && swapCase(address) !== address) known = address;
        }
        // A list or an object read as text matches no one: her account would be passed by, and the request end with nothing of hers.
        if (typeof address === "object" && address !== null) {
          throw new ConnectorError(
            `${name}: the subject search answered an item whose ${c.subject.matchField} is not one address (a list or an object), so whose it is cannot be told; point subject.matchField at a field holding one address`,
            `${name} ${op}: subject item's ${c.subject.matchField} is ${Array.isArray(address) ? "a list" : "an object"}`,
            false,
          );
        }
        if (normalizeEmail(String(address ?? "")) !== wanted) {
          // Someone else answered: a loose search, or one that does not read its query and answers everyone.
          if (!probed) await searchReadsItsQuery(op, ctx);
          probed = true;
          continue;
        }
        // Her account without a usable id would be searched as "undefined" and found empty: the request would end with nothing of hers.
        const id = idOf(item, c.subject.idField, "the subject search answered an item of the person's address", "subject.idField", op);
        if (!found.has(id)) found.set(id, item);
      }
    }
    if (answered > 0 && holdingMatchField === 0) {
      throw new ConnectorError(
        `${name}: the subject search answered ${answered} item(s), none holding ${c.subject.matchField}, so whose each is cannot be told and the ${op} stopped rather than report nothing of the person's held there; check subject.matchField`,
        `${name} ${op}: no subject item holds ${c.subject.matchField}`,
        false,
      );
    }
    if (byEmail && !searchIgnoresCase) await searchCaseChecked(values, known, op, ctx);
    return found;
  };

  /** The subject search with its placeholders filled in from `filled` (a placeholder without a value left as it is). */
  const searchFor = (filled: Record<string, string>) => ({
    what: "the subject search's results",
    path: c.subject.path,
    query: Object.fromEntries(Object.entries(c.subject.query).map(([k, v]) => [k, v.replace(/\{([A-Za-z0-9_]+)\}/g, (w, key: string) => filled[key] ?? w)])),
    items: c.subject.items,
    itemsHint: "subject.items",
    pagination: c.subject.pagination ?? { type: "none" as const },
    pathHint: "subject.path",
  });

  /**
   * Whether the subject search has been seen to ignore case (an address answered that holds what was
   * asked only without regard to case, or one answered again when asked in other case). Once seen, for
   * the connector's life: the API's search does not change its comparison between two requests.
   */
  let searchIgnoresCase = false;

  /**
   * Settles whether a search by address that did not show it ignores case does so: the address `known`
   * (one the system holds) is asked for again in other case, and must be answered again. A search that
   * compares case exactly fails the task (HTTP_SEARCH_MATCHES_CASE): the person stored as she typed it
   * (`Ada@Example.COM`) is found by no lower-case spelling sent, and the request would end with nothing
   * of hers. With no address at hand (the search answered nobody), whether it would have found her
   * stored in another case cannot be told: each kind of record is reported not searched, saying so.
   */
  const searchCaseChecked = async (values: Record<string, string>, answered: string | undefined, op: Op, ctx: TaskContext): Promise<void> => {
    const known = answered ?? (await rosterAddress(op, ctx));
    if (known === undefined) {
      for (const kind of recordKinds) ctx.notSearched?.({ ...kind, reason: CASE_NOT_SHOWN });
      return;
    }
    for await (const item of listed(searchFor({ ...values, email: swapCase(known) }), op, ctx)) {
      if (pick(item, c.subject.matchField) === known) {
        searchIgnoresCase = true;
        return;
      }
    }
    throw new ConnectorError(
      `${name}: the subject search compares addresses case exactly (asked for an address it holds in other case, it answered nothing of it), so a person stored as typed, in capitals, is found by no spelling sent and the ${op} stopped rather than report nothing of hers held; make subject.query compare without case (a filter such as email__iexact) [${SEARCH_MATCHES_CASE}]`,
      `${name} ${op}: subject search matches case [${SEARCH_MATCHES_CASE}]`,
      false,
    );
  };

  /**
   * An address the roster lists first (one that reads otherwise in other case), for asking the search
   * whether it ignores case when it answered no one; undefined without a roster listing addresses.
   */
  const rosterAddress = async (op: Op, ctx: TaskContext): Promise<string | undefined> => {
    const field = roster?.identities.email;
    if (!roster || !field) return undefined;
    let looked = 0;
    for await (const item of listed(rosterListing(roster), op, ctx)) {
      const address = pick(item, field);
      if (typeof address === "string" && !emailProblem(address) && swapCase(address) !== address) return address;
      if (++looked >= ROSTER_ADDRESS_LOOKS) return undefined;
    }
    return undefined;
  };

  /**
   * Fails the task unless the subject search reads its query: asked for a made-up person (every
   * placeholder filled with a value nobody holds), it must answer nobody. One that answers people
   * ignores the parameter (a typo, a name the API does not know) and lists everyone, and a person past
   * its first page, with no sign that more follow, would go unfound: an access export empty and a
   * deletion COMPLETED with everything of hers in place. A refusal (4xx) of the made-up value shows the
   * parameter is read.
   */
  const searchReadsItsQuery = async (op: Op, ctx: TaskContext): Promise<void> => {
    const nobody = nobodysId();
    const filled = Object.fromEntries(searchKinds(c.subject.query).map((kind) => [kind, kind === "email" ? `${nobody}@${nobody}.invalid` : nobody]));
    const search = searchFor(filled);
    const answered = await answersForNobody(urlOf(search.path, search.query), search.items, op, ctx);
    if (answered > 0) {
      throw new ConnectorError(
        `${name}: the subject search answered ${answered} ${answered === 1 ? "person" : "people"} when asked for a made-up address nobody holds, so it does not search by subject.query (a parameter the API does not read?) and a person past its first page would go unfound; the ${op} stopped. Check subject.query`,
        `${name} ${op}: subject search ignores its query (${answered} items for a made-up subject)`,
        false,
      );
    }
  };

  /**
   * How many items a listing answers when asked for someone nobody is: 0 also when it answers 404 or
   * refuses the made-up value (another 4xx), which shows it reads who it is asked for.
   */
  const answersForNobody = async (url: URL, items: string, op: Op, ctx: TaskContext): Promise<number> => {
    try {
      const { status, body } = await read(url, op, ctx);
      const answered = status === 404 ? [] : pick(body, items);
      return Array.isArray(answered) ? answered.length : 0;
    } catch (error) {
      if (error instanceof ConnectorError && !error.retryable && /: HTTP 4\d\d$/.test(error.internalMessage)) return 0;
      throw error;
    }
  };

  /**
   * Fails the task unless each resource listed by its path alone (no subjectField to confirm each record
   * by) reads whose records it is asked for: asked for an account nobody holds, it must answer none (or
   * refuse). One that answers records ignores the account in its path (or the scope behind it), and
   * would hand everyone's records over to the person and erase them with hers (HTTP_SCOPE_IGNORED).
   * Asked before the first listing, so before any write.
   */
  const scopesRead = async (like: string, op: Op, ctx: TaskContext): Promise<void> => {
    const nobody = nobodyLike(like);
    for (const r of c.resources) {
      if (r.subjectField !== undefined) continue;
      const answered = await answersForNobody(urlOf(fill(name, r.path, { subject: nobody })), r.items, op, ctx);
      if (answered > 0) {
        throw new ConnectorError(
          `${name}: listing ${r.recordType} records of an account nobody holds answered ${answered} record(s), so the API does not scope the listing by the account in its path and the ${op} stopped rather than ${DOING[op]} other people's records as the person's. Give the resource subjectField (the field of a record holding its account's id), or a path the API scopes [${SCOPE_IGNORED}]`,
          `${name} ${op}: ${r.recordType} listing answers ${answered} records for a made-up account [${SCOPE_IGNORED}]`,
          false,
        );
      }
    }
  };

  /**
   * Every item of a resource for one of the subject's ids, page by page (a heartbeat per page). With
   * `subjectField`, an item of another account (or of none) fails the listing: the API answered more
   * than the person's records (a filter it ignores), so none of them can be taken for hers.
   */
  async function* items(r: HttpResourceConfig, subject: string, op: Op, ctx: TaskContext): AsyncGenerator<Record<string, unknown>> {
    const listing = { what: `${r.recordType} records`, path: fill(name, r.path, { subject }), query: {}, items: r.items, itemsHint: "resources' items", pagination: r.pagination, pathHint: `the path of the ${r.recordType} resource` };
    // Ids listed so far: one answered again means the pages moved while they were read (records added
    // or removed meanwhile, or an order that is not stable), so others may have been skipped.
    const seen = new Set<string>();
    let dated = 0;
    // Pages read: numbered pages read more than one are listed again at the end (see below).
    let pagesRead = 0;
    const counted = { ...pages, read: (url: URL, o: Op, x: ListingContext) => ((pagesRead += 1), read(url, o, x)) };
    for await (const item of listPages(counted, listing, op, ctx)) {
      const owner = r.subjectField === undefined ? subject : pick(item, r.subjectField);
      if (typeof owner === "number" || typeof owner === "bigint") unsafeIdRefused(owner, r.subjectField!, `listing ${r.recordType} records answered one`, op);
      if ((typeof owner !== "string" && typeof owner !== "number") || String(owner) !== subject) {
        throw new ConnectorError(
          `${name}: listing ${r.recordType} records of one account answered a record of another account (or of none) at ${r.subjectField}, so the ${op} stopped rather than ${DOING[op]} other people's records. Check the resource's path (a filter the API does not read?)`,
          `${name} ${op}: ${r.recordType} record outside the account at ${r.subjectField}`,
          false,
        );
      }
      const id = idOf(item, r.idField, `listing ${r.recordType} records answered one`, "the resource's idField", op);
      if (seen.has(id)) {
        throw new ConnectorError(
          `${name}: listing ${r.recordType} records answered one record twice: its pages moved while they were read (records added or removed meanwhile, or an order that is not stable), so others may have been skipped and the ${op} stopped rather than ${DOING[op]} part of them as all; the task will be retried. If it goes on, page by cursor or in a stable order`,
          `${name} ${op}: ${r.recordType} listing repeats a record`,
          true,
        );
      }
      seen.add(id);
      if (r.recordedAtField !== undefined && pick(item, r.recordedAtField) !== undefined) dated += 1;
      yield item;
    }
    // Numbered pages shift when a record before them goes while they are read (someone deletes one
    // after page 1 was answered): the first record of the next page moves onto the page already read,
    // and is on no page read, with nothing repeated to show it (an export short by a record of hers
    // held all along, an erasure that leaves it). Listed again, such a record shows up: the task is
    // retried. A record added meanwhile is retried the same way: it cannot be told from a skipped one.
    if (r.pagination.type === "page" && pagesRead > 1) {
      for await (const item of listed(listing, op, ctx)) {
        if (seen.has(idOf(item, r.idField, `listing ${r.recordType} records answered one`, "the resource's idField", op))) continue;
        throw new ConnectorError(
          `${name}: listing ${r.recordType} records again answered one its pages had not: they moved while they were read (records removed or added meanwhile), so one may have been skipped and the ${op} stopped rather than ${DOING[op]} part of them as all; the task will be retried. If it goes on, page by cursor`,
          `${name} ${op}: ${r.recordType} numbered pages moved while read`,
          true,
        );
      }
    }
    // Not one record holding the date field: a misnamed one (issued for issued_at) makes every record
    // undated, and retention keeps no undated record, so a deletion would erase what the law keeps.
    if (r.recordedAtField !== undefined && seen.size > 0 && dated === 0) {
      throw new ConnectorError(
        `${name}: listing ${r.recordType} records answered ${seen.size}, none holding ${r.recordedAtField}, so none could be dated for retention and the ${op} stopped rather than ${DOING[op]} them as undated; check the resource's recordedAtField`,
        `${name} ${op}: no ${r.recordType} record holds ${r.recordedAtField}`,
        false,
      );
    }
  }

  /**
   * Refuses an id given as a JSON number past 2^53 (a 64-bit id: a snowflake, a Java long): JSON.parse
   * rounds it to the nearest double, which is another account's or record's id (1234567890123456789
   * reads as 1234567890123456800), and every call made by it (a listing, a DELETE) would act on that
   * one. Refused before any call by it; the API must answer such ids as strings. (Answers are now read
   * exactly, such an id as a BigInt: it is still refused, as before, rather than taken on untested.)
   */
  const unsafeIdRefused = (id: number | bigint, field: string, what: string, op: Op): void => {
    if (typeof id === "number" && (!Number.isInteger(id) || Number.isSafeInteger(id))) return;
    throw new ConnectorError(
      `${name}: ${what} with an id past 2^53 as a JSON number at ${field}, which cannot be read exactly (it would be taken for another's id, and that one acted on), so the ${op} stopped; the API must answer such ids as strings`,
      `${name} ${op}: id past 2^53 at ${field}`,
      false,
    );
  };

  /**
   * An item's id, as text. Without one (a string or a number) the item would be called "undefined":
   * a subject's account searched and found empty, a record erased at a URL that answers 404 (counted
   * as already gone), every such record exported under one id.
   */
  const idOf = (item: Record<string, unknown>, field: string, what: string, setting: string, op: Op): string => {
    const id = pick(item, field);
    if (typeof id === "number" || typeof id === "bigint") unsafeIdRefused(id, field, what, op);
    if ((typeof id === "string" && id.trim() !== "") || (typeof id === "number" && Number.isFinite(id))) return String(id);
    throw new ConnectorError(`${name}: ${what} without an id at ${field} (a string or a number); check ${setting}`, `${name} ${op}: item without ${field}`, false);
  };

  const recordOf = (r: HttpResourceConfig, item: Record<string, unknown>, op: Op): SubjectRecord => {
    const data: Record<string, unknown> = {};
    for (const f of r.fields) data[f] = exactValue(pick(item, f) ?? null);
    const recordedAt = r.recordedAtField ? readRecordedAt(pick(item, r.recordedAtField), r.recordedAtFormat) : undefined;
    // A date that cannot be read is no "undated" record: retention keeps no undated record, so it would
    // be erased however recent. Nor is it guessed: a number of unknown unit read wrong dates it decades off.
    if (typeof recordedAt === "string") {
      throw new ConnectorError(
        `${name}: a ${r.recordType} record holds ${unreadableReason(recordedAt, r.recordedAtFormat)} at ${r.recordedAtField}; check the resource's recordedAtField and recordedAtFormat`,
        `${name} ${op}: unreadable date at ${r.recordedAtField} (${recordedAt})`,
        false,
      );
    }
    const id = idOf(item, r.idField, `listing ${r.recordType} records answered one`, "the resource's idField", op);
    // Access only: no erasure removes it, so a deletion plans it residual (and erase names it so).
    return { category: r.category, type: r.recordType, id, data, ...(recordedAt ? { recordedAt } : {}), ...(r.erase ? {} : { residualOnErasure: RECORD_NOT_ERASABLE }) };
  };

  /**
   * Whether an item holds every replacement of its resource's ANONYMIZE erase: then it is nobody's, so
   * collect does not hand it over as the person's (nor count it as left after an erasure) and erase
   * neither patches nor counts it again. That holds because the configuration overwrites every field
   * the person receives but those `keep` names as identifying nobody (config.ts, anonymizeProblems).
   */
  const nobodys = (r: HttpResourceConfig, item: Record<string, unknown>) =>
    r.erase?.strategy === "ANONYMIZE" && Object.entries(r.erase.fields).every(([f, v]) => (pick(item, f) ?? null) === v);

  const account = c.subject.account;
  /** The account's record type in exports and outcomes. */
  const accountType = account?.recordType ?? ACCOUNT_TYPE;
  /** Every kind of record collect yields, by category and type (the account's too). */
  const recordKinds = [...(account ? [{ category: account.category, type: accountType }] : []), ...c.resources.map((r) => ({ category: r.category, type: r.recordType }))];
  /** Whether one of the subject's accounts still holds a record of a resource (one holding every replacement is nobody's). */
  const holdsAny = async (r: HttpResourceConfig, subject: string, ctx: TaskContext): Promise<boolean> => {
    for await (const item of items(r, subject, "erase", ctx)) if (!nobodys(r, item)) return true;
    return false;
  };
  /**
   * Why an account stays, or undefined when it may be deleted: no way to delete it; a record under it
   * kept (by a rule or a hold, `stays`) or still there after the erasure (not erased, or access only).
   * Deleted, the account would take a kept record with it, or hide a record still there from every
   * later look (the search no longer finds it, so the check after erasing would see nothing).
   */
  const accountLeft = async (a: HttpAccountConfig, subject: string, stays: boolean, instruction: ErasureInstruction, ctx: TaskContext): Promise<string | undefined> => {
    if (!a.erase) return ACCOUNT_NOT_ERASABLE;
    if (stays) return ACCOUNT_HOLDS_KEPT_RECORDS;
    // First a record of a category not to be erased (a hold keeps it), then one to be erased and still there.
    const erasing = (r: HttpResourceConfig) => instruction.categories.includes(r.category);
    for (const r of c.resources) if (!erasing(r) && (await holdsAny(r, subject, ctx))) return ACCOUNT_HOLDS_KEPT_RECORDS;
    for (const r of c.resources) if (erasing(r) && (await holdsAny(r, subject, ctx))) return ACCOUNT_RECORDS_REMAIN;
    return undefined;
  };
  /**
   * Whether the system says an account is gone: a GET of its erase path answers 404 or 410 (its DELETE
   * then counts nothing). Any other answer, a refusal included, says it is there or cannot say.
   */
  const accountGone = async (id: string, ctx: TaskContext): Promise<boolean> => {
    try {
      return (await read(urlOf(fill(name, account!.erase!.path, { subject: id })), "erase", ctx)).status === 404;
    } catch (error) {
      if (error instanceof ConnectorError && !error.retryable) return error.internalMessage.endsWith(": HTTP 410");
      throw error;
    }
  };
  /** Accounts left in place for one reason, as a residual set; held back by kept records only, with their ids (eraseHeldBack deletes them once those are gone). */
  const accountResidual = (reason: string, subjects: readonly string[]): ResidualRecords => ({
    category: account!.category,
    type: accountType,
    count: subjects.length,
    fields: account!.fields,
    reason,
    ...(reason === ACCOUNT_HOLDS_KEPT_RECORDS ? { heldBackIds: [...subjects] } : {}),
  });
  const roster = c.roster;
  /** Everyone the roster listing holds, page by page (listHttpSubjects makes them entries). */
  const listSubjects = roster
    ? (ctx: RosterContext) =>
        listHttpSubjects(
          name,
          roster,
          listed(rosterListing(roster), "roster", ctx),
          ctx,
          account !== undefined,
        )
    : undefined;

  return {
    spec: {
      name,
      version: c.version,
      supports: c.resources.some((r) => r.erase) || account?.erase ? ["access", "erasure"] : ["access"],
      // Every kind the search fills in: without one, the task is SKIPPED saying so, rather than search
      // for the placeholder's own text and find nobody (a deletion COMPLETED with her records in place).
      needs: searchKinds(c.subject.query),
      provides: [],
      categories: [...new Set([...c.resources.map((r) => r.category), ...(account ? [account.category] : [])])],
    },

    async check(ctx): Promise<CheckResult> {
      try {
        const { status } = await send({ method: "GET", url: urlOf(c.checkPath), op: "check", ctx });
        if (status === 404) return { ok: false, message: `${name}: ${base.host} has no ${c.checkPath} (HTTP 404); check baseUrl and checkPath` };
        return { ok: true, message: `${name}: reached ${base.host} with the credentials of ${secretVariable}` };
      } catch (error) {
        if (!(error instanceof ConnectorError)) throw error;
        ctx.logger.warn({ connector: name, internal: error.internalMessage }, "check failed");
        return { ok: false, message: error.userMessage };
      }
    },

    async *collect(ids, ctx) {
      const subjects = await findSubjects(ids, "collect", ctx);
      if (subjects.size) await scopesRead(subjects.keys().next().value!, "collect", ctx);
      for (const [subject, found] of subjects) {
        // A record of an access-only resource under the account holds it in place (accountLeft): the plan foresees that.
        let accessOnlyHeld = false;
        for (const r of c.resources) {
          for await (const item of items(r, subject, "collect", ctx)) {
            if (nobodys(r, item)) continue;
            if (!r.erase) accessOnlyHeld = true;
            yield recordOf(r, item, "collect");
          }
        }
        if (account) {
          const record = accountRecord(account, accountType, subject, found);
          yield accessOnlyHeld && account.erase ? { ...record, residualOnErasure: ACCOUNT_RECORDS_REMAIN } : record;
        }
      }
    },

    async erase(ids, instruction, ctx): Promise<ErasureOutcome> {
      let erased = 0;
      // Of erased, the records anonymised: they are still there, holding nothing of the person's.
      let redacted = 0;
      // Per category: without it, the orchestrator counts every record in the first category erased.
      const erasedIn: Record<string, number> = {};
      const redactedIn: Record<string, number> = {};
      const kept = new KeptTally();
      // The accounts left in place, by why (see accountLeftBecause): their ids.
      const accountsLeft = new Map<string, string[]>();
      // Records of access-only resources left in place, by resource, across the subject's accounts.
      const notErasable = new Map<HttpResourceConfig, number>();
      /** Adds one record erased (anonymised: redacted too) to the outcome; 1, for its unit. */
      const counted = (category: string, anonymized: boolean) => {
        erased += 1;
          erasedIn[category] = (erasedIn[category] ?? 0) + 1;
          if (anonymized) {
            redacted += 1;
            redactedIn[category] = (redactedIn[category] ?? 0) + 1;
          }
          return 1;
      };
      // Writes of earlier attempts whose answer was lost (a 503 after the system wrote, a connection dropped).
      const lost = lostWrites(await ctx.unfinishedUnits());
      /**
       * One write of one record as one unit of erasure, noted (writeNote): a hold placed meanwhile stops
       * the category between two records, and what a unit erased stays counted when a later write of the
       * task fails (its retry no longer finds those records to count them). 404 or 410 is a record already
       * gone, counted only for a DELETE in `lost` (see LOST_WRITE_GONE). False: the category was withdrawn.
       */
      const writeUnit = (category: string, type: string, subject: string, id: string, call: Omit<Call, "op" | "ctx" | "key">, anonymized = false) =>
        ctx.eraseUnit(
          category,
          async () => {
            const { status } = await send({ ...call, op: "erase", ctx, key: `${ctx.idempotencyKey}:${type}:${id}` });
            if (alreadyGone(status) && !(call.method === "DELETE" && lost.has(writeKey(type, id)))) return 0;
            return counted(category, anonymized);
          },
          writeNote(type, subject, id),
        );
      // First the DELETEs an earlier attempt sent and never heard back from: gone, the record is no longer
      // listed (or is, by a listing that lags), so each is sent again as it was (same idempotency key).
      const finished = new Set<string>();
      for (const [k, w] of lost) {
        const r = c.resources.find((x) => x.recordType === w.type && x.erase?.strategy === "DELETE");
        const isAccount = w.type === accountType && w.subject === w.id && account?.erase !== undefined;
        if (!isAccount && !r) continue;
        const category = isAccount ? account!.category : r!.category;
        if (!instruction.categories.includes(category) || (isAccount && instruction.keepUndated)) continue;
        const path = isAccount ? fill(name, account!.erase!.path, { subject: w.id }) : fill(name, r!.erase!.path, { subject: w.subject, record: w.id });
        if (await writeUnit(category, w.type, w.subject, w.id, { method: "DELETE", url: urlOf(path) })) finished.add(k);
      }
      /** Why the account stays, or undefined when it may be deleted (accountLeft). */
      const accountLeftBecause = (a: HttpAccountConfig, subject: string, stays: boolean) => accountLeft(a, subject, stays, instruction, ctx);
      const subjects = await findSubjects(ids, "erase", ctx);
      if (subjects.size) await scopesRead(subjects.keys().next().value!, "erase", ctx);
      for (const subject of subjects.keys()) {
        if (finished.has(writeKey(accountType, subject))) continue;
        // Whether a record under this account is kept (by a rule, or by a hold that withdrew its category mid-erasure).
        let stays = false;
        for (const r of c.resources) {
          if (!instruction.categories.includes(r.category)) continue;
          const since = instruction.keepRecordedSince?.[r.category];
          if (!r.erase) {
            // Access only: nothing erases them. Kept by the rule as any record, the rest named residual, as
            // the plan counted them (RECORD_NOT_ERASABLE); the account stays over them (accountLeft).
            let left = 0;
            for await (const item of items(r, subject, "erase", ctx)) {
              const record = recordOf(r, item, "erase");
              if (since && record.recordedAt && record.recordedAt >= new Date(since)) kept.add(r.category, r.recordType, 1, record.recordedAt);
              else if (!record.recordedAt && instruction.keepUndated) continue;
              else left += 1;
            }
            if (left) notErasable.set(r, (notErasable.get(r) ?? 0) + left);
            continue;
          }
          // Listed first, erased after: deleting while paging would shift the pages under the cursor.
          // Each with its URL, made while listing: an id that cannot be sent (fill) stops the erase before any write.
          const doomed: { id: string; url: URL; body?: Record<string, unknown> }[] = [];
          for await (const item of items(r, subject, "erase", ctx)) {
            if (nobodys(r, item)) {
              // Anonymised by an earlier attempt's write whose answer was lost: erased by this request, counted now.
              const id = idOf(item, r.idField, `listing ${r.recordType} records answered one`, "the resource's idField", "erase");
              const k = writeKey(r.recordType, id);
              if (r.erase.strategy === "ANONYMIZE" && lost.has(k) && !finished.has(k)) {
                finished.add(k);
                await ctx.eraseUnit(r.category, async () => counted(r.category, true), writeNote(r.recordType, subject, id));
              }
              continue;
            }
            const record = recordOf(r, item, "erase");
            if (finished.has(writeKey(r.recordType, record.id))) continue;
            // One set per kind of record, whichever of the subject's accounts kept it.
            if (since && record.recordedAt && record.recordedAt >= new Date(since)) {
              kept.add(r.category, r.recordType, 1, record.recordedAt);
              stays = true;
            } else if (!record.recordedAt && instruction.keepUndated) stays = true;
            else doomed.push({ id: record.id, url: urlOf(fill(name, r.erase.path, { subject, record: record.id })), ...(r.erase.strategy === "ANONYMIZE" ? { body: anonymizedBody(r.erase, item) } : {}) });
          }
          const erase = r.erase;
          for (const { id, url, body } of doomed) {
            const call = erase.strategy === "DELETE" ? { method: "DELETE", url } : { method: erase.method, url, body };
            const ran = await writeUnit(r.category, r.recordType, subject, id, call, erase.strategy === "ANONYMIZE");
            await ctx.heartbeat();
            // Withdrawn (a hold): the rest of this category stays, counted as the hold's by the orchestrator.
            if (!ran) {
              stays = true;
              break;
            }
          }
        }
        // The account last, once nothing under it is left to erase; not at all while anything under it stays.
        // It carries no date: a purge (keepUndated) deletes the deletion's by id, never one opened since.
        if (account && instruction.categories.includes(account.category) && !instruction.keepUndated) {
          const left = await accountLeftBecause(account, subject, stays);
          if (left) appendTo(accountsLeft, left, subject);
          else await writeUnit(account.category, accountType, subject, subject, { method: "DELETE", url: urlOf(fill(name, account.erase!.path, { subject })) });
        }
      }
      const residual = [
        ...[...notErasable].map(([r, count]): ResidualRecords => ({ category: r.category, type: r.recordType, count, fields: r.fields, reason: RECORD_NOT_ERASABLE })),
        ...[...accountsLeft].map(([reason, subjects]) => accountResidual(reason, subjects)),
      ];
      return { erased, erasedIn, ...(redacted ? { redacted, redactedIn } : {}), ...(kept.empty ? {} : { kept: kept.list() }), ...(residual.length ? { residual } : {}) };
    },

    /**
     * Accounts a deletion left in place while records under it were kept, by id once the purge erased
     * those: deleted when nothing under them stays (a record a rule, or a hold, still keeps holds the
     * account back again), an account already gone (404) left out, one no longer holding the deletion's
     * address left in place (ACCOUNT_NOT_HERS). Never found by address: an account the person opened
     * since is not the deletion's, so the search only confirms the ids the deletion held back.
     */
    ...(account?.erase
      ? {
          async eraseHeldBack(ids: Identities, refs: readonly RecordRef[], instruction: ErasureInstruction, ctx: TaskContext): Promise<HeldBackOutcome> {
            const erased: RecordRef[] = [];
            const left = new Map<string, string[]>();
            const accounts = refs.filter((ref) => ref.type === accountType && ref.category === account.category);
            if (accounts.length) await scopesRead(accounts[0].id, "erase", ctx);
            // The ids of the accounts that hold the deletion's address now, once one is about to be deleted.
            let stillHers: Set<string> | undefined;
            // Records under an account are reached through it: one given by its id alone cannot be.
            const notById: ResidualRecords[] = [];
            // Account DELETEs of earlier attempts whose answer was lost (LOST_WRITE_GONE).
            const lost = lostWrites(await ctx.unfinishedUnits());
            for (const r of c.resources) {
              const ids = refs.filter((ref) => ref.type === r.recordType && ref.category === r.category && instruction.categories.includes(r.category)).map((ref) => ref.id);
              if (ids.length) notById.push({ category: r.category, type: r.recordType, count: ids.length, fields: r.fields, reason: RECORD_NOT_BY_ID });
            }
            for (const ref of refs) {
              if (ref.type !== accountType || ref.category !== account.category || !instruction.categories.includes(account.category)) continue;
              // Records under it of a category the instruction keeps, or kept by a rule within it, still hold it back.
              const since = (r: HttpResourceConfig) => instruction.keepRecordedSince?.[r.category];
              let why: string | undefined;
              // Its DELETE sent by an earlier attempt that never heard back, and gone now: that DELETE, sent again below, is counted.
              const resent = lost.has(writeKey(accountType, ref.id)) && (await accountGone(ref.id, ctx));
              if (!resent) {
                try {
                  let stays = false;
                  for (const r of c.resources) {
                    const from = since(r);
                    if (!from || !instruction.categories.includes(r.category)) continue;
                    for await (const item of items(r, ref.id, "erase", ctx)) {
                      const at = nobodys(r, item) ? undefined : recordOf(r, item, "erase").recordedAt;
                      if (at && at >= new Date(from)) stays = true;
                    }
                  }
                  why = await accountLeft(account, ref.id, stays, instruction, ctx);
                } catch (error) {
                  // The paths listed its records at the deletion: one answering 404 now most likely means the
                  // account went meanwhile (deleted by hand), but nothing proves nothing under it stays.
                  if (!(error instanceof ConnectorError) || !error.internalMessage.endsWith("answered 404")) throw error;
                  why = ACCOUNT_NOT_LISTED;
                }
              }
              // Deleted by its id long after the deletion, the account must still be the person's: an id the
              // system gave to someone else since, or an account that changed hands, is theirs, not residue.
              // One the search no longer answers and a GET finds gone goes on to its DELETE, counting nothing.
              if (!why && !resent) {
                stillHers ??= new Set((await findSubjects(ids, "erase", ctx)).keys());
                if (!stillHers.has(ref.id) && !(await accountGone(ref.id, ctx))) why = ACCOUNT_NOT_HERS;
              }
              if (why) {
                appendTo(left, why, ref.id);
                continue;
              }
              let gone = false;
              const ran = await ctx.eraseUnit(account.category, async () => {
                const { status } = await send({ method: "DELETE", url: urlOf(fill(name, account.erase!.path, { subject: ref.id })), op: "erase", ctx, key: `${ctx.idempotencyKey}:${accountType}:${ref.id}` });
                gone = alreadyGone(status) && !resent;
                return gone ? 0 : 1;
              }, writeNote(accountType, ref.id, ref.id));
              if (!ran) appendTo(left, ACCOUNT_HOLDS_KEPT_RECORDS, ref.id);
              else if (!gone) erased.push({ category: account.category, type: accountType, id: ref.id });
              await ctx.heartbeat();
            }
            return { erased, residual: [...notById, ...[...left].map(([reason, subjects]) => accountResidual(reason, subjects))] };
          },
        }
      : {}),

    // Only when configured: a connector without listSubjects is named NOT_LISTABLE in every roster.
    ...(listSubjects ? { listSubjects } : {}),

    close: async () => {
      await limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
    },
  };
}

/** Stable code of the failure of a listing scoped by its path that answers records of an account nobody holds. */
export const SCOPE_IGNORED = "HTTP_SCOPE_IGNORED";
/** Stable code of the failure of a subject search that compares addresses case exactly. */
export const SEARCH_MATCHES_CASE = "HTTP_SEARCH_MATCHES_CASE";

/** Why a kind of record is reported not searched when the subject search answered nobody to show that it ignores case. */
export const CASE_NOT_SHOWN =
  "The search by address answered no one, and whether it ignores case could not be shown (no address it holds to ask for in other case): a person stored in capitals (Name@Example.COM) would go unfound. Make the search compare without case, then look there by hand";

/** A made-up value nobody holds, for asking a search or listing about nobody. */
const nobodysId = () => `dsr-nobody-${randomBytes(8).toString("hex")}`;

/**
 * A made-up account id nobody holds, in the shape of `like`, one the system holds: digits (in the range
 * of a 32-bit id) for a number, a UUID for a UUID. An API that refuses an id of another shape (400 for
 * `dsr-nobody-...` where ids are numbers) would otherwise never have to show whose records it lists.
 */
export const nobodyLike = (like: string): string => {
  if (/^\d{1,10}$/.test(like)) return String(randomInt(2_000_000_000, 2_147_483_647));
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(like)) return randomUUID();
  return nobodysId();
};

/**
 * `text` with its letters' case swapped: `Ada@Example.com` is `aDA@eXAMPLE.COM`. A letter whose other
 * case does not lead back to it stays as it is: `ß` (upper case `SS`), the dotless `ı` (upper case `I`,
 * whose lower case is `i`), `İ`, a last `ς`. Swapped, the address asked for was another one, which a
 * search that ignores case rightly did not answer with this one: Grete's `grete.straße@` failed every
 * request with HTTP_SEARCH_MATCHES_CASE.
 */
export const swapCase = (text: string): string =>
  [...text]
    .map((ch) => {
      const other = ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase();
      const back = ch === ch.toLowerCase() ? other.toLowerCase() : other.toUpperCase();
      return [...other].length === 1 && back === ch ? other : ch;
    })
    .join("");

/**
 * Whether an address a search answered shows that it ignores case: it holds what was asked for only
 * when case is ignored (`Ada.Lovelace@example.com` answered for `ada.lovelace@example.com`).
 */
export const ignoresCase = (answered: string, asked: string): boolean => !answered.includes(asked) && answered.toLowerCase().includes(asked.toLowerCase());

/** The record type of the subject's account unless subject.account.recordType says otherwise. */
const ACCOUNT_TYPE = "account";

/** Why a deletion leaves the account in place when the configuration gives it no way to erase it. */
export const ACCOUNT_NOT_ERASABLE = "the connector is given no way to delete the account itself (subject.account.erase), so it stays in the system; delete it there";
/**
 * Why a purge leaves a record its deletion kept without a date: this connector reaches records only
 * through the person's accounts, which would also reach what they recorded since, and it cannot tell
 * an undated record's age (configure the resource's recordedAtField to let it).
 */
export const RECORD_NOT_BY_ID =
  "kept without a date, and this connector cannot erase a record by its id alone (it reaches records through the person's accounts, which would reach what they recorded since): erase it in the system, or give the resource a recordedAtField";
/** Why a deletion leaves the account in place while records under it stay. */
export const ACCOUNT_HOLDS_KEPT_RECORDS = "records under the account are kept (by a retention rule or a legal hold), and deleting the account could take them with it, so it was left in place; the purge that erases them deletes it then";

/** Why a purge did not delete an account held back by kept records once they were purged: its records can no longer be listed. */
export const ACCOUNT_NOT_LISTED =
  "the records under the account could no longer be listed (HTTP 404: the account may have been deleted in the system meanwhile), so the purge did not delete it; check it in the system";

/** Why a purge did not delete an account held back by kept records: it no longer holds the address the deletion was made for. */
export const ACCOUNT_NOT_HERS =
  "the search no longer answers the account under the address the deletion was made for, yet the system still holds it (its address changed, or its id given to someone else since), so the purge did not delete it; check it in the system";

/**
 * Why a deletion leaves a record of a resource without `erase` (access only) in place: the connector
 * never erases it, so the plan counts it residual (not erased) and the erasure names it so.
 */
export const RECORD_NOT_ERASABLE = "the connector is given no way to erase records of this kind (its resource has no erase: access only), so they stay in the system; erase them there";
/** Why a deletion leaves the account in place when records under it are still there (not erased, or not erasable: access only). */
export const ACCOUNT_RECORDS_REMAIN = "records under the account are still there after the erasure (it could not erase them, or they are access only), and deleting the account would hide them from every later check, so it stays until they are gone";

/** The subject's account as collect yields it: the fields the person receives, planned residual when nothing can erase it. */
function accountRecord(account: HttpAccountConfig, type: string, id: string, item: Record<string, unknown>): SubjectRecord {
  const data: Record<string, unknown> = {};
  for (const f of account.fields) data[f] = exactValue(pick(item, f) ?? null);
  return { category: account.category, type, id, data, ...(account.erase ? {} : { residualOnErasure: ACCOUNT_NOT_ERASABLE }) };
}

/**
 * What an ANONYMIZE sends for one record: a PATCH only the replacements (nested at their dotted paths);
 * a PUT, which replaces the whole record, the record as listed with the replacements set, so the
 * fields it keeps stay (without them a PUT would wipe an invoice's amount the bookkeeping keeps).
 */
function anonymizedBody(erase: Extract<HttpErase, { strategy: "ANONYMIZE" }>, item: Record<string, unknown>): Record<string, unknown> {
  return withValues(erase.method === "PUT" ? item : {}, erase.fields);
}

/**
 * The sign, if any, that a 2xx answer reports a failure: a top-level `error` holding something (a
 * message, an object, true), `errors` holding a non-empty list or object (GraphQL and JSON:API style),
 * `ok`/`success` false (Slack style), `status` "error" or "fail" (JSend); or that it is not the whole
 * answer: `incomplete_results` true (GitHub's search, timed out), `timed_out`/`timedOut` true
 * (Elasticsearch, with the hits it had). Taken for the listing, either would hand over (and erase)
 * part of her records as all. Returned as it is named, undefined when there is none.
 */
export function errorMarker(body: unknown): string | undefined {
  if (!body || typeof body !== "object" || Array.isArray(body)) return undefined;
  const o = body as Record<string, unknown>;
  const holds = (v: unknown) => v === true || (typeof v === "string" && v !== "") || (typeof v === "object" && v !== null && Object.keys(v).length > 0);
  if (holds(o.error)) return "error";
  if (holds(o.errors)) return "errors";
  for (const flag of ["ok", "success"]) if (o[flag] === false) return `${flag}: false`;
  if (typeof o.status === "string" && /^(error|fail)$/i.test(o.status)) return `status: ${o.status}`;
  for (const flag of ["incomplete_results", "timed_out", "timedOut"]) if (o[flag] === true) return `${flag}: true`;
  return undefined;
}

/** The identity kinds a subject search fills in (`{email}`, `{userId}`), email first: it confirms every hit. */
export function searchKinds(query: Record<string, string>): string[] {
  const named = Object.values(query).flatMap((v) => [...v.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]));
  return [...new Set(["email", ...named])];
}
