import fs from "node:fs";
import path from "node:path";
import type { ZendeskComment, ZendeskState, ZendeskSuspendedTicket, ZendeskTicket, ZendeskUser } from "./types";
import { makeFolder } from "../../folders";

/** What the stand-in did that a test may count: each side effect, once per time it happened. */
export interface ZendeskEffects {
  commentRedactions: number;
  attachmentRedactions: number;
  userSoftDeletes: number;
  userPermanentDeletes: number;
  ticketSoftDeletes: number;
  ticketPermanentDeletes: number;
  ticketRestores: number;
  ccRemovals: number;
  followerRemovals: number;
  suspendedTicketDeletes: number;
  suspendedTicketRecoveries: number;
}

/** The name Zendesk gives a permanently deleted user in deleted_users. */
export const PERMANENTLY_DELETED = "Permanently Deleted User";

/** What deleted_users shows of a user deleted for good. */
export interface PurgedUser {
  id: number;
  name: typeof PERMANENTLY_DELETED;
  email: null;
  phone: null;
  role: "end-user";
  active: false;
}

/** Everyone the ticket lists as a collaborator: its email CCs and its followers (Zendesk's older `collaborator_ids`). */
export const collaboratorsOf = (t: ZendeskTicket): number[] => [...new Set([...t.collaborator_ids, ...(t.follower_ids ?? [])])];

/** Zendesk's redaction mark: every redacted character becomes one of these. */
export const REDACTED = "▇";

const stripTags = (html: string) => html.replace(/<[^>]*>/g, "");

/** An <img> marked with the `redact` attribute (Zendesk's way to redact an inline image, a link, any element). */
const MARKED_IMAGE = /<img\b[^>]*\sredact\b[^>]*>/gi;

/** A redaction's html without its marks (<redact> tags, `redact` attributes): what must equal the comment's html. */
const unmarked = (html: string) => html.replace(/<\/?redact>/g, "").replace(/(<[a-z]+\b[^>]*?)\s+redact(?=[\s/>])/gi, "$1");

/**
 * The stand-in's data and every change it can make. Each change is saved at once (atomically, through a
 * temporary file and a rename) when the store has a state file, so a restarted stand-in serves what the
 * last one left.
 */
export class ZendeskStore {
  readonly effects: ZendeskEffects = {
    commentRedactions: 0,
    attachmentRedactions: 0,
    userSoftDeletes: 0,
    userPermanentDeletes: 0,
    ticketSoftDeletes: 0,
    ticketPermanentDeletes: 0,
    ticketRestores: 0,
    ccRemovals: 0,
    followerRemovals: 0,
    suspendedTicketDeletes: 0,
    suspendedTicketRecoveries: 0,
  };

  /**
   * How long a new comment stays out of the search's `commenter:` results, and a new user out of the user
   * search, in ms (0, the default: at once). Zendesk's search index lags behind writes by a few minutes
   * ("it can take up to a few minutes for new tickets, users, and other resources to be indexed"); lists,
   * reads by id and the incremental exports show the data at once (the exports all but its last minute).
   */
  searchLagMs = 0;

  constructor(
    readonly state: ZendeskState,
    private readonly stateFile?: string,
  ) {}

  /** Loads `stateFile` when it exists, otherwise starts from `seed()` (and writes it, when a file is given). */
  static open(seed: () => ZendeskState, stateFile?: string): ZendeskStore {
    if (stateFile && fs.existsSync(stateFile)) return new ZendeskStore(JSON.parse(fs.readFileSync(stateFile, "utf8")) as ZendeskState, stateFile);
    const store = new ZendeskStore(seed(), stateFile);
    store.save();
    return store;
  }

