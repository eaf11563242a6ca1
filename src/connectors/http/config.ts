/**
 * The declarative HTTP connector's configuration: a REST system described in JSON (where it is, how to
 * authenticate, how to find the subject, how to list and erase their records, how hard it may be
 * pushed), like the SaaS configurations of DSR products. Validated as a whole: every problem at once.
 */

import { plainHttpProblem, plaintextHosts } from "../../config/transport";
import { emailProblem } from "../../domain/identities";
import { recordedAtFormatProblems, type RecordedAtFormat } from "../recordedAt";
import { isReplacementValue, ReplacementValue } from "../replacement";
import { kindProblem } from "../sdk";

/** How list responses page. */
export type Pagination =
  | { type: "none" }
  /** The response carries the next cursor at `nextCursor` (a dotted path); it is sent back as query `cursorParam`. */
  | { type: "cursor"; cursorParam: string; nextCursor: string; sizeParam?: string; size?: number }
  /** Numbered pages from 1 (query `pageParam`, page size `sizeParam`); a short page is the last unless the answer says more follow (a capped page size); a page after the first answering 404 is past the last. */
  | { type: "page"; pageParam: string; sizeParam: string; size: number }
  /** The response carries the next page's full URL at `next` (a dotted path), as Zendesk's links.next. */
  | { type: "link"; next: string };

/** A value ANONYMIZE writes in place of personal data. */
export type HttpReplacement = ReplacementValue;

/** How a record is erased: deleted, or its personal fields overwritten (the record stays, e.g. for bookkeeping). */
export type HttpErase =
  | { strategy: "DELETE"; path: string }
  | {
      strategy: "ANONYMIZE";
      method: "PATCH" | "PUT";
      path: string;
      /**
       * Field (a dotted path) -> replacement. PATCH sends just these, nested as the path says; PUT sends
       * the record as listed with these set, since a PUT replaces the whole record and would otherwise
       * drop the fields kept (an invoice's amount, which bookkeeping must keep). Every field the person receives (the resource's `fields`)
       * is overwritten here or named in `keep`: an item holding every replacement is nobody's (collect
       * and erase pass it by), so whatever it still holds must identify nobody.
       */
      fields: Record<string, HttpReplacement>;
      /** Received fields left as they are because they identify nobody once the rest is overwritten (an amount, a date). */
      keep?: string[];
    };

/**
 * The account the subject search finds, as a record of its own: what it holds (the address it was found
 * by, a name, a phone) is the person's data too, exported with the rest and erased with it.
 */
export interface HttpAccountConfig {
  /** Category of the account record (upper case, as every category). */
  category: string;
  /** Record type in the export (default `account`). */
  recordType?: string;
  /** Fields of the search's item the person receives (dotted paths), the address among them. */
  fields: string[];
  /**
   * How the account is deleted (`{subject}` in its path is the account's id), after the records under it,
   * and only when none of them stays (kept by a rule or a hold): deleting an account may take its records
   * with it. Absent: the account is never erased, and each deletion plans it and reports it as residual.
   */
  erase?: { strategy: "DELETE"; path: string };
}

export interface HttpResourceConfig {
  /** Record type in the export, e.g. `ticket`. */
  recordType: string;
  category: string;
  /**
   * GET path listing the subject's records; `{subject}` (required) is the subject's id in the system. A
   * path that lists everyone's records would hand them all over, and erase them all, for each person.
   */
  path: string;
  /**
   * Dotted field of each listed record holding the id of the account it belongs to (what `{subject}`
   * is): a record of another account fails the listing, before any write. Required when `{subject}`
   * is only in the query (`/notes?user={subject}`): an API ignores a filter it does not know and
   * answers everyone's records.
   */
  subjectField?: string;
  /** Dotted path of the array of items in a list response, e.g. `tickets` or `data.items`. */
  items: string;
  pagination: Pagination;
  /** Field of an item holding its id. */
  idField: string;
  /** The fields the person receives. */
  fields: string[];
  /** Field holding when the record came into being (ISO 8601 or epoch), for retention. */
  recordedAtField?: string;
  /**
   * How recordedAtField writes its dates (recordedAt.ts RECORDED_AT_FORMATS). Without it, date text is
   * read as such and a number only as 10-digit epoch seconds or 13-digit epoch milliseconds; any other
   * number fails the task rather than be guessed.
   */
  recordedAtFormat?: RecordedAtFormat;
  /**
   * `{record}` in its path is the record's id. Absent: the records are never erased (access only); a
   * deletion plans and reports them residual (RECORD_NOT_ERASABLE), and the account over them too.
   */
  erase?: HttpErase;
}

