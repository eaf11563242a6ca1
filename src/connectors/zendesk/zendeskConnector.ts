import { emailSpellings, normalizeEmail, normalizeUserId } from "../../domain/identities";
import { linkedToSubject, ReachedById, refuseOtherAccountById } from "../accountLink";
import { CheckResult, Connector, ConnectorError, ConnectorSpec, ErasureOutcome, Identities, RosterContext, RosterEntry, SubjectRecord, TaskContext } from "../sdk";
import { KeptTally } from "../keptTally";
import { CallContext, JobState, Operation, ZendeskClient } from "./client";
import { resolveZendeskOptions, ZendeskConnectorOptions } from "./config";
import {
  attachmentRecord,
  commentRecord,
  isClosed,
  isRedacted,
  isRedactedAttachment,
  isSubjects,
  LEFT_OUT_REASON,
  LEFT_OUT_SHARED_REASON,
  SHARED_THREAD_REASON,
  SIDE_CONVERSATION_REASON,
  SIDE_LEFT_OUT_REASON,
  SIDE_REFUSED_REASON,
  sideMessageRecord,
  STAFF_REPLY_REASON,
  redactAllText,
  suspendedTicketRecord,
  TicketRole,
  ticketRecord,
  userRecord,
  WireComment,
  WireIdentity,
  WireSuspendedTicket,
  WireTicket,
  WireUser,
} from "./records";
import { holdersOf, provenIdentity } from "./identities";
import { RECENT_USER_PAGES, RecentReach, recentUsers, recentUsersReadable } from "./recentUsers";
import { listZendeskSubjects } from "./roster";
import { suspendedQueue } from "./suspendedQueue";
import { ccNote, ccOfNote, commentNote, commentOfNote, ResidueNote, residueNote, residueOfNote, suspendedNote, suspendedOfNote, UserNote, userNote, userOfNote } from "./notes";
import { sideMessageCount, sideMessagesOf, sideReach, SideReach } from "./sideConversations";

/** The ticketing connector: a Connector with erase and listSubjects, plus close() for its rate limiter. */
export interface ZendeskConnector extends Connector {
  erase(ids: Identities, instruction: Parameters<NonNullable<Connector["erase"]>>[1], ctx: TaskContext): Promise<ErasureOutcome>;
  listSubjects(ctx: RosterContext): AsyncIterable<RosterEntry>;
  close(): Promise<void>;
}

/** Why collect by email alone cannot reach a soft-deleted user through a secondary address (see findUser). */
const SECONDARY_OF_DELETED =
  "a deleted (not yet permanently deleted) helpdesk user whose address is one of their secondary ones: deleted users are found by their primary address only; the subject's ticketing user id would find them";

/** Why collect may have missed a user made or given the subject's address within searchLagMs (recentUsers). */
const RECENT_REFUSED = (lagMs: number) =>
  `a helpdesk user made, or given the subject's address, in the last ${Math.ceil(lagMs / 60_000)} minute(s): Zendesk's search may not show them yet, and its incremental user export, which would, answers only to an admin's API token (this one's was refused). Give the connector an admin's token, or search Zendesk again for the subject's address in a few minutes`;
const RECENT_UNREAD = (lagMs: number) =>
  `a helpdesk user made, or given the subject's address, in the last ${Math.ceil(lagMs / 60_000)} minute(s), past the first ${RECENT_USER_PAGES * 1000} users Zendesk changed in that time: its search may not show them yet, and only that many were looked through. Search Zendesk again for the subject's address in a few minutes`;

/** What check says of a token Zendesk refuses its incremental user export (an agent's): what every collect and erase would miss. */
const EXPORT_CHECK = (role: string) =>
  `reached Zendesk and the API token is accepted, but it acts for an ${role}, and Zendesk refused it the incremental user export, which answers only to an admin's token: a helpdesk user made, or given a subject's address, within searchLagMs (before Zendesk's search shows them) would go unfound by access requests and deletions (each would name them not searched). Use an admin's API token, or set searchLagMs to 0 to accept the gap`;

/** The user the account database gives by id, when its external_id names another account (accountExternalId). */
const USER_BY_ID: ReachedById = { thing: "ticketing user", system: "Zendesk", link: "its external_id", id: "ticketing user id", data: "tickets", kind: "ticketingUserId" };

/**
 * Why collect and erase passed over a user who holds the subject's address, verified, but whose external_id
 * names another account (accountExternalId): the platform says the user is another person's (or, when the
 * subject's user id is not known, some account's), and taking them by the address would read and erase
 * that person's tickets. As the payment connector passes over a customer tagged as another account's.
 */
const OTHER_ACCOUNT_HOLDER =
  "a helpdesk user holding the subject's address whose external id names an account on the platform not known to be the subject's (another account, or any account when the subject's own user id is not known): that user may be someone else, so they were neither read nor erased. Check the user's external id in Zendesk, or give the subject's ticketing user id";

/** Why collect passed over a user who holds the subject's address as an email identity nobody verified. */
const UNVERIFIED_HOLDER =
  "a helpdesk user holding the subject's address as an unverified email identity (typed in by an agent, or never confirmed): not proven theirs, so that user, who may be someone else, was not read. Verify the identity in Zendesk, or give the subject's ticketing user id";

/** What an erasure waits for after its first pass (see searchLagMs): said on the task, no personal data. */
const SEARCHED_AGAIN = (lagMs: number) =>
  `the helpdesk user is soft-deleted; Zendesk's search may take up to ${Math.ceil(lagMs / 60_000)} minute(s) to show comments written just before, on tickets the subject neither requested nor is copied on: searched again then, their comments redacted, and the user deleted for good`;

/** What an erasure that keeps threads (and the user) waits for after its pass: said on the task, no personal data. */
const KEPT_SEARCHED_AGAIN = (lagMs: number) =>
  `threads are kept under the retention rule, and the helpdesk user with them; Zendesk's search may take up to ${Math.ceil(lagMs / 60_000)} minute(s) to show comments written just before, on tickets the subject neither requested nor is copied on: searched again then, and counted kept (or redacted, outside the rule)`;

/** Why collect and erase passed over held-back mail from an address the subject's user holds unverified. */
const UNPROVEN_SENDER =
  "emails Zendesk held back (suspended) from an address on the subject's helpdesk profile that nobody verified: not proven theirs (an agent may have typed in someone else's), so they were neither read nor erased. Verify the identity in Zendesk to include them";

/** Why collect and erase read only the start of a long held-back queue (suspendedScanLimit). */
const BEYOND_SCAN = (limit: number) =>
  `emails Zendesk held back (suspended) past the first ${limit} of its queue: Zendesk offers no way to ask for one sender's, so only that many were searched for the subject's address (each 100 cost a call). Look through the suspended queue in Zendesk for the subject's address, or raise suspendedScanLimit`;

/**
 * Kinds of record Zendesk may hold of the subject that this connector has no call to find, named by
 * every collect (the request's, the export's and the certificate's notSearched), whoever the subject is.
 */
const NEVER_SEARCHED = [
  {
    type: "side_conversation",
    reason:
      "side conversations on tickets the subject neither requested, is copied on, nor wrote a comment on (an agent may have emailed them from someone else's ticket): Zendesk has no call that lists side conversations by participant; those of the subject's own tickets were read",
  },
  {
    type: "comment",
    reason:
      "comments the subject wrote in the last few minutes on tickets they neither requested nor are copied on: those tickets are found through Zendesk's search (commenter), whose index takes a few minutes to show a new comment; a deletion searches again after searchLagMs (before it deletes the user, or, when it keeps threads and the user, to count such threads kept), an access request does not: search Zendesk again for tickets with the subject as commenter",
  },
  {
    type: "user",
    reason:
      "a helpdesk user made in the minute before this search, or given the subject's address then: Zendesk's search takes minutes to show a new user and its incremental user export (read for the users of the last searchLagMs) leaves out the last minute. A user given the address as a further identity is found only if Zendesk counted that a change of the user: search Zendesk for the subject's address if someone was added or changed just now",
  },
  {
    type: "deleted_ticket",
    reason: "tickets an agent deleted in the last 30 days: Zendesk's list of deleted tickets names no requester, so the subject's cannot be told apart from anyone's",
  },
  {
    type: "user",
    reason: "a helpdesk user known by the subject's phone number only (made by a call or a text message) and not by their address: this connector finds users by address and ticketing user id",
  },
] as const;

/** Whether a ticket lists the user as an email CC or a follower (or among the older `collaborator_ids`, which holds both). */
const listsUser = (t: Pick<WireTicket, "email_cc_ids" | "follower_ids" | "collaborator_ids">, userId: number): boolean =>
  [...(t.email_cc_ids ?? []), ...(t.follower_ids ?? []), ...(t.collaborator_ids ?? [])].includes(userId);

