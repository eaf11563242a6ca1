import http from "node:http";
import { AddressInfo } from "node:net";
import type { HttpConnectorConfig, HttpRosterConfig } from "../../../src/connectors/http";

export const REST_TOKEN = "rest_test_token_7c1e";
export const ADA = { email: "ada.lovelace@example.com" };
export const GRACE = { email: "grace.hopper@example.com" };
/** Björn in matching form; the stand-in stores his domain in ASCII (bjorn@xn--bcher-kva.de). */
export const BJORN = { email: "bjorn@bücher.de" };

interface Note {
  id: string;
  user: number;
  text: string;
  created_at: string;
}
interface Invoice {
  id: string;
  user: number;
  billing_name: string | null;
  billing_address: string | null;
  amount: number;
  issued_at: string;
}

/**
 * A small REST system standing in for a SaaS API the declarative HTTP connector is configured for:
 * bearer auth, a loose user search (in pages), the same endpoint listing every user without a search
 * (in pages, by id, each with its phone and a count of their records), notes paged by cursor (deleted one by one), invoices paged by
 * number (anonymised, never deleted), and fault injection (statuses with Retry-After, for the next N
 * calls or until healed). Every call is recorded.
 */
export class RestStandIn {
  /** Users as the system keeps them: an address or phone may be missing, and is kept as typed. */
  readonly users: Array<{ id: number; email: string | null; name: string; phone?: string | null }> = [
    { id: 1, email: "Ada.Lovelace@example.com", name: "Ada", phone: "+44 20 7946 0958" },
    { id: 2, email: "grace.hopper@example.com", name: "Grace", phone: "+1 (202) 555-0143" },
    // A near match the search returns for Ada's address: the connector must not take it for her.
    { id: 3, email: "ada.lovelace@example.com.au", name: "Not Ada" },
    { id: 4, email: "bjorn@xn--bcher-kva.de", name: "Björn" },
  ];
  notes: Note[] = [];
  invoices: Invoice[] = [];
  readonly calls: Array<{ method: string; path: string; status: number; at: number; idempotencyKey?: string }> = [];
  /** Answers for the next calls (of `method` only, when it is given, and past the first `after` of them): a status and a Retry-After (seconds) each; `path`: of that path only; `through`: the call takes effect first (a DELETE deletes), then is answered the status ("answer") or its connection dropped unanswered ("drop"). */
  faults: Array<{ status: number; retryAfter?: string; method?: string; body?: unknown; after?: number; through?: "answer" | "drop"; path?: string }> = [];
  /** Fields a PATCH of an invoice leaves as they are, yet answers 200 (as APIs do with fields they treat as read-only). */
  patchIgnores: string[] = [];
  /** The most invoices one page holds, whatever per_page asks (as APIs cap their page size); the answer's Link names the next page. */
  invoicePageCap = Number.POSITIVE_INFINITY;
  /** When true, a numbered page of invoices past the last answers 404 (as Django REST framework's "Invalid page."). */
  pastLastPage404 = false;
  /** Note ids a DELETE answers 204 for, yet leaves in place (as a system whose delete is queued, or lost). */
  deleteIgnores: string[] = [];
  /** Called with each call as it is answered (before the answer leaves): a test arms a fault for the calls after it. */
  onCall?: (call: { method: string; path: string; status: number }) => void;
  /** When true, listing the notes of a user the system no longer holds answers 404 (as APIs whose sub-resources need their parent). */
  notesOfMissingUser404 = false;
  /** While set, every call answers this. */
  failing?: { status: number; retryAfter?: string };
  /** Called after each answer, with the call (to change the system between two pages, as its other users do). */
  afterAnswer?: (call: { method: string; path: string; query: URLSearchParams }) => void;
  /** Whether the listing of everyone (a search the API does not read) names its next page in a Link header; false: it gives no sign. */
  usersLinks = true;
  /** The order everyone is listed in: by id, or newest (highest id) first. */
  usersOrder: "id" | "newest" = "id";
  /**
   * When true, listing one user's notes answers every user's (an API that ignores the user in the path,
   * or its scope); "for numbers", the same for a numeric user id, and 400 for any other.
   */
  notesScopeIgnored: boolean | "for numbers" = false;
  /** When true, the search compares addresses case exactly (`Ada@Example.COM` is not found by `ada@example.com`). */
  searchMatchesCase = false;
  /** What a DELETE of a note or user no longer there answers: 404, or 410 Gone (as APIs that remember deletions do). */
  goneStatus: 404 | 410 = 404;
  /** When set, the invoices' links.next is a full URL under this origin (a next link to another host) instead of relative. */
  invoiceNextAt?: string;
  /**
   * When set, a DELETE or PATCH of a note, an invoice or a user answers with this text and this status
   * instead of JSON (as APIs answering a write `200 OK` in plain text, or a 404 with an HTML page).
   */
  writeText?: { ok: number; gone?: number; text: string; contentType?: string };
  /**
   * When true, a value held as a string of 16 digits or more is answered as a bare JSON number, and one
   * sent so is kept as its digits (as an API with 64-bit integers does): the digits, exactly, either way.
   */
  bareBigIntegers = false;
  private server?: http.Server;
  url = "";