/**
 * How to list everyone the system holds, for a breach roster (Connector.listSubjects). Absent: the
 * connector has no listSubjects, and rosters name it NOT_LISTABLE.
 */
export interface HttpRosterConfig {
  /** GET path listing every person, e.g. `/users` (no placeholders: it is nobody's in particular). */
  path: string;
  /** Fixed query sent with every page, e.g. `{"include_inactive": "true"}`. */
  query?: Record<string, string>;
  /** Dotted path of the array of people in a page, e.g. `users` or `data.items`. */
  items: string;
  /** Required, even when `none`: a whole-system listing nearly always pages. */
  pagination: Pagination;
  /**
   * Identity kind -> dotted field of an item holding it, e.g. `{"email": "email", "phone": "contact.phone"}`.
   * Map only values that mean the same elsewhere: an id of this system is not `userId` (the platform's).
   */
  identities: Record<string, string>;
  /**
   * Numeric field holding how many records collect yields for the person (every resource together).
   * Only when the API gives that exactly; otherwise leave it out and the roster leaves the count empty.
   */
  recordsField?: string;
  /** Pages of the listing at most (default 100000); past it the roster fails rather than stop short. */
  maxPages?: number;
}

export interface HttpConnectorConfig {
  name: string;
  version: string;
  /** Base URL of the API (paths are appended). */
  baseUrl: string;
  /** Credentials, read from the environment when the connector is built (never written in the file). */
  auth: { type: "bearer"; tokenEnv: string } | { type: "header"; header: string; valueEnv: string } | { type: "basic"; userEnv: string; passwordEnv: string };
  /** GET path that answers 2xx with valid credentials (reachability and credentials). */
  checkPath: string;
  /**
   * How to find the subject: GET `path` with the query (`{email}` and other identity kinds filled in);
   * every item whose `matchField` is the same address in matching form is them (two accounts under one
   * address are both theirs). `pagination` (default none) pages through a search that answers in pages.
   * `account` makes the account found a record of its own (required when any resource erases: a deletion
   * must say what becomes of the account, which holds the address the person was found by).
   */
  subject: { path: string; query: Record<string, string>; items: string; idField: string; matchField: string; pagination?: Pagination; account?: HttpAccountConfig };
  resources: HttpResourceConfig[];
  /** How to list everyone the system holds, for breach rosters; absent: not listable. */
  roster?: HttpRosterConfig;
  /** Calls per second at most (spread evenly); default 5. */
  requestsPerSecond?: number;
  /** Statuses worth retrying (default 408, 425, 429, 500, 502, 503, 504); their Retry-After is passed on. */
  retryableStatuses?: number[];
  /** Time one call may take, in ms, its answer's body included (default 10000). */
  timeoutMs?: number;
  /**
   * Bytes one answer may hold at most (default 32 MiB): past it the call fails, not retried, and the
   * rest is not read, so a runaway page or an API answering a file never holds the process's memory.
   */
  maxResponseBytes?: number;
  /**
   * Pages of one resource listed for one subject at most (default 10000). Past it the task fails,
   * naming the resource, rather than collect or erase only the pages read (a next link or cursor that
   * never ends, or a far bigger subject than planned for).
   */
  maxPages?: number;
  /**
   * Repeats of a read (GET) that failed with a retryable status or a network failure, made inline after
   * its Retry-After (or a short backoff) before the task fails and starts over (default 2, 0-10). Writes
   * are never repeated inline: a DELETE whose answer was lost is re-read on the task's next attempt.
   */
  readRetries?: number;
  /** The longest Retry-After waited out inline, in ms (default 10000); a longer one fails the task, which the orchestrator retries after it. */
  maxInlineWaitMs?: number;
}

const NAME = /^[a-z][a-z0-9-]{1,39}$/;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown) => typeof v === "string" && v.trim() !== "";

