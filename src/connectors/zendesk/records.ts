import type { SubjectRecord } from "../sdk";

// The fields of Zendesk's objects the connector reads (the API sends more).

export interface WireUser {
  id: number;
  name: string;
  email: string | null;
  phone?: string | null;
  role: string;
  /** False once the user is soft-deleted. */
  active: boolean;
  /** Whether any of the user's identities is verified (Zendesk's user field); false: none is. */
  verified?: boolean;
  time_zone?: string;
  locale?: string;
  /** What agents wrote about the user, and more about them (Zendesk's profile fields). */
  notes?: string | null;
  details?: string | null;
  alias?: string | null;
  tags?: string[];
  user_fields?: Record<string, unknown> | null;
  organization_id?: number | null;
  external_id?: string | null;
  last_login_at?: string | null;
  created_at: string;
  updated_at?: string;
}

/** One of a user's identities (/users/{id}/identities): an email address, a phone number, a social account. */
export interface WireIdentity {
  type?: string;
  value?: string;
  primary?: boolean;
  verified?: unknown;
  verification_method?: unknown;
}

export interface WireTicket {
  id: number;
  subject: string | null;
  type: string | null;
  priority: string | null;
  status: string;
  requester_id: number;
  /** Its email CCs, its followers (agents, admins), and the older `collaborator_ids`, which holds both. */
  email_cc_ids?: number[];
  follower_ids?: number[];
  collaborator_ids?: number[];
  /** How it came in; one made from an email (a recovered held-back one too) names the sender's address. */
  via?: { channel?: string; source?: { from?: { address?: unknown } } };
  tags?: string[];
  created_at: string;
  /** Last activity: a thread is kept or erased as a whole, by this date (see zendeskConnector.ts). */
  updated_at: string;
}

export interface WireAttachment {
  id: number;
  file_name: string;
  content_type: string;
  size: number;
  content_url: string;
  /** An image shown inside the comment's text (listed only with include_inline_images=true). */
  inline?: boolean;
}

export interface WireComment {
  id: number;
  author_id: number;
  body: string;
  html_body: string;
  plain_body?: string;
  public: boolean;
  attachments?: WireAttachment[];
  via?: { channel?: string };
  created_at: string;
}

/** Someone on a side conversation: a Zendesk user, or an outside address (`user_id` null). */
export interface WireParticipant {
  user_id?: number | null;
  email?: string | null;
}

/** A side conversation of a ticket (its messages are its events). */
export interface WireSideConversation {
  id: string;
  subject?: string | null;
  participants?: WireParticipant[];
}

/** One event of a side conversation; those of type create and reply carry a message. */
export interface WireSideEvent {
  id: string;
  type?: string;
  message?: { subject?: string | null; body?: string | null; from?: WireParticipant | null; to?: WireParticipant[] | null } | null;
  created_at: string;
}

/**
 * Why the subject's messages in side conversations of a ticket that is not deleted stay: Zendesk has no
 * call that deletes or redacts a side conversation, or one of its messages, short of deleting the ticket.
 */
export const SIDE_CONVERSATION_REASON =
  "messages you sent or were sent in side conversations of a ticket that stays in the helpdesk (someone else's, or one another customer also wrote on): Zendesk offers no way to delete or redact a side conversation message other than deleting its whole ticket";

/** Why other people's messages in side conversations the subject was on are not in the subject's export. */
export const SIDE_LEFT_OUT_REASON = "written by other people to other people (not to you) in side conversations you were on: they are those people's data";

/** Why a collect or erase read no side conversation message: Zendesk refused to list side conversations. */
export const SIDE_REFUSED_REASON =
  "messages in side conversations (the emails agents exchange from a ticket with people outside it): Zendesk refused to list side conversations (HTTP 403), as it does when the account has no Collaboration add-on, which side conversations need, or when the API user may not see them. Side conversations held from before the add-on lapsed stay in Zendesk. Enable the add-on (or give the API user access) and run the request again";

/**
 * A message of a side conversation of a ticket that the subject sent, or that was sent to them (POLICY:
 * their communication history; they were its recipient): its subject line and text, and who sent it.
 */
export function sideMessageRecord(e: WireSideEvent, sc: WireSideConversation, t: WireTicket, userId: number, fromThem: boolean): SubjectRecord {
  const data = { ticket_id: t.id, side_conversation_id: sc.id, sent_by_you: fromThem, subject: e.message?.subject ?? sc.subject ?? null, body: e.message?.body ?? null, created_at: e.created_at };
  return threadRecord(t, userId, "side_conversation_message", e.id, data, e.created_at);
}

/**
 * An email Zendesk held back (a suspended ticket): the sender's name and address as the email gave
 * them, with no user behind it, and the whole text, until an agent recovers or deletes it (or 14 days pass).
 */
export interface WireSuspendedTicket {
  id: number;
  author?: { id?: number | null; name?: string | null; email?: string | null } | null;
  subject?: string | null;
  content?: string | null;
  cause?: string | null;
  /** The cause as a number (Zendesk's list: e.g. 0 spam, a failed sender authentication, an unregistered sender). */
  cause_id?: number | null;
  recipient?: string | null;
  ticket_id?: number | null;
  attachments?: WireAttachment[];
  via?: { channel?: string };
  created_at: string;
}