  /** Writes the whole state to a temporary file beside the state file, then renames it into place. */
  save(): void {
    if (!this.stateFile) return;
    makeFolder(path.dirname(this.stateFile));
    const temporary = `${this.stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, JSON.stringify(this.state));
    fs.renameSync(temporary, this.stateFile);
  }

  user(id: number): ZendeskUser | undefined {
    return this.state.users.find((u) => u.id === id);
  }

  /**
   * Active users with an email identity that contains `email`, primary or not, verified or not,
   * case-insensitive: Zendesk's user search matches "a partial or full value", so a search for
   * `ada@example.com` also finds `ada@example.com.evil.org` and `mada@example.com` (whoever searches
   * must compare the addresses it gets back). A user made within searchLagMs is not indexed yet.
   */
  usersByEmail(email: string): ZendeskUser[] {
    const wanted = email.toLowerCase();
    const indexedBefore = Date.now() - this.searchLagMs;
    return this.state.users.filter(
      (u) => u.active && Date.parse(u.created_at) <= indexedBefore && [u.email, ...(u.secondary_emails ?? []), ...(u.unverified_emails ?? [])].some((e) => e.toLowerCase().includes(wanted)),
    );
  }

  /**
   * Users, live or soft-deleted, whose last change (`updated_at`) is at or after `fromMs` and at or before
   * `toMs`, oldest change first (ties by id): what Zendesk's incremental user export reads.
   */
  usersChangedBetween(fromMs: number, toMs: number): ZendeskUser[] {
    const at = (u: ZendeskUser) => Date.parse(u.updated_at);
    return this.state.users.filter((u) => at(u) >= fromMs && at(u) <= toMs).sort((a, b) => at(a) - at(b) || a.id - b.id);
  }

  /** Soft-deleted users, those deleted for good after them (as Zendesk lists them: nothing personal left). */
  deletedUsers(): (ZendeskUser | PurgedUser)[] {
    const purged = (this.state.purged_user_ids ?? []).map((id): PurgedUser => ({ id, name: PERMANENTLY_DELETED, email: null, phone: null, role: "end-user", active: false }));
    return [...this.state.users.filter((u) => !u.active), ...purged];
  }

  ticketsRequestedBy(id: number): ZendeskTicket[] {
    return this.state.tickets.filter((t) => !t.deleted_at && t.requester_id === id);
  }

  /**
   * The tickets that list the user among their collaborators: an email CC or a follower (the older
   * `collaborator_ids`, which holds both), what /users/{id}/tickets/ccd answers.
   */
  ticketsCcing(id: number): ZendeskTicket[] {
    return this.state.tickets.filter((t) => !t.deleted_at && collaboratorsOf(t).includes(id));
  }

  /** The tickets the user follows: what /users/{id}/tickets/followed answers. */
  ticketsFollowedBy(id: number): ZendeskTicket[] {
    return this.state.tickets.filter((t) => !t.deleted_at && (t.follower_ids ?? []).includes(id));
  }

  /**
   * Live tickets with a comment the user wrote (redacted or not: Zendesk keeps the comment's author), as the
   * search's `commenter:` finds them: a comment written within searchLagMs is not indexed yet.
   */
  ticketsCommentedBy(id: number): ZendeskTicket[] {
    const indexedBefore = Date.now() - this.searchLagMs;
    return this.state.tickets.filter((t) => !t.deleted_at && t.comments.some((c) => c.author_id === id && Date.parse(c.created_at) <= indexedBefore));
  }

  ticket(id: number): ZendeskTicket | undefined {
    return this.state.tickets.find((t) => t.id === id && !t.deleted_at);
  }

  /** A soft-deleted ticket. */
  deletedTicket(id: number): ZendeskTicket | undefined {
    return this.state.tickets.find((t) => t.id === id && t.deleted_at);
  }

  deletedTickets(): ZendeskTicket[] {
    return this.state.tickets.filter((t) => t.deleted_at);
  }

  /**
   * Archives every closed ticket whose last change is at least `afterDays` before `now` (Zendesk's
   * archiving: about 120 days after a ticket is closed); returns those archived now.
   */
  archiveClosedTickets(now: Date, afterDays = 120): ZendeskTicket[] {
    const before = now.getTime() - afterDays * 86_400_000;
    const archived = this.state.tickets.filter((t) => !t.deleted_at && !t.archived && t.status === "closed" && Date.parse(t.updated_at) <= before);
    for (const t of archived) t.archived = true;
    this.save();
    return archived;
  }

  /**
   * Deletes a ticket: it moves to /deleted_tickets, where Zendesk keeps it 30 days; an archived one is
   * removed for good at once (Zendesk neither lists nor restores a deleted archived ticket).
   */
  deleteTicket(ticket: ZendeskTicket, now: Date): void {
    if (ticket.archived) this.permanentlyDeleteTicket(ticket);
    else this.softDeleteTicket(ticket, now);
  }

  /** Deletes a ticket (it moves to /deleted_tickets, where Zendesk keeps it 30 days). */
  softDeleteTicket(ticket: ZendeskTicket, now: Date): void {
    ticket.deleted_at = now.toISOString();
    this.effects.ticketSoftDeletes += 1;
    this.save();
  }

  /** Brings a deleted ticket back from /deleted_tickets. */
  restoreTicket(ticket: ZendeskTicket): void {
    delete ticket.deleted_at;
    this.effects.ticketRestores += 1;
    this.save();
  }

  /** Removes a deleted ticket, its comments and attachments for good. */
  permanentlyDeleteTicket(ticket: ZendeskTicket): void {
    this.state.tickets = this.state.tickets.filter((t) => t !== ticket);
    this.effects.ticketPermanentDeletes += 1;
    this.save();
  }

  /** Takes a user off a ticket's email CCs (not its followers); false when they were not on them. */
  removeCc(ticket: ZendeskTicket, userId: number): boolean {
    if (!ticket.collaborator_ids.includes(userId)) return false;
    ticket.collaborator_ids = ticket.collaborator_ids.filter((id) => id !== userId);
    this.effects.ccRemovals += 1;
    this.save();
    return true;
  }

  /** Takes a user off a ticket's followers (not its email CCs); false when they were not among them. */
  removeFollower(ticket: ZendeskTicket, userId: number): boolean {
    if (!(ticket.follower_ids ?? []).includes(userId)) return false;
    ticket.follower_ids = (ticket.follower_ids ?? []).filter((id) => id !== userId);
    this.effects.followerRemovals += 1;
    this.save();
    return true;
  }

  /**
   * Recovers a suspended ticket, as an agent does: the email becomes a new ticket (its text the first
   * comment, its attachments with it, `via` naming the sender's address) requested by `requesterId`
   * (Zendesk's API makes the recovering agent the requester), and leaves the queue. Undefined when there is none with that id.
   */
  recoverSuspendedTicket(id: number, requesterId: number, now: Date): ZendeskTicket | undefined {
    const held = this.suspendedTickets().find((s) => s.id === id);
    if (!held) return undefined;
    const at = now.toISOString();
    const html = `<p>${held.content}</p>`;
    const ticket: ZendeskTicket = {
      id: this.state.nextId++,
      subject: held.subject,
      description: held.content,
      type: "question",
      priority: "normal",
      status: "open",
      requester_id: requesterId,
      submitter_id: requesterId,
      assignee_id: null,
      collaborator_ids: [],
      tags: [],
      via: { channel: "email", source: { from: { address: held.author.email, name: held.author.name }, to: { address: held.recipient }, rel: null } },
      created_at: at,
      updated_at: at,
      comments: [{ id: this.state.nextId++, type: "Comment", author_id: requesterId, body: held.content, html_body: html, plain_body: held.content, public: true, attachments: held.attachments, via: { channel: "email" }, created_at: at }],
    };
    this.state.tickets.push(ticket);
    this.state.suspended_tickets = this.suspendedTickets().filter((s) => s.id !== id);
    this.effects.suspendedTicketRecoveries += 1;
    this.save();
    return ticket;
  }

  /** The comment and its ticket, or undefined when `ticketId` does not hold `commentId`. */
  comment(ticketId: number, commentId: number): { ticket: ZendeskTicket; comment: ZendeskComment } | undefined {
    const ticket = this.ticket(ticketId);
    const comment = ticket?.comments.find((c) => c.id === commentId);
    return ticket && comment ? { ticket, comment } : undefined;
  }

  /**
   * Redacts what `html` marks with <redact> tags, and the attachments whose id is in `attachmentIds`
   * (each becomes an empty redacted.txt, as in Zendesk). Returns false, changing nothing, when `html`
   * without its redact tags is not the comment's current html_body.
   */
  redactComment(ticket: ZendeskTicket, comment: ZendeskComment, html: string | undefined, attachmentIds: number[]): boolean {
    if (html !== undefined && unmarked(html) !== comment.html_body) return false;
    if (html !== undefined) {
      // An element marked with the `redact` attribute goes (an <a>'s inner text stays, for its own tags);
      // an inline image's file goes with its <img>.
      const images = [...html.matchAll(MARKED_IMAGE)].map((m) => /\ssrc="([^"]*)"/.exec(m[0])?.[1] ?? "");
      for (const a of comment.attachments) if (images.some((src) => src.endsWith(a.content_path)) && !attachmentIds.includes(a.id)) attachmentIds = [...attachmentIds, a.id];
      const unlinked = html.replace(MARKED_IMAGE, "").replace(/<a\b[^>]*\sredact\b[^>]*>([\s\S]*?)<\/a>/gi, "$1");
      comment.html_body = unlinked.replace(/<redact>([\s\S]*?)<\/redact>/g, (_, inner: string) => REDACTED.repeat([...stripTags(inner)].length));
      comment.plain_body = comment.body = stripTags(comment.html_body);
      if (ticket.comments[0] === comment) ticket.description = comment.plain_body;
      this.effects.commentRedactions += 1;
    }
    comment.attachments = comment.attachments.map((a) => {
      if (!attachmentIds.includes(a.id)) return a;
      this.effects.attachmentRedactions += 1;
      const id = this.state.nextId++;
      return { id, file_name: "redacted.txt", content_type: "text/plain", size: 0, inline: false, content_path: `/attachments/token/tok${id}/?name=redacted.txt` };
    });
    this.save();
    return true;
  }

  suspendedTickets(): ZendeskSuspendedTicket[] {
    return this.state.suspended_tickets ?? [];
  }

  /** Deletes a suspended ticket (Zendesk keeps nothing of it); false when there is none with that id. */
  deleteSuspendedTicket(id: number): boolean {
    const before = this.suspendedTickets();
    if (!before.some((s) => s.id === id)) return false;
    this.state.suspended_tickets = before.filter((s) => s.id !== id);
    this.effects.suspendedTicketDeletes += 1;
    this.save();
    return true;
  }

  softDeleteUser(user: ZendeskUser, now: Date): void {
    user.active = false;
    user.updated_at = now.toISOString();
    this.effects.userSoftDeletes += 1;
    this.save();
  }

  /** Removes a soft-deleted user for good; their tickets stay, pointing at an id nobody resolves. */
  permanentlyDeleteUser(user: ZendeskUser): void {
    this.state.users = this.state.users.filter((u) => u !== user);
    this.state.purged_user_ids = [...(this.state.purged_user_ids ?? []), user.id];
    this.effects.userPermanentDeletes += 1;
    this.save();
  }
}