function paginationProblems(p: unknown, at: string): string[] {
  if (!isRecord(p)) return [`${at}.pagination is required: {"type": "none" | "cursor" | "page" | "link", ...}`];
  switch (p.type) {
    case "none":
      return [];
    case "cursor":
      return [...(str(p.cursorParam) ? [] : [`${at}.pagination.cursorParam is required`]), ...(str(p.nextCursor) ? [] : [`${at}.pagination.nextCursor is required (where the next cursor is in a response)`])];
    case "page":
      return [
        ...(str(p.pageParam) && str(p.sizeParam) ? [] : [`${at}.pagination needs pageParam and sizeParam`]),
        ...(Number.isInteger(p.size) && (p.size as number) > 0 && (p.size as number) <= 1000 ? [] : [`${at}.pagination.size must be a whole number from 1 to 1000`]),
      ];
    case "link":
      return str(p.next) ? [] : [`${at}.pagination.next is required (where the next page's URL is in a response)`];
    default:
      return [`${at}.pagination.type must be none, cursor, page or link`];
  }
}

const ROSTER_FIELDS = ["path", "query", "items", "pagination", "identities", "recordsField", "maxPages"];

function rosterProblems(r: unknown): string[] {
  if (!isRecord(r)) return ["roster must be an object: {path, items, pagination, identities, query?, recordsField?, maxPages?}"];
  const problems = Object.keys(r)
    .filter((k) => !ROSTER_FIELDS.includes(k))
    .map((k) => `roster: unknown field "${k}" (allowed: ${ROSTER_FIELDS.join(", ")})`);
  for (const f of ["path", "items"]) if (!str(r[f])) problems.push(`roster.${f} is required`);
  if (str(r.path) && /\{[A-Za-z0-9_]+\}/.test(String(r.path))) problems.push("roster.path cannot hold a placeholder: the listing is everyone's, nobody's in particular");
  if (r.query !== undefined && !(isRecord(r.query) && Object.values(r.query).every((v) => typeof v === "string"))) problems.push("roster.query must map query parameters to fixed strings");
  problems.push(...paginationProblems(r.pagination, "roster"));
  if (!isRecord(r.identities) || Object.keys(r.identities).length === 0) problems.push(`roster.identities must map at least one identity kind to the field holding it, e.g. {"email": "email"}`);
  else {
    for (const [kind, field] of Object.entries(r.identities)) {
      const wrong = kindProblem(kind);
      if (wrong) problems.push(`roster.identities: ${wrong}`);
      if (!str(field)) problems.push(`roster.identities.${kind} must be the dotted field holding it`);
    }
  }
  if (r.recordsField !== undefined && !str(r.recordsField)) problems.push("roster.recordsField must be the dotted field holding the person's record count");
  if (r.maxPages !== undefined && !(Number.isInteger(r.maxPages) && (r.maxPages as number) >= 1 && (r.maxPages as number) <= 10_000_000)) problems.push("roster.maxPages must be a whole number from 1 to 10000000");
  return problems;
}

/**
 * A resource lists one account's records: its path holds `{subject}`, in the path itself or, with a
 * `subjectField` to confirm each record by, in the query (a filter an API may ignore, answering
 * everyone's records: each would be exported to the person and erased with her).
 */
function subjectScopeProblems(at: string, r: Record<string, unknown>): string[] {
  if (r.subjectField !== undefined && !str(r.subjectField)) return [`${at}.subjectField must be the dotted field of a record holding its account's id`];
  if (!str(r.path)) return [];
  const [path, query = ""] = String(r.path).split("?", 2);
  if (!path.includes("{subject}") && !query.includes("{subject}")) return [`${at}.path must hold {subject}, the person's id: a path without it lists everyone's records, each of which would be exported to the person and erased with her`];
  if (!path.includes("{subject}") && r.subjectField === undefined) return [`${at}.path holds {subject} only in its query, a filter the API may ignore and answer everyone's records: give subjectField, the field of a record holding its account's id, so each record is confirmed`];
  return [];
}

/**
 * The placeholders of a path that are never filled in: the call would carry the text itself
 * (`/users/%7Bemail%7D`), which the API answers 404 or, worse, with whatever matches it.
 */