/**
 * How the subject is on a ticket: its requester, copied on it (CC) or following it (as an agent: `cc`
 * too), or neither any more but the author of comments on it (found through the search's `commenter:`:
 * a ticket they were taken off the CCs of, or one whose requester was replaced).
 */
export type TicketRole = "requester" | "cc" | "commenter";

const REDACTION_MARK = "▇";
/** Zendesk replaces a redacted attachment with an empty file of this name. */
const REDACTED_FILE = "redacted.txt";

export const isRedactedAttachment = (a: WireAttachment) => a.file_name === REDACTED_FILE && a.size === 0;
const textOf = (c: WireComment) => c.plain_body ?? c.body;

/**
 * Elements of a comment's html that carry data outside its text: an image (an inline image's file, by its
 * src) and a link (its href: a mailto: with an address, a URL with a token). Zendesk redacts them only
 * when they carry the `redact` attribute; <redact> tags reach text alone.
 */
const DATA_ELEMENT = /<(img|a)\b(?![^>]*\sredact\b)/gi;

/** True when nothing of the comment is left to redact: only redaction marks and blanks, no live attachment, no image or link. */
export function isRedacted(c: WireComment): boolean {
  return [...textOf(c)].every((ch) => ch === REDACTION_MARK || /\s/.test(ch)) && (c.attachments ?? []).every(isRedactedAttachment) && !/<(img|a)\b/i.test(c.html_body ?? "");
}

/**
 * The comment's html_body with every text run wrapped in <redact> tags (runs that are only blanks or
 * redaction marks are left as they are): Zendesk replaces what the tags enclose with ▇ and keeps the
 * markup; and every image and link marked with the `redact` attribute, which Zendesk removes (the
 * markup's data: an inline image, an address in a mailto: link).
 */
export function redactAllText(html: string): string {
  const text = html.replace(/(^|>)([^<]+)/g, (whole, open: string, run: string) => ([...run].every((ch) => ch === REDACTION_MARK || /\s/.test(ch)) ? whole : `${open}<redact>${run}</redact>`));
  return text.replace(DATA_ELEMENT, (tag) => `${tag} redact`);
}

/**
 * Which comments of a ticket are the subject's communications: on a ticket they requested, what they
 * and the staff (agents, admins) wrote, internal notes about them included; on one they were only CC'd
 * on, what they wrote. Other people's words (a customer the requester or an agent copied in, their
 * problems, their phone numbers) are theirs, not the subject's, on either: collect leaves them out and
 * says so (LEFT_OUT_REASON, LEFT_OUT_SHARED_REASON), erasure leaves them alone. `staff` holds the ids of
 * the comments' authors Zendesk shows as agents or admins; an author it does not show is someone else.
 */
export const isSubjects = (c: WireComment, role: TicketRole, userId: number, staff: ReadonlySet<number>) =>
  c.author_id === userId || (role === "requester" && staff.has(c.author_id));

/** Why other people's comments on a ticket someone else opened (the subject CC'd on it, or a commenter) are not in the subject's export. */
export const LEFT_OUT_REASON = "written by other people on tickets someone else opened that you were copied on (CC) or wrote on: they are those people's data";

/** Why other customers' comments on a ticket the subject requested are not in the subject's export. */
export const LEFT_OUT_SHARED_REASON = "written by other customers copied on tickets you opened: they are those people's data";

/**
 * Why a thread the subject requested, that another customer wrote on, is not deleted: deleting it would
 * erase that person's words. The subject's own comments on it are redacted; these records remain.
 */
export const SHARED_THREAD_REASON =
  "a ticket you opened that another customer also wrote on stays in the helpdesk for them (deleting it would erase their words): your own comments on it were redacted; its subject line and the staff's replies remain";

/**
 * Why a comment the subject wrote as helpdesk staff (an agent or admin) on a ticket someone else requested
 * stays: what staff write on a person's ticket is that person's communication history too (their access
 * request exports it, isSubjects), so redacting it for the subject would erase the other person's data.
 */
export const STAFF_REPLY_REASON =
  "a reply you wrote as helpdesk staff (an agent or admin) on a ticket another person opened is part of that person's communication history too, and stays for them (their access request includes it): it was not redacted, nor the fact that you wrote there";

/**
 * Whether Zendesk refuses updates of the ticket: a closed one (only a follow-up ticket can be made), so
 * the subject cannot be taken off its CCs. The ticket's record of them goes with their user.
 */
export const isClosed = (t: { status?: string }) => t.status === "closed";

const date = (iso: string | undefined) => (iso ? new Date(iso) : undefined);

/**
 * A thread's records are kept or erased as one, from the thread's last activity, and hang off the
 * subject's user (the counting rule in src/domain/counting.ts; erase follows it).
 */
const inThread = (t: WireTicket, userId: number) => ({ retainedFrom: new Date(t.updated_at), keptWith: String(userId) });

