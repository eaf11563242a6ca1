import express, { NextFunction, Request, Response } from "express";
import { FaultDecision, ZendeskCalls, ZendeskFaults } from "./faults";
import { JobStatus, ZendeskJobs } from "./jobs";
import { offsetPage, originOf, paginate, PaginationError } from "./paging";
import { collaboratorsOf, PurgedUser, ZendeskStore } from "./store";
import type { ZendeskAttachment, ZendeskComment, ZendeskSuspendedTicket, ZendeskTicket, ZendeskUser } from "./types";

/** What the app needs: the credentials it accepts, its data, its faults and where it logs calls. */
export interface ZendeskAppOptions {
  email: string;
  apiToken: string;
  store: ZendeskStore;
  faults: ZendeskFaults;
  calls: ZendeskCalls;
  jobs: ZendeskJobs;
}

/** The API user the credentials belong to (an admin, as Zendesk API tokens act for one). */
const API_USER_ID = 9_000_000;

// Zendesk's error bodies, by status.
const notFound = { error: "RecordNotFound", description: "Not found" };
const unauthenticated = { error: "Couldn't authenticate you" };
const forbidden = { error: "Forbidden", description: "You do not have access to this page. Please contact the account owner of this help desk for further help." };
const invalid = (field: string, description: string) => ({ error: "RecordInvalid", description: "Record validation errors", details: { [field]: [{ description }] } });

function presentUser(req: Request, u: ZendeskUser | PurgedUser) {
  const { secondary_emails: _secondary, unverified_emails: _unverified, primary_email_verified: _primary, ...fields } = u as ZendeskUser;
  return { url: `${originOf(req)}/api/v2/users/${u.id}.json`, ...fields };
}

function presentTicket(req: Request, t: ZendeskTicket) {
  const { comments: _comments, side_conversations: _side, archived: _archived, follower_ids: followers, ...fields } = t;
  // As Zendesk serves them: the email CCs, the followers, and the older collaborator_ids holding both.
  return { url: `${originOf(req)}/api/v2/tickets/${t.id}.json`, ...fields, collaborator_ids: collaboratorsOf(t), email_cc_ids: t.collaborator_ids, follower_ids: followers ?? [] };
}

function presentJob(req: Request, job: JobStatus) {
  return { url: `${originOf(req)}/api/v2/job_statuses/${job.id}.json`, ...job };
}

function presentAttachment(req: Request, a: ZendeskAttachment) {
  const { content_path, ...fields } = a;
  return { url: `${originOf(req)}/api/v2/attachments/${a.id}.json`, ...fields, content_url: `${originOf(req)}${content_path}`, mapped_content_url: `${originOf(req)}${content_path}`, thumbnails: [] };
}

function presentSuspended(req: Request, s: ZendeskSuspendedTicket) {
  return { url: `${originOf(req)}/api/v2/suspended_tickets/${s.id}.json`, ...s, attachments: s.attachments.map((a) => presentAttachment(req, a)) };
}

/** A comment as Zendesk serves it: its inline images among its attachments only when asked (`include_inline_images=true`). */
function presentComment(req: Request, c: ZendeskComment, inlineImages = true) {
  return { ...c, attachments: c.attachments.filter((a) => inlineImages || !a.inline).map((a) => presentAttachment(req, a)), metadata: { system: {} } };
}

/** A user's identities as Zendesk lists them: the primary email first, then the others (ids derived from the user's). */
function identitiesOf(user: ZendeskUser) {
  const emails = [
    { value: user.email, verified: user.primary_email_verified !== false },
    ...(user.secondary_emails ?? []).map((value) => ({ value, verified: true })),
    ...(user.unverified_emails ?? []).map((value) => ({ value, verified: false })),
  ];
  // `verified` (the older field) and `verification_method` (its successor) both say whether the address was proven the user's.
  return [
    ...emails.map(({ value, verified }, i) => ({ id: user.id * 100 + i, user_id: user.id, type: "email", value, primary: i === 0, verified, verification_method: verified ? "full" : "none" })),
    // The profile's phone is a phone_number identity too (Zendesk does not verify those).
    ...(user.phone ? [{ id: user.id * 100 + 99, user_id: user.id, type: "phone_number", value: user.phone, primary: true, verified: false, verification_method: "none" }] : []),
  ];
}