function strayPlaceholders(at: string, path: unknown, filled: readonly string[]): string[] {
  if (typeof path !== "string") return [];
  const stray = [...new Set([...path.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]).filter((key) => !filled.includes(key)))];
  if (!stray.length) return [];
  const only = filled.length ? `only ${filled.map((f) => `{${f}}`).join(" and ")} ${filled.length > 1 ? "are" : "is"} filled in there` : "nothing is filled in there (identities go in subject.query)";
  return [`${at} holds ${stray.map((k) => `{${k}}`).join(", ")}, which is never filled in: ${only}`];
}

const ACCOUNT_FIELDS = ["category", "recordType", "fields", "erase"];

/**
 * The subject's account as a record: where it is exported and how it is erased. Required once a resource
 * erases: without it a deletion would complete with the account, and what it holds, left in the system
 * and nothing in the report saying so.
 */
function accountProblems(account: unknown, erases: boolean): string[] {
  if (account === undefined) {
    return erases
      ? [
          `subject.account is required when a resource erases: the account the search finds holds the person's address (and what else it holds), and a deletion must say what becomes of it. Give {"category": "ACCOUNT", "fields": ["email", ...], "erase": {"strategy": "DELETE", "path": "/users/{subject}"}}, or leave out erase to have every deletion report the account as left in place`,
        ]
      : [];
  }
  if (!isRecord(account)) return ['subject.account must be an object: {category, fields, recordType?, erase?}'];
  const problems = Object.keys(account)
    .filter((k) => !ACCOUNT_FIELDS.includes(k))
    .map((k) => `subject.account: unknown field "${k}" (allowed: ${ACCOUNT_FIELDS.join(", ")})`);
  if (!str(account.category)) problems.push("subject.account.category is required");
  if (account.recordType !== undefined && !str(account.recordType)) problems.push("subject.account.recordType must be text (default account)");
  if (!Array.isArray(account.fields) || account.fields.length === 0 || !account.fields.every(str)) problems.push("subject.account.fields must list the fields of the search's item the person receives");
  const erase = account.erase;
  if (erase !== undefined) {
    if (!isRecord(erase) || erase.strategy !== "DELETE") problems.push('subject.account.erase must be {"strategy": "DELETE", "path": "..."}');
    else if (!str(erase.path) || !String(erase.path).split("?")[0].includes("{subject}")) problems.push("subject.account.erase.path is required and must hold {subject} in its path, the account's id");
    else {
      problems.push(...strayPlaceholders("subject.account.erase.path", erase.path, ["subject"]));
      const stray = Object.keys(erase).filter((k) => k !== "strategy" && k !== "path");
      if (stray.length) problems.push(`subject.account.erase: unknown field${stray.length > 1 ? "s" : ""} ${shown(stray)} (allowed: strategy, path)`);
    }
  }
  return problems;
}

const ANONYMIZE_FIELDS = ["strategy", "method", "path", "fields", "keep"];
const shown = (fields: unknown[]) => fields.map((f) => `"${String(f)}"`).join(", ");

/**
 * An anonymised item stays listed under the person's account, and an item holding every replacement
 * is taken for nobody's (collect and erase pass it by). So the replacements must cover every field the
 * person receives but those `keep` names as identifying nobody; otherwise the deletion would report
 * erased an item that still holds them.
 */