/** A comment's attachments that are not redacted yet: each one of the records collect shows. */
const liveAttachments = (c: WireComment) => (c.attachments ?? []).filter((a) => !isRedactedAttachment(a));

/**
 * A thread the subject requested that another customer wrote on: erase redacts only the subject's own
 * comments on it and leaves the rest for that person (residual), and collect marks what stays so the
 * deletion plan foresees it. One rule for both, so the plan and the erasure cannot part.
 */
const sharedThread = (role: TicketRole, othersOnThread: number): boolean => role === "requester" && othersOnThread > 0;

const RESIDUE_TYPES = ["ticket", "comment", "attachment", "side_conversation_message"] as const;
type ResidueType = (typeof RESIDUE_TYPES)[number];
/** What stays of the subject's staff replies on other people's tickets (STAFF_REPLY_REASON): the replies, their attachments, the tickets' records. */
const STAFF_RESIDUE_TYPES = ["ticket", "comment", "attachment"] as const;
type StaffResidueType = (typeof STAFF_RESIDUE_TYPES)[number];

/**
 * The subject's records that remain on threads they requested that other customers wrote on
 * (SHARED_THREAD_REASON), and their side conversation messages on any thread that is not deleted
 * (SIDE_CONVERSATION_REASON).
 */
class SharedThreadResidue {
  private readonly counts = new Map<ResidueType, number>();
  /** The subject's staff replies on other people's tickets, and those tickets' records (STAFF_REPLY_REASON). */
  private readonly staff = new Map<StaffResidueType, number>();

  add(type: ResidueType, count: number): void {
    if (count > 0) this.counts.set(type, (this.counts.get(type) ?? 0) + count);
  }

  /** Records of the subject's that stay for another person, who requested the ticket they wrote on as staff. */
  addStaff(type: StaffResidueType, count: number): void {
    if (count > 0) this.staff.set(type, (this.staff.get(type) ?? 0) + count);
  }

  /**
   * The counts a user's unit note carries (notes.ts): the user's unit carries them, because an attempt
   * that finishes the user's delete no longer finds the user, nor so the threads, to count them again.
   */
  noted(): Pick<UserNote, "shared" | "staff"> {
    return { shared: RESIDUE_TYPES.map((type) => this.counts.get(type) ?? 0), staff: STAFF_RESIDUE_TYPES.map((type) => this.staff.get(type) ?? 0) };
  }

  /** Adds the counts a user note carries (see noted). */
  addNoted(n: Pick<UserNote, "shared" | "staff">): void {
    RESIDUE_TYPES.forEach((type, i) => this.add(type, n.shared[i] ?? 0));
    STAFF_RESIDUE_TYPES.forEach((type, i) => this.addStaff(type, n.staff[i] ?? 0));
  }

  /** Held-back emails of the subject's that an agent recovered into a ticket not tied to them (RECOVERED_REASON), or that may have been. */
  private recovered = 0;
  addRecovered(): void {
    this.recovered += 1;
  }

  /** What this call found, for the residue note its user's last unit leaves (notes.ts: ResidueNote). */
  residueNote(): ResidueNote {
    return { ...this.noted(), recovered: this.recovered };
  }

  /**
   * What an earlier attempt's residue note names (it deleted the user for good, then died before the task
   * completed): named in the outcome, never in this call's own notes (the earlier note stays for any later attempt).
   */
  private readonly carried: ResidueNote[] = [];
  addCarried(n: ResidueNote): void {
    this.carried.push(n);
  }

  /** The outcome's `residual`, only when there is something to name: this call's own, and what earlier attempts' residue notes carry. */
  outcome(): Pick<ErasureOutcome, "residual"> {
    const counts = new Map(this.counts);
    const staffCounts = new Map(this.staff);
    let recoveredCount = this.recovered;
    for (const n of this.carried) {
      RESIDUE_TYPES.forEach((type, i) => n.shared[i] && counts.set(type, (counts.get(type) ?? 0) + n.shared[i]));
      STAFF_RESIDUE_TYPES.forEach((type, i) => n.staff[i] && staffCounts.set(type, (staffCounts.get(type) ?? 0) + n.staff[i]));
      recoveredCount += n.recovered;
    }
    const fields = { ticket: ["subject", "requester"], comment: ["body"], attachment: ["file_name", "content"], side_conversation_message: ["subject", "body"] } as const;
    const reason = (type: ResidueType) => (type === "side_conversation_message" ? SIDE_CONVERSATION_REASON : SHARED_THREAD_REASON);
    const sets = [...counts].map(([type, count]) => ({ category: "SUPPORT" as const, type, count, fields: fields[type], reason: reason(type) }));
    const staff = [...staffCounts].map(([type, count]) => ({ category: "SUPPORT" as const, type, count, fields: fields[type], reason: STAFF_REPLY_REASON }));
    const recovered = recoveredCount ? [{ category: "SUPPORT" as const, type: "suspended_ticket", count: recoveredCount, fields: ["subject", "content", "attachments"], reason: RECOVERED_REASON }] : [];
    return sets.length || staff.length || recovered.length ? { residual: [...sets, ...staff, ...recovered] } : {};
  }
}

/** The note a unit that deleted the user for good leaves (its `leaves`): what it found stays (ResidueNote), or nothing when nothing does. */
const residueLeft = (residual: SharedThreadResidue): string[] => {
  const n = residual.residueNote();
  return [...n.shared, ...n.staff, n.recovered].some((c) => c > 0) ? [residueNote(n)] : [];
};

/** The addresses held-back mail may come from to be the subject's (see senderAddresses). */
interface SenderAddresses {
  proven: ReadonlySet<string>;
  unproven: ReadonlySet<string>;
}

/**
 * The subject's addresses, in matching form: the request's (verified before anything is disclosed)
 * and each email identity of their Zendesk user that Zendesk shows proven; apart, those the user holds
 * unverified (an agent may have typed in someone else's).
 */
function senderAddresses(email: string | undefined, identities: readonly WireIdentity[]): SenderAddresses {
  const proven = new Set<string>(email ? [normalizeEmail(email)] : []);
  const unproven = new Set<string>();
  for (const i of identities) {
    if (i.type !== "email" || typeof i.value !== "string") continue;
    (provenIdentity(i) ? proven : unproven).add(normalizeEmail(i.value));
  }
  for (const address of proven) unproven.delete(address);
  return { proven, unproven };
}

/**
 * Why a held-back email of the subject's was not counted erased: gone from the queue when a later attempt
 * came back to the delete an earlier one began, and a ticket was made since from an address of theirs that
 * is not tied to their user (an agent recovered the email into it: Zendesk's API makes the recovering agent
 * the requester), or more tickets were made since than were looked through (RECOVERY_SCAN).
 */
const RECOVERED_REASON =
  "an email of yours the helpdesk had held back (suspended) was recovered into a ticket by an agent before the deletion could delete it, or may have been: its text lives on in a ticket that is not tied to your helpdesk user. Look in Zendesk for tickets made from your address since then";

/** Tickets looked through, newest first, for one made from a held-back email whose delete was in doubt (recoveredInto). */
const RECOVERY_SCAN = 1_000;

/** The most days Zendesk keeps an email in its held-back queue (then it deletes it): how far back a note without its arrival looks. */
const SUSPENDED_DAYS = 14;

/** A Zendesk object id: what a path may carry (anything else names no object, and never reaches a URL). */
const ZENDESK_ID = /^\d{1,15}$/;

/**
 * Where the subject's Zendesk user stands: live, soft-deleted (erasure half done), or gone; with the
 * user's identities when finding them read those already (a search hit is confirmed through them), so
 * that a collect or erase lists them once.
 */
type Found = { user: WireUser; state: "active" | "soft-deleted"; identities?: WireIdentity[] } | undefined;

/**
 * The ticketing connector on the Zendesk Support API. Finds the subject's Zendesk user by
 * ticketingUserId or email; collects the user, the tickets they requested, were CC'd on or wrote a
 * comment on (each once), the side conversation messages they sent or were sent in those tickets, their comments (on a ticket they were only CC'd on, only what they wrote; on one they requested, what
 * they and the staff wrote: other people's comments are reported left out as those people's data) and
 * the attachments' metadata. Erasure follows Zendesk's flow: outside retention, threads the subject
 * requested are deleted (then deleted for good through deleted_tickets) unless another customer wrote
 * on one (then only the subject's own comments on it are redacted, and the rest is reported residual), and on
 * threads they were only CC'd on their comments are redacted (text and attachments) and they leave the
 * CCs (except what they wrote there as staff, an agent or admin: that is the requester's communication
 * too, and stays for them, residual); then the user is soft-deleted and deleted permanently through deleted_users. Every step is read back before it is taken, so a run that stopped
 * anywhere (even after a soft delete) is finished by the next one.
 *
 * A soft-deleted user (one an agent deleted by hand, or one an erasure left before its permanent delete)
 * is still the subject's: Zendesk keeps their profile, and deleting a user, even for good, deletes none
 * of their tickets. Collect shows such a user with everything tied to them, erase takes them through the
 * same pass as a live one, and the roster lists them (findUser, roster.ts).
 *
 * Retention works per ticket: a thread whose last activity is at or after keepRecordedSince.SUPPORT is
 * kept whole (a dispute needs the whole conversation), and reported in `kept`. While any ticket is kept,
 * the user record is kept too: deleting it would cut the kept tickets off from the person, so a later
 * purge could not find them and the subject could no longer get them in an access request. The user is
 * then reported as kept with the newest kept ticket's date, and the purge deletes it with the last ticket.
 *
 * listSubjects lists every user collect would find, whatever their role, by id and primary email (roster.ts).
 */
