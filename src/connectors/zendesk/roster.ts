import { emailSpellings, normalizeEmail } from "../../domain/identities";
import type { RosterContext, RosterEntry } from "../sdk";
import type { ZendeskClient } from "./client";
import type { WireUser } from "./records";
import { suspendedQueue } from "./suspendedQueue";

/** The user collect finds by an address (the connector's search, primary or secondary identity), if any. */
export type FindByEmail = (email: string, ctx: RosterContext) => Promise<WireUser | undefined>;

/**
 * The breach roster of a Zendesk account: one entry per user collect would find, by their Zendesk id
 * (`ticketingUserId`) and their primary email in matching form. It mirrors how collect finds a person:
 *
 * - Every role is listed, agents and admins too. Collect does not look at the role: the id or address
 *   of an agent leads to their user like anyone's, and collect yields their profile and the tickets they
 *   requested or were CC'd on. Helpdesk staff are people whose data a breach of Zendesk exposes, so
 *   users.json is read without a role filter.
 * - Soft-deleted users are listed too, as collect finds them: Zendesk keeps their profile and tickets
 *   until the permanent delete (an agent may delete a user by hand and leave it there). They are read
 *   from deleted_users after the live ones. That list also holds users deleted for good, with nothing
 *   personal left (email and phone null, the name "Permanently Deleted User"): those are left out, and
 *   one without an email whose name is not that yet (Zendesk renames them a while later) is confirmed by
 *   deleted_users/{id}, which answers only for soft-deleted users.
 * - One entry per user, never one per email identity: an entry per address would list the person several
 *   times. The primary address (the one Zendesk writes to) goes on it, read from the user without a call
 *   per user. Collect also finds a user by a secondary address; a subject who carries their
 *   ticketingUserId, as the orchestrator passes it, matches the entry by the id whichever address they
 *   gave. Someone other systems know only by a secondary address may be listed twice in a roster (here,
 *   and there by that address): counted twice rather than missed.
 * - A user Zendesk shows with no verified identity (`verified: false`), live or soft-deleted, is listed
 *   by id alone: collect finds no one by an unverified address, which may be someone else's (an agent
 *   typed it in). A user
 *   with a verified secondary identity and an unverified primary one still gets the primary address:
 *   telling those apart takes a call per user (their identities), which a listing does not make.
 * - No phone: collect never finds anyone by it, and people share phones.
 * - No `records`: counting them is a whole collect per person (every ticket's comments), not a listing.
 * - The senders of suspended tickets (held-back emails: an address, a name and the text, no user) whose
 *   address no listed user holds, by that address, with how many suspended tickets each sent. The queue
 *   is read as collect reads it, up to suspendedScanLimit emails: the senders of the rest are not listed,
 *   and the roster is told so (ctx.notListed), as collect names them not searched. A sender whose
 *   address is on a listed user's entry costs no call; nor does one whose mail Zendesk tied to no user
 *   (author.id null: no user held the address when it came). The rest are searched for, one call each
 *   (the user search takes one address). A user made with such an address after its mail came is listed
 *   and the address too: counted twice rather than missed.
 *
 * An address can be spelt two ways that normalize alike (an internationalised domain in Unicode or in
 * ASCII), so two users may hold what is one address in matching form. Such an address goes on the entry
 * of the user the search finds first by it, and the other is listed by id alone: no two entries share it
 * (collect refuses such a subject rather than follow one of the two). A
 * soft-deleted user's address is theirs only when no live user has it and no soft-deleted user listed
 * before them does (collect looks among live users first, then down deleted_users in order).
 */