/** A record of the subject's on a thread (inThread), dated when it was written. */
const threadRecord = (t: WireTicket, userId: number, type: string, id: number | string, data: Record<string, unknown>, at: string): SubjectRecord => ({
  ...inThread(t, userId),
  category: "SUPPORT",
  type,
  id: String(id),
  data,
  recordedAt: date(at),
});

/**
 * The user's profile, with every identity Zendesk holds for them (secondary addresses, phone numbers;
 * `verified` says whether it was proven theirs) and what the profile says of them (agents' notes,
 * details, tags, custom fields, organization). Undated on purpose: the anchor of their threads, kept
 * exactly as long as any of them is. `deleted` is true for a soft-deleted user: Zendesk still holds the
 * profile (and its threads) until it is deleted for good.
 */
export function userRecord(u: WireUser, identities: readonly WireIdentity[]): SubjectRecord {
  return {
    category: "SUPPORT",
    type: "user",
    id: String(u.id),
    anchor: true,
    data: {
      name: u.name,
      email: u.email,
      phone: u.phone ?? null,
      identities: identities.map((i) => ({ type: i.type ?? null, value: i.value ?? null, primary: i.primary === true, verified: i.verified === true })),
      alias: u.alias ?? null,
      notes: u.notes ?? null,
      details: u.details ?? null,
      tags: u.tags ?? [],
      user_fields: u.user_fields ?? {},
      organization_id: u.organization_id ?? null,
      external_id: u.external_id ?? null,
      deleted: !u.active,
      time_zone: u.time_zone ?? null,
      locale: u.locale ?? null,
      last_login_at: u.last_login_at ?? null,
      created_at: u.created_at,
      updated_at: u.updated_at ?? null,
    },
  };
}

/**
 * A ticket as the subject's record. On one they requested, its subject line and how it was handled; on
 * one they were only CC'd on or wrote on, only that they were on it and when: the subject line, type, priority,
 * status and tags there describe the requester's matter (another person's data, as their comments are).
 */
export function ticketRecord(t: WireTicket, role: TicketRole, userId: number): SubjectRecord {
  const about =
    role === "requester"
      ? { subject: t.subject, your_role: role, status: t.status, type: t.type, priority: t.priority, channel: t.via?.channel ?? null, tags: t.tags ?? [] }
      : { subject: null, your_role: role, status: null, type: null, priority: null, channel: null, tags: [] };
  return {
    ...inThread(t, userId),
    category: "SUPPORT",
    type: "ticket",
    id: String(t.id),
    data: { ...about, created_at: t.created_at, updated_at: t.updated_at },
    recordedAt: date(t.created_at),
  };
}

export function commentRecord(c: WireComment, t: WireTicket, userId: number): SubjectRecord {
  const data = { ticket_id: t.id, written_by_you: c.author_id === userId, public: c.public, body: textOf(c), channel: c.via?.channel ?? null, created_at: c.created_at };
  return threadRecord(t, userId, "comment", c.id, data, c.created_at);
}

/** Attachment metadata only: the file itself is never fetched. */
export function attachmentRecord(a: WireAttachment, c: WireComment, t: WireTicket, userId: number): SubjectRecord {
  const data = { ticket_id: t.id, comment_id: c.id, file_name: a.file_name, content_type: a.content_type, size: a.size, created_at: c.created_at };
  return threadRecord(t, userId, "attachment", a.id, data, c.created_at);
}

/**
 * What the export says of every held-back email: its From address is the subject's, which is why it is
 * theirs to see and to have erased, but nothing proves they wrote it (see suspendedTicketRecord).
 */
export const UNVERIFIED_SENDER_NOTE =
  "This email came in with your address as its sender and was held back by the helpdesk (see cause). An email's sender address is not proof of who sent it: it may have been sent by someone else in your name.";

/**
 * An email that Zendesk suspended (held back) whose From address is the subject's: no user or thread
 * holds it, so it is kept or erased on its own, from the day it arrived. Its attachments' metadata
 * travels with it. It is shown as sent under the subject's address, never as written by them
 * (`sender_verified: false`): anyone can put an address in an email's From, and Zendesk held the
 * email back without proving it (it was often held for that very reason, a failed authentication or
 * a spam score). It is still the subject's to see and to have erased: it was issued in their name.
 */
export function suspendedTicketRecord(s: WireSuspendedTicket): SubjectRecord {
  return {
    category: "SUPPORT",
    type: "suspended_ticket",
    id: String(s.id),
    data: {
      subject: s.subject ?? null,
      content: s.content ?? null,
      sender_name: s.author?.name ?? null,
      sender_email: s.author?.email ?? null,
      sender_verified: false,
      about_sender: UNVERIFIED_SENDER_NOTE,
      cause: s.cause ?? null,
      cause_id: s.cause_id ?? null,
      recipient: s.recipient ?? null,
      ticket_id: s.ticket_id ?? null,
      attachments: (s.attachments ?? []).map((a) => ({ file_name: a.file_name, content_type: a.content_type, size: a.size })),
      created_at: s.created_at,
    },
    recordedAt: date(s.created_at),
  };
}