  constructor() {
    const day = (d: number) => new Date(Date.UTC(2020, 0, 1) + d * 86_400_000).toISOString();
    for (let i = 1; i <= 5; i++) this.notes.push({ id: `n-a${i}`, user: 1, text: `Ada's note ${i}`, created_at: day(i * 200) });
    for (let i = 1; i <= 2; i++) this.notes.push({ id: `n-g${i}`, user: 2, text: `Grace's note ${i}`, created_at: day(i) });
    this.notes.push({ id: "n-x1", user: 3, text: "someone else", created_at: day(3) });
    this.notes.push({ id: "n-b1", user: 4, text: "Björn's note", created_at: day(4) });
    for (let i = 1; i <= 3; i++) this.invoices.push({ id: `in-a${i}`, user: 1, billing_name: "Ada Lovelace", billing_address: "12 St James's Square", amount: 100 * i, issued_at: day(i * 300) });
    this.invoices.push({ id: "in-g1", user: 2, billing_name: "Grace Hopper", billing_address: "Arlington", amount: 80, issued_at: day(5) });
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let raw = "";
      req.on("data", (c) => (raw += c));
      req.on("end", () => {
        if (this.bareBigIntegers) raw = raw.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
        const url = new URL(req.url ?? "/", "http://x");
        // A fault `through` lets its call take effect first, then answers the fault ("answer") or drops the connection unanswered ("drop").
        let through: (typeof this.faults)[number] | undefined;
        const answer = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
          if (through?.through === "drop") {
            this.calls.push({ method: req.method ?? "", path: url.pathname, status: 0, at: Date.now(), idempotencyKey: req.headers["idempotency-key"] as string | undefined });
            return void req.socket.destroy();
          }
          if (through) {
            status = through.status;
            body = { error: "injected" };
          }
          const text = this.writeText && req.method !== "GET" ? this.writeText : undefined;
          // A write answered in text (writeText): its own status for a success, and for a record no longer there.
          if (text) status = status < 300 ? text.ok : (text.gone ?? status);
          this.calls.push({ method: req.method ?? "", path: url.pathname, status, at: Date.now(), idempotencyKey: req.headers["idempotency-key"] as string | undefined });
          this.afterAnswer?.({ method: req.method ?? "", path: url.pathname, query: url.searchParams });
          this.onCall?.({ method: req.method ?? "", path: url.pathname, status });
          if (text) return void res.writeHead(status, { "content-type": text.contentType ?? "text/plain", ...headers }).end(text.text);
          const json = body === undefined ? "" : JSON.stringify(body);
          res.writeHead(status, { "content-type": "application/json", ...headers }).end(this.bareBigIntegers ? json.replace(/"(-?\d{16,})"/g, "$1") : json);
        };
        // A fault with `after` lets that many of its calls through first (the third DELETE fails, not the first).
        const queued = this.faults.findIndex((f) => (f.method === undefined || f.method === req.method) && (f.path === undefined || f.path === url.pathname) && !(f.after && f.after-- > 0));
        const fault = this.failing ?? (queued >= 0 ? this.faults.splice(queued, 1)[0] : undefined);
        if (fault && "through" in fault && fault.through) through = fault as (typeof this.faults)[number];
        else if (fault) return answer(fault.status, "body" in fault ? fault.body : { error: "injected" }, fault.retryAfter ? { "retry-after": fault.retryAfter } : {});
        if (req.headers.authorization !== `Bearer ${REST_TOKEN}`) return answer(401, { error: "unauthorized" });
        const parts = url.pathname.split("/").filter(Boolean);
        if (req.method === "GET" && url.pathname === "/api/me") return answer(200, { me: "dsr-bot" });
        if (req.method === "GET" && url.pathname === "/api/users") {
          // With ?email= a loose search (through whatever the address field holds, a list too); without it, everyone in order of id (a listing, as user APIs have).
          const asked = url.searchParams.get("email") ?? undefined;
          const q = this.searchMatchesCase ? asked : asked?.toLowerCase();
          const held = (email: unknown) => (this.searchMatchesCase ? JSON.stringify(email ?? "") : JSON.stringify(email ?? "").toLowerCase());
          // Pages of 25 unless per_page says otherwise, as search APIs answer.
          const perPage = Number(url.searchParams.get("per_page") ?? 25);
          const page = Number(url.searchParams.get("page") ?? 1);
          const hits = (q === undefined ? [...this.users].sort((a, b) => (this.usersOrder === "id" ? a.id - b.id : b.id - a.id)) : this.users.filter((u) => q && held(u.email).includes(q))).map((u) => ({ ...u, stats: { records: this.recordsOf(u.id) } }));
          return answer(200, { users: hits.slice((page - 1) * perPage, page * perPage) }, this.nextLink(url, page, (q !== undefined || this.usersLinks) && page * perPage < hits.length));
        }
        if (req.method === "GET" && parts[1] === "users" && parts.length === 3) {
          const user = this.users.find((u) => String(u.id) === parts[2]);
          return user ? answer(200, user) : answer(this.goneStatus, { error: "no such user" });
        }
        if (req.method === "DELETE" && parts[1] === "users" && parts.length === 3) {
          // The account only: its notes and invoices stay, under an id nobody holds any more (as an API without cascading deletes).
          const at = this.users.findIndex((u) => String(u.id) === parts[2]);
          if (at < 0) return answer(this.goneStatus);
          this.users.splice(at, 1);
          return answer(204);
        }
        if (req.method === "GET" && parts[1] === "users" && parts[3] === "notes") {
          if (this.notesOfMissingUser404 && !this.users.some((u) => String(u.id) === parts[2])) return answer(404, { error: "no such user" });
          if (this.notesScopeIgnored === "for numbers" && !/^\d+$/.test(parts[2])) return answer(400, { error: "user id must be a number" });
          const mine = this.notes.filter((n) => this.notesScopeIgnored || n.user === Number(parts[2])).sort((a, b) => a.id.localeCompare(b.id));
          const after = url.searchParams.get("cursor");
          const limit = Number(url.searchParams.get("limit") ?? 2);
          const from = after ? mine.findIndex((n) => n.id > after) : 0;
          const page = from < 0 ? [] : mine.slice(from, from + limit);
          const more = from >= 0 && from + limit < mine.length;
          return answer(200, { notes: page, meta: { next_cursor: more ? page[page.length - 1].id : null } });
        }
        if (req.method === "GET" && url.pathname === "/api/notes") {
          // Every note, filtered by user_id only: an unknown filter (user=) is ignored, as many APIs do.
          const user = url.searchParams.get("user_id");
          return answer(200, { notes: this.notes.filter((n) => user === null || n.user === Number(user)) });
        }
        if (req.method === "DELETE" && parts[1] === "notes") {
          const before = this.notes.length;
          this.notes = this.notes.filter((n) => n.id !== parts[2] || this.deleteIgnores.includes(n.id));
          return answer(this.notes.length < before ? 204 : this.goneStatus);
        }
        if (req.method === "GET" && parts[1] === "users" && parts[3] === "invoices") {
          const mine = this.invoices.filter((n) => n.user === Number(parts[2]));
          const page = Number(url.searchParams.get("page") ?? 1);
          const size = Math.min(Number(url.searchParams.get("per_page") ?? 2), this.invoicePageCap);
          if (this.pastLastPage404 && page > 1 && (page - 1) * size >= mine.length) return answer(404, { detail: "Invalid page." });
          // The next page also in the body, as a reference relative to this page (as JSON:API's links.next may be).
          const next = `invoices?page=${page + 1}&per_page=${size}`;
          const links = page * size < mine.length ? { links: { next: this.invoiceNextAt ? `${this.invoiceNextAt}${url.pathname.replace(/invoices$/, next)}` : next } } : {};
          return answer(200, { data: { invoices: mine.slice((page - 1) * size, page * size) }, ...links }, this.nextLink(url, page, page * size < mine.length));
        }
        if (req.method === "PATCH" && parts[1] === "invoices") {
          const invoice = this.invoices.find((n) => n.id === parts[2]);
          if (!invoice) return answer(404);
          const patch = JSON.parse(raw || "{}") as Record<string, unknown>;
          for (const field of this.patchIgnores) delete patch[field];
          Object.assign(invoice, patch);
          return answer(200, { invoice });
        }
        if (req.method === "PUT" && parts[1] === "invoices") {
          // A PUT replaces the whole invoice with the body, as REST has it: a field left out is gone.
          const at = this.invoices.findIndex((n) => n.id === parts[2]);
          if (at < 0) return answer(404);
          this.invoices[at] = { ...(JSON.parse(raw || "{}") as Invoice), id: parts[2] };
          return answer(200, { invoice: this.invoices[at] });
        }
        answer(404, { error: "no such route" });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/api`;
    return this;
  }

  /** A Link header naming the next page while there is one (RFC 8288, as GitHub's and many search APIs answer). */
  private nextLink(url: URL, page: number, more: boolean): Record<string, string> {
    if (!more) return {};
    const next = new URL(url.toString().replace("http://x", this.url.replace(/\/api$/, "")));
    next.searchParams.set("page", String(page + 1));
    return { link: `<${next.toString()}>; rel="next"` };
  }

  /** What collect yields for a user: their notes and invoices, but anonymised ones (nobody's). */
  recordsOf(user: number): number {
    return this.notes.filter((n) => n.user === user).length + this.invoices.filter((i) => i.user === user && (i.billing_name !== null || i.billing_address !== null)).length;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }
}

/** The connector's configuration for a stand-in (a fresh copy each call); the token is read from REST_TEST_TOKEN. */
export function restConfig(standIn: RestStandIn): HttpConnectorConfig {
  return {
    name: "helpdesk",
    version: "1.0.0",
    baseUrl: standIn.url,
    auth: { type: "bearer", tokenEnv: "REST_TEST_TOKEN" },
    checkPath: "/me",
    subject: {
      path: "/users",
      query: { email: "{email}" },
      items: "users",
      idField: "id",
      matchField: "email",
      account: { category: "ACCOUNT", fields: ["email", "name", "phone"], erase: { strategy: "DELETE", path: "/users/{subject}" } },
    },
    resources: [
      {
        recordType: "note",
        category: "SUPPORT",
        path: "/users/{subject}/notes",
        items: "notes",
        pagination: { type: "cursor", cursorParam: "cursor", nextCursor: "meta.next_cursor", sizeParam: "limit", size: 2 },
        idField: "id",
        fields: ["text", "created_at"],
        recordedAtField: "created_at",
        erase: { strategy: "DELETE", path: "/notes/{record}" },
      },
      {
        recordType: "invoice",
        category: "PAYMENTS",
        path: "/users/{subject}/invoices",
        items: "data.invoices",
        pagination: { type: "page", pageParam: "page", sizeParam: "per_page", size: 2 },
        idField: "id",
        fields: ["billing_name", "billing_address", "amount", "issued_at"],
        recordedAtField: "issued_at",
        erase: { strategy: "ANONYMIZE", method: "PATCH", path: "/invoices/{record}", fields: { billing_name: null, billing_address: null }, keep: ["amount", "issued_at"] },
      },
    ],
    requestsPerSecond: 200,
    timeoutMs: 2000,
  };
}

/** The roster section for a stand-in: everyone at GET /users, in pages of 2, by email and phone, with their record count. */
export function restRoster(): HttpRosterConfig {
  return {
    path: "/users",
    items: "users",
    pagination: { type: "page", pageParam: "page", sizeParam: "per_page", size: 2 },
    identities: { email: "email", phone: "phone" },
    recordsField: "stats.records",
  };
}
