/**
 * The Zendesk Support objects the stand-in keeps, in Zendesk's own field names (snake_case, numeric
 * ids, ISO dates), so that what it serves is what the real API serves for the same calls.
 */

export interface ZendeskUser {
  id: number;
  name: string;
  email: string;
  /** Its other email identities (Zendesk lists them under /users/{id}/identities; the user's `email` is the primary one). */
  secondary_emails?: string[];
  /**
   * Email identities nobody has verified yet (an agent typed them onto the profile, or the user added one
   * and never followed Zendesk's verification link): listed under /identities with `verified: false`,
   * and found by the user search like any identity. Whose address it is, is unproven.
   */
  unverified_emails?: string[];
  /**
   * False when nobody verified the primary address either (an agent created the user with it, or put it
   * on the profile, and no one followed Zendesk's verification link): its identity is listed with
   * `verified: false`, and the user's `verified` is false unless another identity is verified. Absent: verified.
   */
  primary_email_verified?: boolean;
  phone: string | null;
  /** `end-user`, `agent` or `admin`. */
  role: "end-user" | "agent" | "admin";
  /** False once the user is (soft-)deleted: Zendesk still shows it, and lists it under deleted_users. */
  active: boolean;
  verified: boolean;
  /** Profile fields agents fill in about the user (absent: empty), served as Zendesk serves them. */
  notes?: string;
  details?: string;
  tags?: string[];
  user_fields?: Record<string, string | null>;
  organization_id?: number | null;
  /** The account database's user id, as a Zendesk integration would set it. */
  external_id: string | null;
  time_zone: string;
  locale: string;
  created_at: string;
  updated_at: string;
}

export interface ZendeskAttachment {
  id: number;
  file_name: string;
  content_type: string;
  size: number;
  inline: boolean;
  /** The path part of content_url; the stand-in prefixes its own origin when it answers. */
  content_path: string;
}

export interface ZendeskComment {
  id: number;
  type: "Comment";
  author_id: number;
  body: string;
  html_body: string;
  plain_body: string;
  public: boolean;
  attachments: ZendeskAttachment[];
  via: { channel: string };
  created_at: string;
}

export interface ZendeskTicket {
  id: number;
  subject: string;
  /** The first comment's text, as Zendesk derives it (a redaction of that comment redacts it too). */
  description: string;
  type: "question" | "incident" | "problem" | "task";
  priority: "low" | "normal" | "high" | "urgent";
  status: "new" | "open" | "pending" | "solved" | "closed";
  requester_id: number;
  submitter_id: number;
  assignee_id: number | null;
  /**
   * Its email CCs (served as `email_cc_ids`), end users or staff: taken off through a ticket update's
   * `email_ccs` (action delete). Zendesk lists the ticket under /users/{id}/tickets/ccd for each of them.
   */
  collaborator_ids: number[];
  /**
   * Its followers (served as `follower_ids`): internal users only (agents, admins), as Zendesk allows,
   * taken off through a ticket update's `followers` (action delete), never through `email_ccs`. Zendesk
   * lists the ticket under /users/{id}/tickets/followed for each, and its older `collaborator_ids` field
   * holds both CCs and followers (the stand-in serves it so). Absent: none.
   */
  follower_ids?: number[];
  tags: string[];
  /** How the ticket came in; one made from an email says from whom (`source.from.address`), as Zendesk's `via` does. */
  via: { channel: string; source?: { from?: { address?: string; name?: string }; to?: { address?: string }; rel?: string | null } };
  created_at: string;
  updated_at: string;
  /** Not a field of Zendesk's ticket: comments are served by /tickets/{id}/comments. */
  comments: ZendeskComment[];
  /** Not a field of Zendesk's ticket: side conversations are served by /tickets/{id}/side_conversations (absent: none). */
  side_conversations?: ZendeskSideConversation[];
  /**
   * True once Zendesk archived the ticket (it does so about 120 days after a ticket is closed). An archived
   * ticket is still served by id, in the per-user lists (requested, ccd), by the search, with its comments,
   * and its comments may be redacted; it is left out of the account-wide lists (/tickets, /deleted_tickets),
   * and deleting it removes it for good at once (it never enters /deleted_tickets, and cannot be restored).
   */
  archived?: boolean;
  /** Set when the ticket was deleted (listed under /deleted_tickets until deleted permanently). */
  deleted_at?: string;
}

/** Someone on a side conversation: a Zendesk user (`user_id`) or an outside address (`user_id` null). */
export interface ZendeskSideConversationParticipant {
  user_id: number | null;
  name: string;
  email: string;
}

/** One message of a side conversation (Zendesk records them as events of type `create` or `reply`). */
export interface ZendeskSideConversationEvent {
  id: string;
  type: "create" | "reply";
  actor: ZendeskSideConversationParticipant;
  message: { subject: string | null; body: string; html_body: string; from: ZendeskSideConversationParticipant; to: ZendeskSideConversationParticipant[] };
  created_at: string;
}

/**
 * A side conversation an agent started from a ticket (an email thread with someone outside it): its
 * participants and messages. Zendesk offers no call to delete or redact one; it goes with its ticket.
 */
export interface ZendeskSideConversation {
  id: string;
  subject: string;
  state: "open" | "closed";
  participants: ZendeskSideConversationParticipant[];
  events: ZendeskSideConversationEvent[];
  created_at: string;
  updated_at: string;
}

/**
 * An email Zendesk held back instead of making a ticket or comment of it (spam, a sender it does not
 * trust, a loop): it keeps the sender's name and address and the whole text, with no user behind it,
 * until an agent recovers or deletes it, or for 14 days. Listed under /suspended_tickets.
 */
export interface ZendeskSuspendedTicket {
  id: number;
  /** The sender as the email gave them: `id` is null, as no user was made. */
  author: { id: number | null; name: string; email: string };
  subject: string;
  /** The email's text. */
  content: string;
  cause: string;
  recipient: string;
  /** The ticket the email would have added a comment to, if any. */
  ticket_id: number | null;
  attachments: ZendeskAttachment[];
  via: { channel: string };
  created_at: string;
  updated_at: string;
}

/** Everything the stand-in holds; JSON-serialisable, so it can live in a state file. */
export interface ZendeskState {
  users: ZendeskUser[];
  tickets: ZendeskTicket[];
  /**
   * Users deleted for good, in the order it happened. Zendesk still lists them under deleted_users, with
   * email and phone null and the name "Permanently Deleted User", but shows none of them by id.
   */
  purged_user_ids?: number[];
  /** Emails held back as suspended tickets (absent in state files from before they were served). */
  suspended_tickets?: ZendeskSuspendedTicket[];
  /**
   * False when the account has no Collaboration add-on, which side conversations need: Zendesk then
   * refuses their calls with 403 (and still holds those made before the add-on lapsed). Absent: it has it.
   */
  collaboration_add_on?: boolean;
  /** The role of the user the API token acts for (absent: admin); some calls, such as the incremental exports, are for admins only. */
  api_user_role?: "agent" | "admin";
  /** The next id handed out to something new (attachments replaced by a redaction). */
  nextId: number;
}