function anonymizeProblems(at: string, r: Record<string, unknown>, erase: Record<string, unknown>): string[] {
  const problems = Object.keys(erase)
    .filter((k) => !ANONYMIZE_FIELDS.includes(k))
    .map((k) => `${at}.erase: unknown field "${k}" (allowed: ${ANONYMIZE_FIELDS.join(", ")})`);
  if (erase.method !== "PATCH" && erase.method !== "PUT") problems.push(`${at}.erase.method must be PATCH or PUT`);
  const replaced = erase.fields;
  if (!isRecord(replaced) || Object.keys(replaced).length === 0) return [...problems, `${at}.erase.fields must give the replacement of each personal field`];
  for (const [field, value] of Object.entries(replaced)) {
    if (!isReplacementValue(value)) problems.push(`${at}.erase.fields.${field} must be a string, number, boolean or null`);
    // The subject search finds people by address: an anonymised account holding one would be found as whoever's it is.
    else if (typeof value === "string" && !emailProblem(value)) problems.push(`${at}.erase.fields.${field} is an email address: every anonymised record would hold it and be found as whoever's address it is; use null or ""`);
  }
  if (str(r.idField) && Object.hasOwn(replaced, String(r.idField))) problems.push(`${at}.erase.fields cannot overwrite the idField ${String(r.idField)}`);
  const keep: unknown[] = Array.isArray(erase.keep) ? erase.keep : [];
  if (erase.keep !== undefined && !(Array.isArray(erase.keep) && erase.keep.every(str))) problems.push(`${at}.erase.keep must list received fields`);
  const both = keep.filter((f) => typeof f === "string" && Object.hasOwn(replaced, f));
  if (both.length) problems.push(`${at}.erase.keep lists ${shown(both)}, which erase.fields overwrites: name each field in one of them`);
  const received: unknown[] = Array.isArray(r.fields) ? r.fields : [];
  const strays = keep.filter((f) => typeof f === "string" && !received.includes(f));
  if (strays.length) problems.push(`${at}.erase.keep lists ${shown(strays)}, which the person does not receive (not in fields)`);
  const left = received.filter((f) => typeof f === "string" && !Object.hasOwn(replaced, f) && !keep.includes(f));
  if (left.length) {
    const many = left.length > 1;
    problems.push(
      `${at}: ANONYMIZE leaves the received field${many ? "s" : ""} ${shown(left)} as ${many ? "they are" : "it is"}: overwrite ${many ? "them" : "it"} in erase.fields, or list ${many ? "them" : "it"} in erase.keep if ${many ? "they identify" : "it identifies"} nobody once the rest is overwritten (an amount, a date)`,
    );
  }
  return problems;
}