export function createZendeskConnector(options: ZendeskConnectorOptions): ZendeskConnector {
  const o = resolveZendeskOptions(options);
  const name = o.name;
  const client = new ZendeskClient(o);
  const spec: ConnectorSpec = {
    name,
    version: o.version,
    supports: ["access", "erasure"],
    needs: ["ticketingUserId", "email"],
    needsAny: true,
    provides: [],
    categories: ["SUPPORT"],
  };

  /** The account user id the platform set as the user's external_id (accountExternalId), in matching form; null when none. */
  const accountLink = (user: WireUser): string | null => (typeof user.external_id === "string" && user.external_id.trim() !== "" ? normalizeUserId(user.external_id) : null);

  const userById = async (id: string, op: "collect" | "erase", ctx: CallContext): Promise<WireUser | undefined> => {
    if (!ZENDESK_ID.test(id)) return undefined;
    const { status, body } = await client.get<{ user: WireUser }>(`users/${id}.json`, op, ctx, undefined, undefined, { key: "user" });
    return status === 404 ? undefined : body.user;
  };

  /** Every identity Zendesk lists for the user (all pages). */
  const identitiesOf = async (userId: number, op: Exclude<Operation, "check">, ctx: CallContext): Promise<WireIdentity[]> => {
    const identities: WireIdentity[] = [];
    for await (const identity of client.list<WireIdentity>(`users/${userId}/identities.json`, "identities", op, ctx)) identities.push(identity);
    return identities;
  };

  /**
   * Every live user who holds the address, each once, with the identities that proved it: Zendesk keeps
   * one address per user, but an internationalised one may be held in Unicode by one user and in ASCII
   * by another, and both are the subject's. `unproven` hears of each user passed over because they hold
   * the address only unverified. A collect or erase (`recent`) also looks through the users changed within
   * searchLagMs (recentUsers), whom the search may not show yet; `recent` hears what it could not read.
   */
  async function* usersByEmail(email: string, op: Exclude<Operation, "check">, ctx: CallContext, unproven?: () => void, recent?: RecentReach): AsyncGenerator<{ user: WireUser; identities: WireIdentity[] }> {
    const wanted = normalizeEmail(email);
    const seen = new Set<number>();
    for await (const { user, identities } of candidatesFor(wanted, op, ctx, recent)) {
      if (seen.has(user.id)) continue;
      // The address is the user's if it is one of their email identities, verified: the search also
      // finds a user by an email that is not their primary one (`email` shows the primary only), and
      // the primary one is no proof either (an agent can create a user with, or change the profile
      // to, anyone's address, and `email` shows it verified or not).
      const held = holdersOf(identities, wanted);
      if (held.some(provenIdentity)) {
        seen.add(user.id);
        yield { user, identities };
      } else if (held.length) unproven?.();
    }
  }

  /** The users who may hold the address (see usersByEmail), each with all their identities. */
  async function* candidatesFor(wanted: string, op: Exclude<Operation, "check">, ctx: CallContext, recent?: RecentReach): AsyncGenerator<{ user: WireUser; identities: WireIdentity[] }> {
    const searched = new Set<number>();
    // Search matches loosely; only an exact address is the subject. Each spelling of the domain is
    // searched for (an internationalised one is stored in Unicode or in ASCII).
    for (const spelling of emailSpellings(wanted)) {
      // The user search pages by offset only (Zendesk answers 400 to page[size]); an address finds a handful of users, one page.
      for await (const u of client.list<WireUser>(`users/search.json?query=${encodeURIComponent(`email:"${spelling}"`)}`, "users", op, ctx, undefined, "offset")) {
        if (searched.has(u.id)) continue;
        searched.add(u.id);
        yield { user: u, identities: await identitiesOf(u.id, op, ctx) };
      }
    }
    // Users made or changed within searchLagMs, whom the search may not show yet: their identities come with them.
    if (recent && o.searchLagMs > 0) {
      for await (const found of recentUsers(client, { name, windowMs: o.searchLagMs }, op, ctx, recent)) if (!searched.has(found.user.id) && holdersOf(found.identities, wanted).length) yield found;
    }
  }

  /** The first live user who holds the address (the one the roster puts it on). */
  const userByEmail = async (email: string, op: Exclude<Operation, "check">, ctx: CallContext): Promise<WireUser | undefined> => {
    for await (const { user } of usersByEmail(email, op, ctx)) return user;
    return undefined;
  };

  /** The user with the subject's ticketing user id, live or soft-deleted, or undefined. */
  const userWithId = async (id: string, op: "collect" | "erase", ctx: CallContext): Promise<Found> => {
    const user = await userById(id, op, ctx);
    if (user?.active) return { user, state: "active" };
    if (!ZENDESK_ID.test(id)) return undefined;
    const { status, body } = await client.get<{ deleted_user: WireUser }>(`deleted_users/${id}.json`, op, ctx, undefined, undefined, { key: "deleted_user" });
    return status === 404 ? undefined : { user: body.deleted_user, state: "soft-deleted" };
  };

  /**
   * The subject's user, live or soft-deleted (deleted but not yet for good: Zendesk still holds the
   * profile and every ticket, comment and attachment of theirs). By id, a user that is no longer active
   * is confirmed through deleted_users/{id}, which answers only for soft-deleted users. By email, the
   * search finds live users only, so a soft-deleted one is looked for among deleted_users by its primary
   * address: one call per 100 deleted users, made only when no user was found by id or live by address.
   *
   * The address is searched for even when the id is known: a person who changed their address on the
   * platform and wrote in again is a second user under it, whom the id does not reach. The id is looked
   * up only when the search did not find that very user (then it is the same live user either way).
   * Two users (by id and by address, or under two spellings of the address) stop the call: collect and
   * erase follow one user, and following one would export or erase part of the person and report it whole.
   */
  const findUser = async (ids: Identities, op: "collect" | "erase", ctx: CallContext, passedOver?: (reason: string) => void): Promise<Found> => {
    const unproven = () => passedOver?.(UNVERIFIED_HOLDER);
    /** Whether a user found by the address may be the subject's: with accountExternalId, not one linked to another account. */
    const ownAccount = (user: WireUser): boolean => {
      if (!o.accountExternalId || linkedToSubject(accountLink(user), ids)) return true;
      passedOver?.(OTHER_ACCOUNT_HOLDER);
      return false;
    };
    const several = () =>
      new ConnectorError(
        `${name}: the subject is more than one user here (found by their ticketing user id and by their address, or under two spellings of it), and the ${op} follows one; it stopped rather than reach only some of them. Merge the users in Zendesk, then retry`,
        `${name} ${op}: several users for one subject`,
        false,
      );
    const recent: RecentReach = { refused: () => passedOver?.(RECENT_REFUSED(o.searchLagMs)), unread: () => passedOver?.(RECENT_UNREAD(o.searchLagMs)) };
    let found: Found;
    for await (const { user, identities } of usersByEmail(ids.email, op, ctx, unproven, recent)) {
      if (!ownAccount(user)) continue;
      if (found) throw several();
      found = { user, state: "active", identities };
    }
    // The id is looked up unless the address found that very user (live, as the search finds only those).
    if (ids.ticketingUserId && String(found?.user.id) !== ids.ticketingUserId) {
      const byId = await userWithId(ids.ticketingUserId, op, ctx);
      if (byId && o.accountExternalId) refuseOtherAccountById(accountLink(byId.user), ids, name, op, USER_BY_ID);
      if (byId && found && byId.user.id !== found.user.id) throw several();
      found = found ?? byId;
    }
    if (found || ids.ticketingUserId) return found;
    const wanted = normalizeEmail(ids.email);
    for await (const u of client.list<WireUser>("deleted_users.json", "deleted_users", op, ctx)) {
      if (!u.email || normalizeEmail(u.email) !== wanted) continue;
      // Proven as a live user's is: an agent may have created the user with, or typed onto them, someone else's address.
      const identities = await identitiesOf(u.id, op, ctx);
      if (!holdersOf(identities, wanted).some(provenIdentity)) unproven();
      else if (ownAccount(u)) return { user: u, state: "soft-deleted", identities };
    }
    return undefined;
  };

  /**
   * The emails Zendesk suspended (held back) sent from one of the subject's addresses (see
   * senderAddresses), under any spelling: a suspended ticket has no user, so neither the ticketing user
   * id nor the user search reaches it, and Zendesk has no filter by sender (only a sort by it, in an
   * order it does not document for case and domain spellings, so no page can be skipped and the result
   * stay exact): the queue (at most 14 days of held-back mail) is read from its start, up to
   * suspendedScanLimit emails (`beyond` hears when more were left unread), and only an exact address
   * is the subject's. `author.id` is not taken as proof: Zendesk ties held-back mail to whichever user
   * holds its From address, verified or not. `unproven` hears of mail from an address the user holds
   * unverified, which is passed over.
   */
  async function* suspendedFrom(addresses: SenderAddresses, op: "collect" | "erase", ctx: CallContext, unproven?: () => void, beyond?: () => void): AsyncGenerator<WireSuspendedTicket> {
    for await (const s of suspendedQueue(client, op, ctx, o.suspendedScanLimit, beyond)) {
      const from = typeof s.author?.email === "string" ? normalizeEmail(s.author.email) : undefined;
      if (from !== undefined && addresses.proven.has(from)) yield s;
      else if (from !== undefined && addresses.unproven.has(from)) unproven?.();
    }
  }

  /** The found user's identities, read once: those findUser read already, or a listing now. */
  const identitiesFound = async (found: Found, op: "collect" | "erase", ctx: CallContext): Promise<WireIdentity[]> =>
    found ? (found.identities ?? (await identitiesOf(found.user.id, op, ctx))) : [];

  /**
   * The subject's held-back mail (suspendedFrom); mail from an address their user holds unverified is
   * passed over, and a queue longer than suspendedScanLimit read only so far: each said once, through ctx.notSearched.
   */
  async function* heldBackMail(ids: Identities, identities: readonly WireIdentity[], op: "collect" | "erase", ctx: TaskContext): AsyncGenerator<WireSuspendedTicket> {
    const addresses = senderAddresses(ids.email, identities);
    if (!addresses.proven.size) return;
    let said = false;
    const unproven = () => {
      if (!said) ctx.notSearched?.({ category: "SUPPORT", type: "suspended_ticket", reason: UNPROVEN_SENDER });
      said = true;
    };
    const beyond = () => ctx.notSearched?.({ category: "SUPPORT", type: "suspended_ticket", reason: BEYOND_SCAN(o.suspendedScanLimit) });
    yield* suspendedFrom(addresses, op, ctx, unproven, beyond);
  }

  /**
   * Deletes a suspended ticket (nothing of it stays in Zendesk). Gone already (404), it is counted only
   * as `gone` says, for a delete an earlier attempt began (its note): that delete may have gone through
   * with its answer lost, or an agent may have recovered the email into a ticket meanwhile. Without
   * `gone`, someone else took it (an agent who recovered it made a ticket of it): not erased by this erasure.
   */
  const deleteSuspended = async (id: number, ctx: TaskContext, gone?: () => Promise<number>): Promise<number> => {
    const { status } = await client.send("DELETE", `suspended_tickets/${id}.json`, "erase", ctx);
    return status !== 404 ? 1 : gone ? gone() : 0;
  };

  /** Whether a suspended ticket an earlier attempt deleted (its note) is gone, read without deleting (a hold refused the unit): counted as deleteSuspended counts it. */
  const suspendedGone = async (id: number, ctx: TaskContext, gone: () => Promise<number>): Promise<number> =>
    (await client.get(`suspended_tickets/${id}.json`, "erase", ctx, undefined, undefined, { key: "suspended_ticket" })).status === 404 ? gone() : 0;

  /**
   * Where a held-back email of the subject's went, gone from the queue before a later attempt could learn
   * whether the delete an earlier one began went through (its note; `arrivedMs`, when the email came in):
   * 1 (erased) when no ticket was made since from an address of theirs; 0 when one was, which an agent
   * recovering the email made: tied to their user (the erasure's pass finds and erases it, and counts it
   * there) or not (residual: RECOVERED_REASON), as when more tickets were made since than were looked through.
   */
  const suspendedWent = async (arrivedMs: number, ids: Identities, residual: SharedThreadResidue, ctx: TaskContext): Promise<number> => {
    const found = await findUser(ids, "erase", ctx);
    const addresses = senderAddresses(ids.email, await identitiesFound(found, "erase", ctx)).proven;
    const ticket = await recoveredInto(arrivedMs, addresses, ctx);
    if (ticket === undefined) return 1;
    if (ticket === "unread" || ticket.requester_id !== found?.user.id) residual.addRecovered();
    ctx.logger.info({ connector: name, tiedToUser: ticket !== "unread" && ticket.requester_id === found?.user.id }, "a held-back email whose delete was in doubt went into a ticket (or may have): not counted erased");
    return 0;
  };

  /**
   * The tickets the user requested, then those they were CC'd on, then those they wrote a comment on
   * and are neither (the search's `commenter:`, through its export: cursor pages, no 1,000-result cap),
   * each once. Zendesk lists a user's tickets by requester and CC only; the search reaches the rest.
   */
  async function* ticketsOf(userId: number, op: "collect" | "erase", ctx: CallContext): AsyncGenerator<{ ticket: WireTicket; role: TicketRole }> {
    const seen = new Set<number>();
    const lists = [
      [`users/${userId}/tickets/requested.json`, "tickets", "requester"],
      [`users/${userId}/tickets/ccd.json`, "tickets", "cc"],
      // Followed (by an agent or admin, whom Zendesk lets follow): copied on it, as far as erasure goes.
      [`users/${userId}/tickets/followed.json`, "tickets", "cc"],
    ] as const;
    for (const [path, key, role] of lists) {
      for await (const ticket of client.list<WireTicket>(path, key, op, ctx)) {
        if (seen.has(ticket.id)) continue;
        seen.add(ticket.id);
        yield { ticket, role };
      }
    }
    for await (const found of commentedOn(userId, op, ctx)) if (!seen.has(found.ticket.id)) yield found;
  }

  /** The tickets the user wrote a comment on (the search's `commenter:`, through its export), as far as its index shows them yet. */
  async function* commentedOn(userId: number, op: "collect" | "erase", ctx: CallContext): AsyncGenerator<{ ticket: WireTicket; role: TicketRole }> {
    const path = `search/export.json?query=${encodeURIComponent(`commenter:${userId}`)}&filter%5Btype%5D=ticket`;
    for await (const ticket of client.list<WireTicket>(path, "results", op, ctx)) yield { ticket, role: "commenter" };
  }

  /**
   * One erase's or poll's units of erasure (see TaskContext.eraseUnit): `unit` answers false once the
   * orchestrator withdrew SUPPORT (a hold), and every unit after it is refused too.
   */
  const unitsOf = (ctx: TaskContext) => {
    const state = {
      erased: 0,
      withdrawn: false,
      unit: async (work: () => Promise<number>, note?: string, leaves?: () => readonly string[]): Promise<boolean> => {
        if (state.withdrawn) return false;
        state.withdrawn = !(await ctx.eraseUnit(
          "SUPPORT",
          async () => {
            const n = await work();
            state.erased += n;
            return n;
          },
          note,
          leaves ? { leaves } : undefined,
        ));
        if (state.withdrawn) ctx.logger.info({ connector: name, erased: state.erased }, "the erasure was withdrawn; stopping here");
        return !state.withdrawn;
      },
      /**
       * Finishes an earlier attempt's unit by its note: `work` in a unit of its own; when a hold refuses
       * that unit, `landed` (reads only) counts what the earlier attempt's write did. That write was sent
       * before the hold (its placement waited for the unit), so what it erased is erased: no unit ends
       * with the note, so nothing else counts it, and what it did not do is still there, the hold's.
       */
      finishNoted: async (note: string, work: () => Promise<number>, landed: () => Promise<number>, leaves?: () => readonly string[]): Promise<boolean> => {
        if (await state.unit(work, note, leaves)) return true;
        const n = await landed();
        if (n) ctx.logger.info({ connector: name, records: n }, "a write an earlier attempt sent before the hold went through: counted erased");
        // The note finished and its count kept in one transaction (with what it leaves): a death before the task completes loses neither.
        await ctx.settleNotes?.("SUPPORT", [note], n, leaves?.());
        state.erased += n;
        return false;
      },
    };
    return state;
  };

  /**
   * The ticket's comments that belong to the subject's communications (see isSubjects); `others` counts
   * the rest, other people's words. `forRequester` hears the ids of those that are also the communication
   * of the person who requested the ticket, not the subject: what the subject wrote there as staff
   * (STAFF_REPLY_REASON), which erasure leaves for that person. A comment redacted to nothing (no text, no live attachment) holds
   * no one's data and is neither. The authors' roles come sideloaded with each page (`include=users`).
   */
  async function* commentsOf(ticket: WireTicket, role: TicketRole, userId: number, op: "collect" | "erase", ctx: CallContext, others?: { count: number }, forRequester?: Set<number>): AsyncGenerator<WireComment> {
    const staff = new Set<number>();
    const sideloaded = (page: Record<string, unknown>) => {
      for (const u of Array.isArray(page.users) ? (page.users as Partial<WireUser>[]) : []) if (typeof u.id === "number" && (u.role === "agent" || u.role === "admin")) staff.add(u.id);
    };
    for await (const c of client.list<WireComment>(`tickets/${ticket.id}/comments.json?include=users&include_inline_images=true`, "comments", op, ctx, sideloaded)) {
      if (isRedacted(c)) continue;
      if (isSubjects(c, role, userId, staff)) {
        // Written as staff on a ticket someone else requested: that person's communication too (their collect's isSubjects).
        if (role !== "requester" && ticket.requester_id !== userId && isSubjects(c, "requester", ticket.requester_id, staff)) forRequester?.add(c.id);
        yield c;
      } else if (others) others.count += 1;
    }
  }

  /**
   * The subject's comments on a thread (commentsOf), in memory: one thread's worth. Undefined for a
   * thread found only through their comments when none of them is left (all redacted): nothing of
   * theirs is on it any more, though the search still finds it by the redacted comments' author.
   */
  const theirComments = async (ticket: WireTicket, role: TicketRole, userId: number, op: "collect" | "erase", ctx: CallContext, others?: { count: number }, forRequester?: Set<number>): Promise<WireComment[] | undefined> => {
    const onThread = { count: 0 };
    const comments: WireComment[] = [];
    for await (const c of commentsOf(ticket, role, userId, op, ctx, onThread, forRequester)) comments.push(c);
    if (role === "commenter" && !comments.length) return undefined;
    if (others) others.count += onThread.count;
    return comments;
  };

  /**
   * Redacts the text and live attachments of one comment; returns how many records that erased (the
   * comment and its attachments: a comment redacted to nothing is no longer one of anyone's records).
   */
  const redact = async (ticket: WireTicket, c: WireComment, ctx: TaskContext): Promise<number> => {
    const live = liveAttachments(c);
    const html = redactAllText(c.html_body);
    const body = { ticket_id: ticket.id, ...(html === c.html_body ? {} : { html_body: html }), external_attachment_urls: live.map((a) => a.content_url) };
    await client.send("PUT", `comment_redactions/${c.id}.json`, "erase", ctx, body);
    return 1 + live.length;
  };

  /**
   * Redacts one comment of the subject's as a unit of erasure noting it (notes.ts: commentNote, the ticket, the comment and its records,
   * `extra` records more: the thread's, which goes with its last comment of theirs): a redaction whose answer
   * was lost, or whose attempt stopped before the unit ended, is counted by the next attempt
   * (finishRedaction), which no longer finds the comment among theirs (it is redacted).
   */
  const redactNoted = (units: ReturnType<typeof unitsOf>, ticket: WireTicket, c: WireComment, extra: number, ctx: TaskContext): Promise<boolean> =>
    units.unit(async () => (await redact(ticket, c, ctx)) + extra, commentNote({ ticket: ticket.id, comment: c.id, records: 1 + liveAttachments(c).length + extra }));

  /**
   * Finishes a redaction an earlier attempt began (a `comment:` note; false for any other note): counted
   * when Zendesk shows the comment redacted now; left to the main pass (0) while it is not, or when the
   * comment or its thread is gone (someone else deleted it).
   */
  const finishRedaction = async (units: ReturnType<typeof unitsOf>, note: string, ctx: TaskContext): Promise<boolean> => {
    // A note of this version (JSON) or of the previous one (`comment:<ticket>:<comment>:<records>`, read the same: notes.ts).
    const noted = commentOfNote(note);
    if (!noted) return false;
    const { ticket: ticketId, comment: commentId, records } = noted;
    // Only reads: under a hold too, a comment Zendesk shows redacted was erased by that attempt.
    const redacted = async () => {
      for await (const c of client.list<WireComment>(`tickets/${ticketId}/comments.json`, "comments", "erase", ctx)) if (c.id === commentId) return isRedacted(c) ? records : 0;
      return 0;
    };
    await units.finishNoted(note, redacted, redacted);
    return true;
  };

  /** Deletes a soft-deleted ticket for good (a Zendesk job, waited for); false when it is not in deleted_tickets. */
  const deleteForGood = async (ticketId: number, ctx: TaskContext): Promise<boolean> => {
    const { status, body } = await client.send<{ job_status?: JobState }>("DELETE", `deleted_tickets/${ticketId}.json`, "erase", ctx);
    if (status === 404) return false;
    await client.awaitJob(body.job_status, "erase", ctx);
    return true;
  };

  /**
   * Deletes a thread the subject requested, with its comments and attachments: soft delete, then for
   * good through deleted_tickets (a job). Both are one unit of erasure whose note names the ticket, so
   * a run that stops between them is finished by the next attempt (finishThread). Returns the records.
   */
  const deleteThread = async (ticket: WireTicket, records: number, ctx: TaskContext): Promise<number> => {
    const { status } = await client.send("DELETE", `tickets/${ticket.id}.json`, "erase", ctx);
    if (status === 404) return 0;
    await deleteForGood(ticket.id, ctx);
    return records;
  };

  /**
   * Finishes a thread deletion an earlier attempt began (its note): deleted for good now if it waits in
   * deleted_tickets; counted if it is gone; left to the main pass (0) if it is live again.
   */
  const finishThread = async (ticketId: number, records: number, ctx: TaskContext): Promise<number> => {
    if (await deleteForGood(ticketId, ctx)) return records;
    return (await ticketGone(ticketId, ctx)) ? records : 0;
  };

  /** Whether Zendesk no longer has the ticket at all (neither live nor in deleted_tickets, which the caller asked first). */
  const ticketGone = async (ticketId: number, ctx: TaskContext): Promise<boolean> =>
    (await client.get(`tickets/${ticketId}.json`, "erase", ctx, undefined, undefined, { key: "ticket" })).status === 404;

  /**
   * A thread deletion an earlier attempt began, whose unit a hold now refuses (its note): a thread left in
   * deleted_tickets would go with Zendesk's 30-day scrub, so it is restored (0: the hold keeps it). One
   * Zendesk no longer has went for good before the hold (in that attempt's unit, which the hold's
   * placement waited for): an archived ticket's delete is for good at once and never waits in
   * deleted_tickets, and a permanent delete may have ended before the attempt did. It is counted erased
   * here (its records, from the note): no unit ends with the note, so nothing else counts it.
   */
  const withdrawThread = async (ticketId: number, records: number, ctx: TaskContext): Promise<number> => {
    const { status } = await client.send("PUT", `deleted_tickets/${ticketId}/restore.json`, "erase", ctx);
    if (status !== 404 || !(await ticketGone(ticketId, ctx))) return 0;
    ctx.logger.info({ connector: name, ticket: ticketId }, "a thread an earlier attempt deleted for good before the hold: counted erased");
    return records;
  };

  /** Deletes a soft-deleted user for good; 0 when someone else already did (or the user is not soft-deleted). */
  const deletePermanently = async (userId: number, ctx: TaskContext): Promise<number> => {
    const { status } = await client.send("DELETE", `deleted_users/${userId}.json`, "erase", ctx);
    return status === 404 ? 0 : 1;
  };

  /**
   * Finishes the permanent delete of a user an earlier attempt began (its note): counted when Zendesk
   * no longer has the user at all (that attempt's delete went through and its answer was lost); left to
   * the main pass (0) while the user is still live.
   */
  const finishUser = async (userId: number, ctx: TaskContext): Promise<number> => {
    if (await deletePermanently(userId, ctx)) return 1;
    return userGone(userId, ctx);
  };

  /**
   * Whether Zendesk no longer has the user at all, live or soft-deleted (an earlier attempt's permanent
   * delete went through): 1 if so. Only reads: what a retry a hold refused counts (finishNoted).
   */
  const userGone = async (userId: number, ctx: TaskContext): Promise<number> => {
    if ((await client.get(`users/${userId}.json`, "erase", ctx, undefined, undefined, { key: "user" })).status !== 404) return 0;
    return (await client.get(`deleted_users/${userId}.json`, "erase", ctx, undefined, undefined, { key: "deleted_user" })).status === 404 ? 1 : 0;
  };

  /**
   * Finishes the permanent delete of a user an earlier attempt (of an erase or a poll) began, by its note
   * (`user:<id>` and, written since they were read, what stays on the threads and the closed tickets that go
   * with the user: SharedThreadResidue.note; false for any other note). The user gone, this attempt will
   * not find their threads: what stays on them is the note's to name, and the closed tickets that went
   * with the user the note's to count.
   */
  const finishUserNote = async (units: ReturnType<typeof unitsOf>, note: string, residual: SharedThreadResidue, ctx: TaskContext): Promise<boolean> => {
    // A note of this version (JSON) or of the previous one (`user:<id>:…`, read the same: notes.ts).
    const noted = userOfNote(note);
    if (!noted) return false;
    let gone = false;
    const withNoted = (n: number) => {
      if (n) residual.addNoted(noted);
      gone = n > 0;
      return n ? n + noted.withUser : 0;
    };
    // The user gone, what stays is handed on as the unit (or the settling) ends: its note is finished then.
    const leaves = () => (gone ? residueLeft(residual) : []);
    await units.finishNoted(note, async () => withNoted(await finishUser(noted.user, ctx)), async () => withNoted(await userGone(noted.user, ctx)), leaves);
    return true;
  };

  /** An earlier attempt's residue note (false for any other note): what it found stays is named again here, counting nothing. */
  const carryResidue = (note: string, residual: SharedThreadResidue): boolean => {
    const noted = residueOfNote(note);
    if (noted) residual.addCarried(noted);
    return noted !== undefined;
  };

  /**
   * Takes the user off a thread's email CCs and its followers: the thread (someone else's) no longer leads
   * to them. Zendesk takes each off its own list (a CC removal leaves a follower following). True when the
   * ticket Zendesk answers with lists them nowhere any more, or is gone.
   */
  const leaveTicket = async (ticketId: number, userId: number, ctx: TaskContext): Promise<boolean> => {
    const off = [{ user_id: userId, action: "delete" }];
    const { status, body } = await client.send<{ ticket?: WireTicket }>("PUT", `tickets/${ticketId}.json`, "erase", ctx, { ticket: { email_ccs: off, followers: off } });
    // Gone meanwhile (someone deleted the thread): nothing leads to them either.
    return status === 404 || (!!body.ticket && !listsUser(body.ticket, userId));
  };

  /**
   * Finishes a CC removal an earlier attempt began (its note): counted when the user is off the thread's
   * CCs and followers (that attempt's removal went through and its answer was lost) or the thread is gone; left to
   * the main pass (0) while they are still on it.
   */
  const finishCc = async (ticketId: number, userId: number, records: number, ctx: TaskContext): Promise<number> => {
    const { status, body } = await client.get<{ ticket: WireTicket }>(`tickets/${ticketId}.json`, "erase", ctx, undefined, undefined, { key: "ticket" });
    if (status === 404) return records;
    return listsUser(body.ticket, userId) ? 0 : records;
  };

  /**
   * The newest ticket made, since `sinceMs`, from an email sent from one of `addresses` (`via.source.from`):
   * where a held-back email went if an agent recovered it. "unread" when more than RECOVERY_SCAN tickets
   * were made since (the rest are not looked through), undefined when none was.
   */
  const recoveredInto = async (sinceMs: number, addresses: ReadonlySet<string>, ctx: TaskContext): Promise<WireTicket | "unread" | undefined> => {
    let read = 0;
    for await (const t of client.list<WireTicket>("tickets.json?sort_by=created_at&sort_order=desc", "tickets", "erase", ctx, undefined, "offset")) {
      if (Date.parse(t.created_at) < sinceMs) return undefined;
      const from = t.via?.source?.from?.address;
      if (t.via?.channel === "email" && typeof from === "string" && addresses.has(normalizeEmail(from))) return t;
      if (++read >= RECOVERY_SCAN) return "unread";
    }
    return undefined;
  };

  /** How one collect or erase reads side conversations (SideReach): a refusal is named not searched, once. */
  const sideSearch = (ctx: TaskContext): SideReach => sideReach(() => ctx.notSearched?.({ category: "SUPPORT", type: "side_conversation_message", reason: SIDE_REFUSED_REASON }));

  return {
    spec,

    async check(ctx): Promise<CheckResult> {
      try {
        const { status, body } = await client.get<{ user?: { id?: number | null; role?: string } }>("users/me.json", "check", ctx, 0);
        const role = body.user?.role;
        if (status === 404 || !body.user?.id) return { ok: false, message: `${name}: ${o.baseUrl} did not answer as a Zendesk Support API (no /api/v2/users/me); check baseUrl` };
        if (role !== "agent" && role !== "admin") return { ok: false, message: `${name}: the API token acts for an ${role ?? "unknown"} user; it must belong to an agent or admin` };
        // Collect and erase read the incremental user export for users the search does not show yet: an
        // agent's token would pass here and miss them at every request (each collect would name them not searched).
        if (o.searchLagMs > 0 && role !== "admin" && !(await recentUsersReadable(client, o.searchLagMs, ctx))) return { ok: false, message: `${name}: ${EXPORT_CHECK(role)}` };
        return { ok: true, message: `${name}: reached Zendesk at ${new URL(o.baseUrl).host} as an ${role}` };
      } catch (error) {
        if (!(error instanceof ConnectorError)) throw error;
        ctx.logger.warn({ connector: name, internal: error.internalMessage, retryable: error.retryable }, "check failed");
        return { ok: false, message: error.userMessage };
      }
    },

    async *collect(ids, ctx) {
      for (const kind of NEVER_SEARCHED) ctx.notSearched?.({ category: "SUPPORT", ...kind });
      if (!ids.ticketingUserId) ctx.notSearched?.({ category: "SUPPORT", type: "user", reason: SECONDARY_OF_DELETED });
      const found = await findUser(ids, "collect", ctx, (reason) => ctx.notSearched?.({ category: "SUPPORT", type: "user", reason }));
      const identities = await identitiesFound(found, "collect", ctx);
      // The subject's suspended emails: no user holds them, so they are found whether or not a user is.
      for await (const s of heldBackMail(ids, identities, "collect", ctx)) yield suspendedTicketRecord(s);
      if (!found) {
        ctx.logger.info({ connector: name }, "no Zendesk user for the subject");
        return;
      }
      const { user } = found;
      // A soft-deleted user is shown with everything still tied to them: Zendesk holds it until the
      // permanent delete, whoever deleted the user (an agent by hand, or an erasure that stopped midway).
      if (found.state === "soft-deleted") ctx.logger.info({ connector: name }, "the subject's Zendesk user is soft-deleted; collecting what Zendesk still holds");
      yield userRecord(user, identities);
      const counts = { ticket: 0, comment: 0, attachment: 0, side_conversation_message: 0 };
      const proven = senderAddresses(ids.email, identities).proven;
      const side = sideSearch(ctx);
      // Other people's comments, by how the subject is on their threads.
      const others = { cc: { count: 0 }, commenter: { count: 0 }, requester: { count: 0 } };
      for await (const { ticket, role } of ticketsOf(user.id, "collect", ctx)) {
        // The thread's comments first: whether another customer wrote on it decides what erasure would
        // leave of it (the plan's toLeaveResidual), as erase decides it below.
        const onThread = { count: 0 };
        const forRequester = new Set<number>();
        const comments = await theirComments(ticket, role, user.id, "collect", ctx, onThread, forRequester);
        if (!comments) continue;
        others[role].count += onThread.count;
        const shared = sharedThread(role, onThread.count);
        const staying = (r: SubjectRecord): SubjectRecord => (shared ? { ...r, residualOnErasure: SHARED_THREAD_REASON } : r);
        // Off a closed ticket they were CC'd on, erasure cannot take them (Zendesk takes no update of it):
        // the record (that they were on it) goes with their user, deleted for good, or stays with it.
        // What they wrote there as staff stays for the requester (STAFF_REPLY_REASON); on a thread found only
        // through such comments, the ticket record (that they wrote there) stays with them, as erase leaves it.
        const forOther = (r: SubjectRecord): SubjectRecord => ({ ...r, residualOnErasure: STAFF_REPLY_REASON });
        const onlyForOther = role === "commenter" && comments.every((c) => forRequester.has(c.id));
        const ticketStays = role === "cc" && isClosed(ticket) ? (r: SubjectRecord): SubjectRecord => ({ ...r, inseparable: true }) : onlyForOther ? forOther : staying;
        yield ticketStays(ticketRecord(ticket, role, user.id));
        counts.ticket += 1;
        for (const c of comments) {
          // On a shared thread the subject's own comments are redacted (erased); the staff's replies stay.
          const stays = c.author_id !== user.id ? staying : forRequester.has(c.id) ? forOther : (r: SubjectRecord) => r;
          yield stays(commentRecord(c, ticket, user.id));
          counts.comment += 1;
          for (const a of c.attachments ?? []) {
            if (isRedactedAttachment(a)) continue;
            yield stays(attachmentRecord(a, c, ticket, user.id));
            counts.attachment += 1;
          }
        }
        // Their side conversation messages go only with a thread deleted whole: Zendesk cannot redact them.
        const deletedWhole = role === "requester" && !shared;
        for await (const { sc, event, fromThem } of sideMessagesOf(client, ticket, user.id, proven, "collect", ctx, side)) {
          const record = sideMessageRecord(event, sc, ticket, user.id, fromThem);
          yield deletedWhole ? record : { ...record, residualOnErasure: SIDE_CONVERSATION_REASON };
          counts.side_conversation_message += 1;
        }
      }
      if (side.others) ctx.leftOut?.({ category: "SUPPORT", type: "side_conversation_message", count: side.others, reason: SIDE_LEFT_OUT_REASON });
      const offOwn = others.cc.count + others.commenter.count;
      if (offOwn) ctx.leftOut?.({ category: "SUPPORT", type: "comment", count: offOwn, reason: LEFT_OUT_REASON });
      if (others.requester.count) ctx.leftOut?.({ category: "SUPPORT", type: "comment", count: others.requester.count, reason: LEFT_OUT_SHARED_REASON });
      ctx.logger.debug({ connector: name, ...counts, leftOut: offOwn + others.requester.count }, "zendesk records collected");
    },

    async erase(ids, instruction, ctx) {
      const since = instruction.keepRecordedSince?.SUPPORT ? new Date(instruction.keepRecordedSince.SUPPORT).getTime() : undefined;
      const units = unitsOf(ctx);
      const { unit } = units;
      // Threads an earlier attempt soft-deleted and may not have deleted for good: finished first, once.
      // So is the user, by the id in its unit's note: a soft-deleted user is no longer found by the
      // search, and deleted_users shows only its primary email (the subject's may be a secondary one).
      const residual = new SharedThreadResidue();
      for (const note of await ctx.unfinishedUnits()) {
        if (carryResidue(note, residual)) continue;
        if (await finishUserNote(units, note, residual, ctx)) continue;
        if (await finishRedaction(units, note, ctx)) continue;
        const suspended = suspendedOfNote(note);
        if (suspended) {
          // Gone from the queue: deleted (by that attempt, or another hand), or recovered into a ticket by an agent (not erased).
          const gone = () => suspendedWent(suspended.arrived ?? Date.now() - (SUSPENDED_DAYS + 1) * 86_400_000, ids, residual, ctx);
          await units.finishNoted(note, () => deleteSuspended(suspended.id, ctx, gone), () => suspendedGone(suspended.id, ctx, gone));
          continue;
        }
        // A note of this version (JSON) or of the previous one (`cc:<ticket>:<user>:<records>`): notes.ts.
        const ccUnit = ccOfNote(note);
        if (ccUnit) {
          // Only reads: under a hold too, a user Zendesk shows off the CCs was taken off by that attempt.
          const off = () => finishCc(ccUnit.ticket, ccUnit.user, ccUnit.records, ctx);
          await units.finishNoted(note, off, off);
          continue;
        }
        const thread = /^ticket:(\d{1,15}):(\d{1,9})$/.exec(note);
        if (!thread || (await unit(() => finishThread(Number(thread[1]), Number(thread[2]), ctx), note))) continue;
        // Withdrawn meanwhile (a hold): the thread comes back, or is counted if it went for good before the hold.
        units.erased += await withdrawThread(Number(thread[1]), Number(thread[2]), ctx);
      }
      // A hold keeps SUPPORT (placed since an earlier attempt began): nothing more is erased, and that
      // attempt's half-deleted threads came back above (an instruction without SUPPORT withdraws every unit),
      // and what stays of a user that attempt deleted for good is named from its note.
      if (!instruction.categories.includes("SUPPORT")) return { erased: units.erased, ...residual.outcome() };
      // The subject's suspended emails, each on its own: kept under the rule from the day it arrived, otherwise deleted (one unit each).
      const suspendedKept = new KeptTally();
      /** The outcome's `kept`: the threads' (with the user) and the suspended emails', only when there is something to name. */
      const keptOf = (threads?: KeptTally) => {
        const list = [...(threads?.list() ?? []), ...suspendedKept.list()];
        return list.length ? { kept: list } : {};
      };
      const found = await findUser(ids, "erase", ctx);
      const identities = await identitiesFound(found, "erase", ctx);
      for await (const s of heldBackMail(ids, identities, "erase", ctx)) {
        const arrived = new Date(s.created_at);
        if (since !== undefined && arrived.getTime() >= since) suspendedKept.add("SUPPORT", "suspended_ticket", 1, arrived);
        else if (!(await unit(() => deleteSuspended(s.id, ctx), suspendedNote({ id: s.id, arrived: arrived.getTime() })))) return { erased: units.erased, ...keptOf(), ...residual.outcome() };
      }
      if (!found) {
        ctx.logger.info({ connector: name }, "no Zendesk user for the subject: nothing (more) to erase");
        return { erased: units.erased, ...keptOf(), ...residual.outcome() };
      }
      // A soft-deleted user goes through the same pass: deleting a user (by hand, in Zendesk) leaves
      // their tickets, and so does deleting them for good. After a run of ours that stopped past the
      // soft delete, the pass finds nothing left and only the permanent delete remains.
      const { user } = found;

      const kept = new KeptTally();
      /** Records of closed tickets they stay CC'd on: erased with the user, or kept with it. */
      let withUser = 0;
      /** The kept threads found only through the search (commenter): a search again after searchLagMs leaves them out. */
      const keptCommenter: number[] = [];
      const proven = senderAddresses(ids.email, identities).proven;
      const sideRead = sideSearch(ctx);
      for await (const { ticket, role } of ticketsOf(user.id, "erase", ctx)) {
        // The subject's comments on the thread (off one they requested, their own), and how many are other people's.
        const others = { count: 0 };
        const forRequester = new Set<number>();
        const theirs = await theirComments(ticket, role, user.id, "erase", ctx, others, forRequester);
        if (!theirs) continue;
        const side = await sideMessageCount(client, ticket, user.id, proven, ctx, sideRead);
        const lastActivity = new Date(ticket.updated_at);
        if (since !== undefined && lastActivity.getTime() >= since) {
          // The whole thread is kept, every record of it from its last activity (the counting rule).
          if (role === "commenter") keptCommenter.push(ticket.id);
          kept.add("SUPPORT", "ticket", 1, lastActivity);
          kept.add("SUPPORT", "side_conversation_message", side, lastActivity);
          for (const c of theirs) {
            kept.add("SUPPORT", "comment", 1, lastActivity);
            kept.add("SUPPORT", "attachment", liveAttachments(c).length, lastActivity);
          }
          continue;
        }
        if (role === "requester" && !sharedThread(role, others.count)) {
          // Both steps of a thread's deletion are one unit: a hold never finds it half deleted.
          // Their side conversation messages go with the ticket.
          const records = theirs.reduce((n, c) => n + 1 + liveAttachments(c).length, 1 + side);
          await unit(() => deleteThread(ticket, records, ctx), `ticket:${ticket.id}:${records}`);
        } else {
          // Another person's words are on the thread: it is not deleted (that would erase their data
          // too), the subject's own comments are redacted, each with its attachments, in one unit. On a
          // thread they requested the rest of their records (the ticket, the staff's replies) remains
          // for the other person, residual; off one they were only CC'd on they leave the CCs, and the
          // ticket stops leading to them (counted by that removal, whose note lets a next attempt count
          // a removal whose answer was lost).
          // On a thread found only through their comments, the ticket record (that they wrote there) goes
          // with the last of them: redacted, the thread no longer leads to them (theirComments).
          // What they wrote there as staff is the requester's communication too: it stays for that person
          // (STAFF_REPLY_REASON), and with none of theirs redacted, so does the thread's record of them.
          const redactable = (c: WireComment) => c.author_id === user.id && !forRequester.has(c.id);
          const last = theirs.filter(redactable).at(-1);
          for (const c of theirs) {
            if (redactable(c)) await redactNoted(units, ticket, c, role === "commenter" && c === last ? 1 : 0, ctx);
            else if (forRequester.has(c.id)) {
              residual.addStaff("comment", 1);
              residual.addStaff("attachment", liveAttachments(c).length);
            } else {
              residual.add("comment", 1);
              residual.add("attachment", liveAttachments(c).length);
            }
          }
          if (role === "commenter" && !last) residual.addStaff("ticket", 1);
          residual.add("side_conversation_message", side);
          if (role === "requester") residual.add("ticket", 1);
          // A closed ticket takes no update (Zendesk answers 422): they stay on its CCs, and the ticket
          // record (that they were on it) goes with their user, or stays with it.
          else if (role === "cc" && isClosed(ticket)) withUser += 1;
          else if (role === "cc") {
            // Still listed after the update (Zendesk kept them on a list): not erased; the ticket's record of them goes with the user, as a closed one's.
            await unit(async () => ((await leaveTicket(ticket.id, user.id, ctx)) ? 1 : ((withUser += 1), 0)), ccNote({ ticket: ticket.id, user: user.id, records: 1 }));
          }
        }
        if (units.withdrawn) return { erased: units.erased, ...keptOf(), ...residual.outcome() };
        await ctx.heartbeat();
      }

      if (!kept.empty) {
        // The user stays, and the closed tickets they are CC'd on with it, dated like it (inseparable).
        kept.add("SUPPORT", "ticket", withUser, kept.newest()!);
        kept.add("SUPPORT", "user", 1, kept.newest()!);
        ctx.logger.info({ connector: name, erased: units.erased, kept: kept.list().map((k) => `${k.type}:${k.count}`).join(",") }, "zendesk records kept for retention; the user stays with them");
        // What they wrote minutes ago on threads they neither requested nor are CC'd on may not show in the search
        // yet: searched again after searchLagMs (poll), and counted kept (or redacted) then. The user stays.
        const remote = o.searchLagMs > 0 ? { remote: { reference: `kept:${user.id}:${since}:${keptCommenter.join(",")}`, pollAfterMs: o.searchLagMs, pending: KEPT_SEARCHED_AGAIN(o.searchLagMs), revocable: true } } : {};
        return { erased: units.erased, ...keptOf(kept), ...residual.outcome(), ...remote };
      }
      if (o.searchLagMs > 0) {
        // Zendesk's search may not show yet what they wrote minutes ago on someone else's ticket: the user is
        // soft-deleted now (nothing more is written as them), and poll searches again once the index has
        // caught up, then deletes them for good. No note: a restart finds the soft-deleted user and comes here again.
        await unit(async () => {
          if (found.state === "active" && (await client.send("DELETE", `users/${user.id}.json`, "erase", ctx)).status === 404) ctx.logger.info({ connector: name }, "the user was soft-deleted meanwhile");
          return 0;
        });
        if (units.withdrawn) return { erased: units.erased, ...keptOf(), ...residual.outcome() };
        const remote = { reference: `commenter:${user.id}:${withUser}:${since ?? ""}`, pollAfterMs: o.searchLagMs, pending: SEARCHED_AGAIN(o.searchLagMs), revocable: true };
        return { erased: units.erased, ...keptOf(), ...residual.outcome(), remote };
      }
      // The note names the user, and counts what stays on shared threads: a restart after the soft
      // delete finishes it by id, and names that residue without finding the user (see above). The user
      // gone for good, the unit leaves a residue note: an attempt that takes over after a death before the
      // task completed finds neither the user nor the threads through them, and names that residue from it.
      let gone = false;
      await unit(async () => {
        if (found.state === "active") {
          const { status } = await client.send("DELETE", `users/${user.id}.json`, "erase", ctx);
          if (status === 404) ctx.logger.info({ connector: name }, "the user was soft-deleted meanwhile");
        }
        // Deleted for good, the user takes with it what the closed tickets still said of them (their CC names no one).
        const n = await deletePermanently(user.id, ctx);
        gone = n > 0;
        return n ? n + withUser : 0;
      }, userNote({ user: user.id, withUser, ...residual.noted() }), () => (gone ? residueLeft(residual) : []));
      ctx.logger.info({ connector: name, erased: units.erased }, "zendesk erasure done");
      return { erased: units.erased, ...keptOf(), ...residual.outcome() };
    },

    /**
     * After searchLagMs (see erase): the tickets the soft-deleted user wrote on, searched again; their
     * comments there not yet redacted are redacted (kept whole with their thread under the retention rule,
     * the user then kept with them), then the user is deleted for good, taking the closed tickets' CCs.
     */
    async poll(reference, ctx) {
      // `kept:`: the erase kept threads, and the user with them (not soft-deleted); the threads it counted through the search are listed.
      const keptRef = /^kept:(\d{1,15}):(\d{1,16}):([\d,]*)$/.exec(reference);
      const ref = keptRef ? undefined : /^commenter:(\d{1,15}):(\d{1,9}):(\d{0,16})$/.exec(reference);
      if (!ref && !keptRef) throw new ConnectorError(`${name}: a remote reference this connector did not give (${reference.slice(0, 40)})`, `unknown reference ${reference.slice(0, 40)}`, false);
      const userId = Number((keptRef ?? ref)![1]);
      const [withUser, since] = keptRef ? [0, Number(keptRef[2])] : [Number(ref![2]), ref![3] ? Number(ref![3]) : undefined];
      const counted = new Set((keptRef?.[3] ?? "").split(",").filter(Boolean).map(Number));
      const units = unitsOf(ctx);
      const kept = new KeptTally();
      const residual = new SharedThreadResidue();
      /** The outcome so far: what was kept, and their side conversation messages left on threads that stay. */
      const outcome = () => ({ erased: units.erased, ...(kept.empty ? {} : { kept: kept.list() }), ...residual.outcome() });
      // Redactions an earlier attempt of this poll began: counted once, here (the search below no longer shows them as theirs).
      // The user's permanent delete it began: that attempt searched every thread before it, and its note names what stays
      // there (the user gone, the search would no longer tell their threads or messages): finished by the note, nothing searched again.
      let userNoted = false;
      for (const note of await ctx.unfinishedUnits()) {
        if (carryResidue(note, residual) || (await finishUserNote(units, note, residual, ctx))) userNoted = true;
        else await finishRedaction(units, note, ctx);
      }
      if (userNoted) return outcome();
      // Their side conversation messages on the threads found now, as the erase counts them: by user id, or from an address of theirs Zendesk shows proven.
      const sideRead = sideSearch(ctx);
      let proven: ReadonlySet<string> | undefined;
      const sideOn = async (ticket: WireTicket) => sideMessageCount(client, ticket, userId, (proven ??= senderAddresses(undefined, await identitiesOf(userId, "erase", ctx)).proven), ctx, sideRead);
      for await (const { ticket } of commentedOn(userId, "erase", ctx)) {
        // With the user kept, the erase counted every thread they requested or are CC'd on (listed at once), and those it listed.
        if (keptRef && (counted.has(ticket.id) || ticket.requester_id === userId || listsUser(ticket, userId))) continue;
        const forRequester = new Set<number>();
        const theirs = await theirComments(ticket, "commenter", userId, "erase", ctx, undefined, forRequester);
        // What they wrote as staff stays for the requester, unredacted, so the search finds those threads
        // again: the erase named them residual already (one written in the minutes before it, on a thread the
        // search did not show it yet, stays too, unnamed).
        if (!theirs || theirs.every((c) => forRequester.has(c.id))) continue;
        const side = await sideOn(ticket);
        const lastActivity = new Date(ticket.updated_at);
        if (since !== undefined && lastActivity.getTime() >= since) {
          // A thread the erase did not see is kept whole here, its record too (the erase counts those it saw).
          if (keptRef) kept.add("SUPPORT", "ticket", 1, lastActivity);
          kept.add("SUPPORT", "comment", theirs.length, lastActivity);
          kept.add("SUPPORT", "attachment", theirs.reduce((n, c) => n + liveAttachments(c).length, 0), lastActivity);
          kept.add("SUPPORT", "side_conversation_message", side, lastActivity);
          continue;
        }
        // Their comments and attachments are counted; the thread's record is not (erase may have counted it, leaving the CCs).
        for (const c of theirs) if (!forRequester.has(c.id)) await redactNoted(units, ticket, c, 0, ctx);
        // The thread stays (someone else's): Zendesk cannot redact its side conversation messages.
        residual.add("side_conversation_message", side);
        if (units.withdrawn) return outcome();
        await ctx.heartbeat();
      }
      // The user was kept (and counted) by the erase, with what it saw.
      if (keptRef) return outcome();
      if (!kept.empty) {
        kept.add("SUPPORT", "ticket", withUser, kept.newest()!);
        kept.add("SUPPORT", "user", 1, kept.newest()!);
        return outcome();
      }
      // The note counts what stays on the threads searched above, for a retry after the delete (finishUserNote).
      let gone = false;
      await units.unit(
        async () => {
          const n = await finishUser(userId, ctx);
          gone = n > 0;
          return n ? n + withUser : 0;
        },
        userNote({ user: userId, withUser, ...residual.noted() }),
        () => (gone ? residueLeft(residual) : []),
      );
      return outcome();
    },

    // Everyone collect would find, each once (roster.ts): a breach roster of the helpdesk.
    listSubjects: (ctx) => listZendeskSubjects(client, { name, suspendedScanLimit: o.suspendedScanLimit }, (email, c) => userByEmail(email, "roster", c), ctx),

    close: () => client.close(),
  };
}
