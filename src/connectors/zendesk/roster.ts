import { emailSpellings, normalizeEmail } from "../../domain/identities";
import type { RosterContext, RosterEntry } from "../sdk";
import type { ZendeskClient } from "./client";
import type { WireUser } from "./records";

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
 * - Soft-deleted users (active false; Zendesk lists them under deleted_users, not users) are left out:
 *   collect shows nothing for them. Our erasure soft-deletes a user only after everything collect found
 *   was erased. A user someone soft-deleted by hand keeps their tickets until the permanent delete, and
 *   collect does not reach those either; the roster says what collect would hand the person, no more.
 * - One entry per user, never one per email identity: an entry per address would list the person several
 *   times. The primary address (the one Zendesk writes to) goes on it, read from the user without a call
 *   per user. Collect also finds a user by a secondary address; a subject who carries their
 *   ticketingUserId, as the orchestrator passes it, matches the entry by the id whichever address they
 *   gave. Someone other systems know only by a secondary address may be listed twice in a roster (here,
 *   and there by that address): counted twice rather than missed.
 * - No phone: collect never finds anyone by it, and people share phones.
 * - No `records`: counting them is a whole collect per person (every ticket's comments), not a listing.
 *
 * An address can be spelt two ways that normalize alike (an internationalised domain in Unicode or in
 * ASCII), so two users may hold what is one address in matching form. Such an address goes on the entry
 * of the user collect finds by it, and the other is listed by id alone: no two entries share it.
 */
export async function* listZendeskSubjects(client: ZendeskClient, name: string, findByEmail: FindByEmail, ctx: RosterContext): AsyncGenerator<RosterEntry> {
  const counts = { listed: 0, withoutEmail: 0, inactive: 0 };
  for await (const user of client.list<WireUser>("users.json", "users", "roster", ctx)) {
    if (!user.active) {
      counts.inactive += 1;
      continue;
    }
    const email = user.email ? normalizeEmail(user.email) : undefined;
    const spelledTwoWays = email !== undefined && (emailSpellings(email).length > 1 || email !== user.email!.toLowerCase());
    const owns = email !== undefined && (!spelledTwoWays || (await findByEmail(email, ctx))?.id === user.id);
    if (!owns) counts.withoutEmail += 1;
    counts.listed += 1;
    yield { identities: { ticketingUserId: String(user.id), ...(owns ? { email } : {}) } };
  }
  ctx.logger.info({ connector: name, ...counts }, "zendesk users listed for a roster");
}