/** Every problem of a configuration, and of the environment it reads (never a secret's value). */
export function httpConfigProblems(c: Partial<HttpConnectorConfig> | null, env: NodeJS.ProcessEnv): string[] {
  if (!isRecord(c)) return ["the configuration must be an object"];
  const problems: string[] = [];
  if (!NAME.test(String(c.name ?? ""))) problems.push(`name "${String(c.name)}" must be 2-40 lower-case letters, digits or dashes, starting with a letter`);
  if (!str(c.version)) problems.push("version is required");
  if (!str(c.baseUrl) || !/^https?:\/\/[^/]+/.test(String(c.baseUrl))) problems.push("baseUrl must be an http(s) URL");
  else {
    const plain = plainHttpProblem("baseUrl", String(c.baseUrl), "the subject's identities, their records and the API's credentials", plaintextHosts(env.DSR_PLAINTEXT_HOSTS));
    if (plain) problems.push(plain);
  }
  if (!str(c.checkPath) || !String(c.checkPath).startsWith("/")) problems.push("checkPath must be a path starting with / (a cheap authenticated GET)");
  const auth = c.auth as Record<string, unknown> | undefined;
  const needEnv = (field: string) => {
    const variable = auth?.[field];
    if (!str(variable)) problems.push(`auth.${field} is required: the environment variable holding the secret`);
    else if (!env[String(variable)]) problems.push(`environment variable ${String(variable)} (auth.${field}) is not set`);
  };
  if (!isRecord(auth)) problems.push(`auth is required: {"type": "bearer", "tokenEnv": "..."}, {"type": "header", "header": "...", "valueEnv": "..."} or {"type": "basic", "userEnv": "...", "passwordEnv": "..."}`);
  else if (auth.type === "bearer") needEnv("tokenEnv");
  else if (auth.type === "header") {
    if (!str(auth.header)) problems.push("auth.header is required");
    needEnv("valueEnv");
  } else if (auth.type === "basic") {
    needEnv("userEnv");
    needEnv("passwordEnv");
  } else problems.push("auth.type must be bearer, header or basic");
  const s = c.subject as Record<string, unknown> | undefined;
  if (!isRecord(s)) problems.push("subject is required: how to find the person (path, query, items, idField, matchField)");
  else for (const f of ["path", "items", "idField", "matchField"]) if (!str(s[f])) problems.push(`subject.${f} is required`);
  if (isRecord(s) && !isRecord(s.query)) problems.push(`subject.query is required, e.g. {"email": "{email}"}`);
  else if (isRecord(s)) {
    for (const [param, value] of Object.entries(s.query as Record<string, unknown>)) {
      if (typeof value !== "string") problems.push(`subject.query.${param} must be text, e.g. "{email}"`);
      else for (const m of value.matchAll(/\{([^}]*)\}/g)) {
        const wrong = kindProblem(m[1]);
        if (wrong) problems.push(`subject.query.${param}: {${m[1]}} is not a placeholder of an identity kind: ${wrong}`);
      }
    }
  }
  if (isRecord(s)) problems.push(...strayPlaceholders("subject.path", s.path, []));
  if (isRecord(s) && s.pagination !== undefined) problems.push(...paginationProblems(s.pagination, "subject"));
  if (isRecord(s)) problems.push(...accountProblems(s.account, Array.isArray(c.resources) && c.resources.some((r) => isRecord(r) && r.erase !== undefined)));
  if (!Array.isArray(c.resources) || c.resources.length === 0) problems.push("resources must list at least one kind of record");
  for (const [i, r] of (Array.isArray(c.resources) ? c.resources : []).entries()) {
    const at = `resources[${i}]`;
    if (!isRecord(r)) {
      problems.push(`${at} must be an object`);
      continue;
    }
    for (const f of ["recordType", "category", "path", "items", "idField"]) if (!str(r[f])) problems.push(`${at}.${f} is required`);
    problems.push(...subjectScopeProblems(at, r), ...strayPlaceholders(`${at}.path`, r.path, ["subject"]));
    if (!Array.isArray(r.fields) || !r.fields.every(str)) problems.push(`${at}.fields must list the fields the person receives`);
    problems.push(...paginationProblems(r.pagination, at));
    problems.push(...recordedAtFormatProblems(`${at}.recordedAtFormat${str(r.recordType) ? ` (${r.recordType} records)` : ""}`, r.recordedAtFormat, r.recordedAtField !== undefined, "recordedAtField"));
    const erase = r.erase as Record<string, unknown> | undefined;
    if (erase !== undefined) {
      if (!isRecord(erase) || !str(erase.path) || !String(erase.path).includes("{record}")) problems.push(`${at}.erase.path is required and must contain {record}`);
      else {
        problems.push(...strayPlaceholders(`${at}.erase.path`, erase.path, ["subject", "record"]));
        if (erase.strategy === "ANONYMIZE") problems.push(...anonymizeProblems(at, r, erase));
        else if (erase.strategy !== "DELETE") problems.push(`${at}.erase.strategy must be DELETE or ANONYMIZE`);
      }
    }
  }
  if (c.roster !== undefined) problems.push(...rosterProblems(c.roster));
  if (c.requestsPerSecond !== undefined && !(typeof c.requestsPerSecond === "number" && c.requestsPerSecond > 0 && c.requestsPerSecond <= 1000)) problems.push("requestsPerSecond must be a number from 0 (exclusive) to 1000");
  if (c.timeoutMs !== undefined && !(Number.isInteger(c.timeoutMs) && c.timeoutMs > 0)) problems.push("timeoutMs must be a positive whole number");
  if (c.maxResponseBytes !== undefined && !(Number.isInteger(c.maxResponseBytes) && c.maxResponseBytes >= 1024 && c.maxResponseBytes <= 1024 ** 3)) problems.push("maxResponseBytes must be a whole number of bytes from 1024 to 1073741824");
  if (c.maxPages !== undefined && !(Number.isInteger(c.maxPages) && (c.maxPages as number) >= 1 && (c.maxPages as number) <= 1_000_000)) problems.push("maxPages must be a whole number from 1 to 1000000");
  if (c.readRetries !== undefined && !(Number.isInteger(c.readRetries) && c.readRetries >= 0 && c.readRetries <= 10)) problems.push("readRetries must be a whole number from 0 to 10");
  if (c.maxInlineWaitMs !== undefined && !(Number.isInteger(c.maxInlineWaitMs) && c.maxInlineWaitMs >= 0 && c.maxInlineWaitMs <= 600_000)) problems.push("maxInlineWaitMs must be a whole number of milliseconds from 0 to 600000");
  if (c.retryableStatuses !== undefined && !(Array.isArray(c.retryableStatuses) && c.retryableStatuses.every((n) => Number.isInteger(n) && n >= 400 && n <= 599))) {
    problems.push("retryableStatuses must list HTTP statuses from 400 to 599");
  }
  return problems;
}