export async function* listZendeskSubjects(client: ZendeskClient, o: { name: string; suspendedScanLimit: number }, findByEmail: FindByEmail, ctx: RosterContext): AsyncGenerator<RosterEntry> {
  const { name } = o;
  const counts = { listed: 0, withoutEmail: 0, softDeleted: 0, deletedForGood: 0, suspendedSenders: 0 };
  const entry = (user: WireUser, owns: boolean): RosterEntry => {
    counts.listed += 1;
    if (!owns) counts.withoutEmail += 1;
    return { identities: { ticketingUserId: String(user.id), ...(owns ? { email: normalizeEmail(user.email!) } : {}) } };
  };
  // The senders of suspended tickets (emails Zendesk held back, which no user holds), by address, with
  // how many each sent (what collect yields for them), read first: a sender whose address a listed user
  // holds is theirs already. At most suspendedScanLimit emails are read, so their senders fit in memory.
  // `known`: Zendesk tied some of the mail to a user (author.id), as it does when a user holds the From
  // address; mail it tied to no one came from an address no user held when it arrived.
  const senders = new Map<string, { records: number; known: boolean }>();
  const beyond = () => ctx.notListed?.(SENDERS_BEYOND_SCAN(o.suspendedScanLimit));
  for await (const s of suspendedQueue(client, "roster", ctx, o.suspendedScanLimit, beyond)) {
    if (typeof s.author?.email !== "string" || !s.author.email.includes("@")) continue;
    const email = normalizeEmail(s.author.email);
    const sender = senders.get(email) ?? { records: 0, known: false };
    sender.records += 1;
    sender.known ||= typeof s.author.id === "number";
    senders.set(email, sender);
  }
  for await (const user of client.list<WireUser>("users.json", "users", "roster", ctx)) {
    if (!user.active) continue; // listed below, from deleted_users
    // A user none of whose identities is verified (`verified: false`) holds their primary address
    // unproven: collect does not find them by it, and it may be someone else's, so they are listed by id.
    const email = user.email && user.verified !== false ? normalizeEmail(user.email) : undefined;
    const spelledTwoWays = email !== undefined && (emailSpellings(email).length > 1 || email !== user.email!.toLowerCase());
    const owns = email !== undefined && (!spelledTwoWays || (await findByEmail(email, ctx))?.id === user.id);
    // Their mail is on their entry: no sender entry, and no search for it.
    if (owns) senders.delete(email);
    yield entry(user, owns);
  }
  const deletedAddresses = new Set<string>();
  for await (const user of client.list<WireUser>("deleted_users.json", "deleted_users", "roster", ctx)) {
    if (!user.email && (user.name === PERMANENTLY_DELETED || !(await isSoftDeleted(client, user.id, ctx)))) {
      counts.deletedForGood += 1;
      continue;
    }
    counts.softDeleted += 1;
    // As for a live user: no verified identity, no address (collect does not find them by it).
    const email = user.email && user.verified !== false ? normalizeEmail(user.email) : undefined;
    const owns = email !== undefined && !deletedAddresses.has(email) && !(await findByEmail(email, ctx));
    if (email !== undefined) deletedAddresses.add(email);
    yield entry(user, owns);
  }
  // Only mail Zendesk tied to a user is searched for (a user may hold the address as a secondary
  // identity): one search per such sender, none for mail from addresses no user held (spam, mostly).
  for (const [email, { records, known }] of senders) {
    if (deletedAddresses.has(email) || (known && (await findByEmail(email, ctx)))) continue;
    counts.listed += 1;
    counts.suspendedSenders += 1;
    yield { identities: { email }, records };
  }
  ctx.logger.info({ connector: name, ...counts }, "zendesk users listed for a roster");
}

/** What a roster is told it lacks when the held-back queue is longer than suspendedScanLimit. */
export const SENDERS_BEYOND_SCAN = (limit: number) =>
  `the senders of emails Zendesk held back (suspended) past the first ${limit} of its queue, which no helpdesk user holds the address of: only that many were read (each 100 cost a call). Look through the suspended queue in Zendesk for the rest, or raise suspendedScanLimit`;

/** The name deleted_users gives a user deleted for good (email and phone are null then). */
const PERMANENTLY_DELETED = "Permanently Deleted User";

/** True while Zendesk still holds the user as soft-deleted (deleted_users/{id} answers only for those). */
async function isSoftDeleted(client: ZendeskClient, id: number, ctx: RosterContext): Promise<boolean> {
  return (await client.get(`deleted_users/${id}.json`, "roster", ctx, undefined, undefined, { key: "deleted_user" })).status !== 404;
}