/** The numeric id of a path parameter, or undefined (Zendesk answers 404 for anything else). */
const idOf = (raw: unknown) => (typeof raw === "string" && /^\d{1,15}$/.test(raw) ? Number(raw) : undefined);

/** The email a users search asks for: `query=email:ada@example.com`, quoted or not, or a bare address. */
function searchedEmail(query: unknown): string | undefined {
  if (typeof query !== "string") return undefined;
  const match = /^(?:email:)?"?([^"\s]+@[^"\s]+)"?$/.exec(query.trim());
  return match?.[1];
}

/** Serves the fault decided for this call: a 500, a 429 with Retry-After, a hang (no answer at all), or a 200 with an error body. */
function serveFault(res: Response, fault: FaultDecision): void {
  res.locals.fault = fault.kind;
  if (fault.kind === "hang") return;
  if (fault.kind === "200-error") return void res.status(200).json({ error: "TemporarilyUnavailable", description: "The service is busy; try again" });
  if (fault.kind === "429") {
    res.status(429).set("Retry-After", String(fault.retryAfterSeconds)).json({ error: "APIRateLimitExceeded", description: "Number of allowed API requests per minute exceeded" });
  } else res.status(500).json({ error: "InternalServerError", description: "Something went wrong; try again" });
}

/** The Zendesk Support API subset the ticketing connector uses, under /api/v2/. */
export function zendeskApp(options: ZendeskAppOptions): express.Express {
  const { store, faults, calls, jobs } = options;
  const expected = `Basic ${Buffer.from(`${options.email}/token:${options.apiToken}`).toString("base64")}`;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.use((req, res, next) => {
    const entry = { at: Date.now(), method: req.method, path: req.path, status: 0, fault: undefined as FaultDecision["kind"] | undefined };
    calls.entries.push(entry);
    res.on("finish", () => {
      entry.status = res.statusCode;
      entry.fault = res.locals.fault;
    });
    if (req.headers.authorization !== expected) return void res.status(401).json(unauthenticated);
    const gate = faults.gateFor(req.method, req.path);
    const go = () => (faults.latencyMs > 0 ? void setTimeout(() => handle(req, res, next, entry), faults.latencyMs) : handle(req, res, next, entry));
    if (gate) return void gate.then(go);
    go();
  });
  /** Serves a call's fault, or passes it on to its handler. */
  function handle(req: Request, res: Response, next: NextFunction, entry: { fault?: FaultDecision["kind"] }): void {
    const fault = faults.decide(req.method, req.path);
    if (!fault) return next();
    if (fault.kind === "cut-cursor") {
      entry.fault = fault.kind;
      res.locals.fault = fault.kind;
      const json = res.json.bind(res);
      res.json = (body: { links?: Record<string, unknown> }) => json(body?.links ? { ...body, links: { ...body.links, next: null } } : body);
      return next();
    }
    if (!fault.afterEffect) {
      entry.fault = fault.kind;
      return serveFault(res, fault);
    }
    // The handler runs (its side effect happens) but its answer is replaced: a write whose reply was lost,
    // whether it answers with a body (json) or none (a 204's end).
    const end = res.end;
    const lost = () => {
      serveFault(Object.assign(res, { json: express.response.json, end }), fault);
      return res;
    };
    res.json = lost;
    res.end = lost as unknown as Response["end"];
    next();
  }
  app.use(express.json({ limit: "1mb" }));

  app.get("/api/v2/users/me.json", (req, res) => {
    res.json({ user: { url: `${originOf(req)}/api/v2/users/${API_USER_ID}.json`, id: API_USER_ID, name: "API user", email: options.email, role: store.state.api_user_role ?? "admin", active: true } });
  });

  // Every user, or those of the roles asked for (`role=end-user`, or several as `role[]=agent&role[]=admin`).
  // Soft-deleted users are not among them: Zendesk lists those under deleted_users.
  app.get("/api/v2/users.json", (req, res) => {
    const roles = [req.query.role, req.query["role[]"]].flat().filter((r): r is string => typeof r === "string");
    const users = store.state.users.filter((u) => u.active && (!roles.length || roles.includes(u.role)));
    res.json(paginate(req, "users", users, (u) => presentUser(req, u)));
  });

  // Offset pagination only, as Zendesk's user search: a call with page[size] or page[after] is refused with 400.
  app.get("/api/v2/users/search.json", (req, res) => {
    if (req.query["page[size]"] !== undefined || req.query["page[after]"] !== undefined) throw new PaginationError("the user search pages by offset only: page must be an integer, with per_page");
    const email = searchedEmail(req.query.query);
    const external = typeof req.query.external_id === "string" ? req.query.external_id : undefined;
    const found = email ? store.usersByEmail(email) : external ? store.state.users.filter((u) => u.active && u.external_id === external) : [];
    res.json(paginate(req, "users", found, (u) => presentUser(req, u)));
  });

  // A user's identities: the primary email first, then the others (ids derived from the user's).
  app.get("/api/v2/users/:id/identities.json", (req, res) => {
    const user = store.user(idOf(req.params.id) ?? -1);
    if (!user) return void res.status(404).json(notFound);
    res.json(paginate(req, "identities", identitiesOf(user), (x) => x));
  });

  // The incremental user export, by cursor (admins only, as in Zendesk): the users changed since start_time
  // (Unix seconds), oldest change first, up to a minute before the call (Zendesk leaves out what changed in
  // the last minute); `per_page` up to 1,000 (its default); `include=identities` sideloads their identities.
  // `after_url` leads on from the last user served; `end_of_stream` says nothing more changed up to then.
  app.get("/api/v2/incremental/users/cursor.json", (req, res) => {
    if (store.state.api_user_role === "agent") return void res.status(403).json(forbidden);
    const cursor = typeof req.query.cursor === "string" ? /^(\d{1,16}):(\d{1,15})$/.exec(Buffer.from(req.query.cursor, "base64url").toString()) : undefined;
    const start = typeof req.query.start_time === "string" && /^\d{1,12}$/.test(req.query.start_time) ? Number(req.query.start_time) * 1000 : undefined;
    if (req.query.cursor !== undefined ? !cursor : start === undefined) return void res.status(400).json({ error: "InvalidPaginationParameter", description: "start_time (Unix seconds) or a cursor this export handed out is required" });
    const perPage = req.query.per_page === undefined ? 1000 : Number(req.query.per_page);
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 1000) throw new PaginationError("per_page must be a whole number from 1 to 1000");
    const changed = store.usersChangedBetween(cursor ? Number(cursor[1]) : start!, Date.now() - 60_000);
    const rest = cursor ? changed.filter((u) => Date.parse(u.updated_at) > Number(cursor[1]) || (Date.parse(u.updated_at) === Number(cursor[1]) && u.id > Number(cursor[2]))) : changed;
    const page = rest.slice(0, perPage);
    const last = page.at(-1);
    const after = last ? Buffer.from(`${Date.parse(last.updated_at)}:${last.id}`).toString("base64url") : null;
    const include = typeof req.query.include === "string" ? req.query.include.split(",") : [];
    res.json({
      users: page.map((u) => presentUser(req, u)),
      ...(include.includes("identities") ? { identities: page.flatMap((u) => identitiesOf(u)) } : {}),
      after_cursor: after,
      after_url: after ? `${originOf(req)}/api/v2/incremental/users/cursor.json?cursor=${after}&per_page=${perPage}${include.length ? `&include=${include.join(",")}` : ""}` : null,
      before_cursor: null,
      before_url: null,
      end_of_stream: rest.length <= perPage,
    });
  });

  app.get("/api/v2/users/:id.json", (req, res) => {
    const user = store.user(idOf(req.params.id) ?? -1);
    if (!user) return void res.status(404).json(notFound);
    res.json({ user: presentUser(req, user) });
  });

  app.delete("/api/v2/users/:id.json", (req, res) => {
    const user = store.user(idOf(req.params.id) ?? -1);
    if (!user || !user.active) return void res.status(404).json(notFound);
    store.softDeleteUser(user, new Date());
    res.json({ user: presentUser(req, user) });
  });

  for (const [route, list] of [
    ["requested", (id: number) => store.ticketsRequestedBy(id)],
    ["ccd", (id: number) => store.ticketsCcing(id)],
    ["followed", (id: number) => store.ticketsFollowedBy(id)],
  ] as const) {
    app.get(`/api/v2/users/:id/tickets/${route}.json`, (req, res) => {
      const user = store.user(idOf(req.params.id) ?? -1);
      if (!user) return void res.status(404).json(notFound);
      res.json(paginate(req, "tickets", list(user.id), (t) => presentTicket(req, t)));
    });
  }

  // The search's export (cursor pagination only, `filter[type]` required, results under `results`), for the
  // one query the connector sends: `commenter:<user id>`, the live tickets that user wrote a comment on.
  app.get("/api/v2/search/export.json", (req, res) => {
    if (req.query["filter[type]"] !== "ticket") return void res.status(400).json({ error: "InvalidSearchParameter", description: "filter[type] is required: ticket, user, organization or group" });
    if (req.query.page !== undefined || req.query.per_page !== undefined) throw new PaginationError("the search export pages by cursor only: page[size] and page[after]");
    const commenter = /^commenter:(\d{1,15})$/.exec(typeof req.query.query === "string" ? req.query.query.trim() : "");
    const found = commenter ? store.ticketsCommentedBy(Number(commenter[1])) : [];
    res.json(paginate(req, "results", found, (t) => ({ ...presentTicket(req, t), result_type: "ticket" })));
  });

  // One ticket, as Zendesk shows it; a deleted one (in deleted_tickets, or gone for good) is not found.
  app.get("/api/v2/tickets/:id.json", (req, res) => {
    const ticket = store.ticket(idOf(req.params.id) ?? -1);
    if (!ticket) return void res.status(404).json(notFound);
    res.json({ ticket: presentTicket(req, ticket) });
  });

  app.get("/api/v2/tickets/:id/comments.json", (req, res) => {
    const ticket = store.ticket(idOf(req.params.id) ?? -1);
    if (!ticket) return void res.status(404).json(notFound);
    const page = paginate(req, "comments", ticket.comments, (c) => presentComment(req, c, req.query.include_inline_images === "true"));
    // `include=users` sideloads the authors of the page's comments (Zendesk's sideloading), roles and all.
    const include = typeof req.query.include === "string" ? req.query.include.split(",") : [];
    if (!include.includes("users")) return void res.json(page);
    const authors = [...new Set((page.comments as ZendeskComment[]).map((c) => c.author_id))].map((id) => store.user(id)).filter((u): u is ZendeskUser => u !== undefined);
    res.json({ ...page, users: authors.map((u) => presentUser(req, u)) });
  });

  // A ticket's side conversations (participants, no messages), then one's messages as events: Zendesk
  // has no call that deletes or redacts either (they go with the ticket). Without the Collaboration
  // add-on (collaboration_add_on: false) both are refused with Zendesk's 403, whatever the ticket.
  app.all(/^\/api\/v2\/tickets\/[^/]+\/side_conversations[/.]/, (_req, res, next) => (store.state.collaboration_add_on === false ? void res.status(403).json(forbidden) : next()));
  app.get("/api/v2/tickets/:id/side_conversations.json", (req, res) => {
    const ticket = store.ticket(idOf(req.params.id) ?? -1);
    if (!ticket) return void res.status(404).json(notFound);
    // By offset, as Zendesk documents these answers (next_page, previous_page, count), page[size] or not.
    res.json(offsetPage(req, "side_conversations", ticket.side_conversations ?? [], ({ events: _events, ...sc }) => ({ url: `${originOf(req)}/api/v2/tickets/${ticket.id}/side_conversations/${sc.id}`, ticket_id: ticket.id, ...sc })));
  });

  app.get("/api/v2/tickets/:id/side_conversations/:sc/events.json", (req, res) => {
    const ticket = store.ticket(idOf(req.params.id) ?? -1);
    const sc = ticket?.side_conversations?.find((x) => x.id === req.params.sc);
    if (!ticket || !sc) return void res.status(404).json(notFound);
    res.json(offsetPage(req, "events", sc.events, (e) => ({ ...e, side_conversation_id: sc.id, ticket_id: ticket.id })));
  });

  app.put("/api/v2/comment_redactions/:id.json", (req, res) => {
    const body = (req.body ?? {}) as { ticket_id?: unknown; html_body?: unknown; external_attachment_urls?: unknown };
    if (typeof body.ticket_id !== "number") return void res.status(422).json(invalid("ticket_id", "ticket_id is required"));
    const found = store.comment(body.ticket_id, idOf(req.params.id) ?? -1);
    if (!found) return void res.status(404).json(notFound);
    const urls = Array.isArray(body.external_attachment_urls) ? body.external_attachment_urls : [];
    const ids = urls.map((url) => found.comment.attachments.find((a) => typeof url === "string" && url.endsWith(a.content_path))?.id);
    if (ids.some((id) => id === undefined)) return void res.status(422).json(invalid("external_attachment_urls", "an attachment URL does not belong to this comment"));
    if (body.html_body !== undefined && typeof body.html_body !== "string") return void res.status(422).json(invalid("html_body", "html_body must be a string"));
    if (!store.redactComment(found.ticket, found.comment, body.html_body as string | undefined, ids as number[])) {
      return void res.status(422).json(invalid("html_body", "html_body does not match the comment; only <redact> tags may be added"));
    }
    res.json({ comment: presentComment(req, found.comment) });
  });

  // Ticket deletion: DELETE moves it to deleted_tickets; DELETE there removes it for good. An archived
  // ticket is removed for good at once (Zendesk neither lists nor restores a deleted archived ticket).
  app.delete("/api/v2/tickets/:id.json", (req, res) => {
    const ticket = store.ticket(idOf(req.params.id) ?? -1);
    if (!ticket) return void res.status(404).json(notFound);
    store.deleteTicket(ticket, new Date());
    res.status(204).end();
  });

  app.get("/api/v2/deleted_tickets.json", (req, res) => {
    res.json(paginate(req, "deleted_tickets", store.deletedTickets(), (t) => ({ id: t.id, subject: t.subject, deleted_at: t.deleted_at })));
  });

  // Permanent deletion is a background job, as in Zendesk: the answer is a queued job status to poll.
  app.delete("/api/v2/deleted_tickets/:id.json", (req, res) => {
    const id = idOf(req.params.id) ?? -1;
    if (!store.deletedTicket(id)) return void res.status(404).json(notFound);
    const job = jobs.enqueue(() => {
      const ticket = store.deletedTicket(id);
      if (ticket) store.permanentlyDeleteTicket(ticket);
    });
    res.json({ job_status: presentJob(req, job) });
  });

  app.put("/api/v2/deleted_tickets/:id/restore.json", (req, res) => {
    const ticket = store.deletedTicket(idOf(req.params.id) ?? -1);
    if (!ticket) return void res.status(404).json(notFound);
    store.restoreTicket(ticket);
    res.status(200).end();
  });

  app.get("/api/v2/job_statuses/:id.json", (req, res) => {
    const job = jobs.get(String(req.params.id));
    if (!job) return void res.status(404).json(notFound);
    res.json({ job_status: presentJob(req, job) });
  });

  // Only the removals of Zendesk's ticket update: { ticket: { email_ccs: [...], followers: [...] } }, each
  // entry { user_id, action: "delete" }. email_ccs takes a user off the email CCs only, followers off the
  // followers only: a user on both stays on the one not named. A closed ticket cannot be updated at all
  // (Zendesk answers 422; only a follow-up ticket can be made).
  app.put("/api/v2/tickets/:id.json", (req, res) => {
    const ticket = store.ticket(idOf(req.params.id) ?? -1);
    if (!ticket) return void res.status(404).json(notFound);
    if (ticket.status === "closed") return void res.status(422).json(invalid("status", "Status: closed prevents ticket update"));
    const update = (req.body as { ticket?: { email_ccs?: unknown; followers?: unknown } } | undefined)?.ticket ?? {};
    const removals = (list: unknown) => list === undefined || (Array.isArray(list) && list.every((c) => typeof c?.user_id === "number" && c?.action === "delete"));
    if ((update.email_ccs === undefined && update.followers === undefined) || !removals(update.email_ccs) || !removals(update.followers)) {
      return void res.status(422).json(invalid("email_ccs", 'this stand-in updates tickets only to remove CCs or followers: email_ccs or followers: [{ user_id, action: "delete" }]'));
    }
    for (const c of (update.email_ccs ?? []) as { user_id: number }[]) store.removeCc(ticket, c.user_id);
    for (const f of (update.followers ?? []) as { user_id: number }[]) store.removeFollower(ticket, f.user_id);
    res.json({ ticket: presentTicket(req, ticket) });
  });

  // Every live ticket not archived (Zendesk's /tickets leaves archived ones out), by offset, in the order
  // asked: sort_by id (the default), created_at or updated_at, sort_order asc (the default) or desc.
  app.get("/api/v2/tickets.json", (req, res) => {
    const by = typeof req.query.sort_by === "string" ? req.query.sort_by : "id";
    if (!["id", "created_at", "updated_at"].includes(by)) return void res.status(400).json({ error: "InvalidValue", description: "sort_by: id, created_at or updated_at" });
    const key = (t: ZendeskTicket) => (by === "id" ? t.id : Date.parse(by === "created_at" ? t.created_at : t.updated_at));
    const sign = req.query.sort_order === "desc" ? -1 : 1;
    const live = store.state.tickets.filter((t) => !t.deleted_at && !t.archived).sort((a, b) => sign * (key(a) - key(b) || a.id - b.id));
    res.json(offsetPage(req, "tickets", live, (t) => presentTicket(req, t)));
  });

  // Suspended tickets: the held-back emails, each with its sender's name and address (no user), text and attachments.
  app.get("/api/v2/suspended_tickets.json", (req, res) => {
    res.json(paginate(req, "suspended_tickets", store.suspendedTickets(), (s) => presentSuspended(req, s)));
  });

  app.get("/api/v2/suspended_tickets/:id.json", (req, res) => {
    const found = store.suspendedTickets().find((s) => s.id === idOf(req.params.id));
    if (!found) return void res.status(404).json(notFound);
    res.json({ suspended_ticket: presentSuspended(req, found) });
  });

  // Recovery, as an agent's API call makes it: the email becomes a ticket requested by that agent (the API
  // user), and leaves the queue; the answer is the new ticket.
  app.put("/api/v2/suspended_tickets/:id/recover.json", (req, res) => {
    const ticket = store.recoverSuspendedTicket(idOf(req.params.id) ?? -1, API_USER_ID, new Date());
    if (!ticket) return void res.status(404).json(notFound);
    res.json({ ticket: presentTicket(req, ticket) });
  });

  app.delete("/api/v2/suspended_tickets/:id.json", (req, res) => {
    if (!store.deleteSuspendedTicket(idOf(req.params.id) ?? -1)) return void res.status(404).json(notFound);
    res.status(204).end();
  });

  // An attachment's file, by its content_url, while Zendesk holds it (a redacted one is an empty
  // redacted.txt under a new token; its old token serves nothing).
  app.get("/attachments/token/:token/", (req, res) => {
    const prefix = `/attachments/token/${req.params.token}/`;
    const all = [...store.state.tickets.filter((t) => !t.deleted_at).flatMap((t) => t.comments.flatMap((c) => c.attachments)), ...store.suspendedTickets().flatMap((x) => x.attachments)];
    const found = all.find((a) => a.content_path.startsWith(prefix));
    if (!found) return void res.status(404).json(notFound);
    res.type(found.content_type).send(`content of ${found.file_name}`);
  });

  app.get("/api/v2/deleted_users.json", (req, res) => {
    res.json(paginate(req, "deleted_users", store.deletedUsers(), (u) => presentUser(req, u)));
  });

  app.get("/api/v2/deleted_users/:id.json", (req, res) => {
    const user = store.user(idOf(req.params.id) ?? -1);
    if (!user || user.active) return void res.status(404).json(notFound);
    res.json({ deleted_user: presentUser(req, user) });
  });

  app.delete("/api/v2/deleted_users/:id.json", (req, res) => {
    const user = store.user(idOf(req.params.id) ?? -1);
    if (!user || user.active) return void res.status(404).json(notFound);
    store.permanentlyDeleteUser(user);
    res.json({ deleted_user: presentUser(req, user) });
  });

  app.use((_req, res) => void res.status(404).json({ error: "InvalidEndpoint", description: "Not found" }));
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof PaginationError) return void res.status(400).json({ error: "InvalidPaginationParameter", description: error.message });
    const status = (error as { status?: number }).status;
    if (status && status >= 400 && status < 500) return void res.status(status).json({ error: "InvalidRequest", description: "The request could not be read" });
    res.status(500).json({ error: "InternalServerError", description: "Something went wrong; try again" });
  });
  return app;
}
