import { normalizeUserId } from "../../domain/identities";
import type { RosterEntry } from "../sdk";
import { CUSTOMER_LISTS, customerEmailOf, GuestFoundKind, guestEmailOf, isRedacted, ListKind, personalFields, StripeThing, typedEmailOf, deletedCustomerOf } from "./records";

/** What the roster reads of a Stripe account: streams of one page in memory at a time. */
export interface RosterSource {
  /** Every live customer, newest first (Stripe's list leaves deleted customers out). */
  customers(): AsyncIterable<StripeThing>;
  /** Every object of one kind in the account, customers' and guests' alike, each with its customer expanded (a deleted one as Stripe's `{ deleted: true }` stub). */
  everyOne(kind: GuestFoundKind): AsyncIterable<StripeThing>;
  /** One of a customer's lists. */
  list(kind: ListKind, customer: string): AsyncIterable<StripeThing>;
  /** A charge's disputes (none unless the charge says it was disputed). */
  disputes(charge: StripeThing): AsyncIterable<StripeThing>;
  /** Keeps the roster job's lease between look-ups that fetch no next page. */
  heartbeat(): Promise<void>;
}

/** How many people the roster listed, by how they were found (for the log: counts only). */
export interface RosterCounts {
  customers: number;
  /** Customers listed by id alone: no email, but personal data in them or in their records. */
  customersWithoutEmail: number;
  guests: number;
  /** Customers deleted (by hand) whose charges or Checkout Sessions still hold personal data. */
  deletedCustomers: number;
}

/** The guests' objects collect finds by email, in the order listed (a guest's PaymentIntents and disputes are found through these). */
const GUEST_FOUND: readonly GuestFoundKind[] = ["charge", "checkout_session"];

/**
 * Whether a customer without a personal field of its own still leads to personal data: a record
 * collect yields under it (not redacted) holding a personal field, or a dispute of one of its charges
 * whose evidence names someone. Stops at the first such record.
 */
async function leadsToPersonalData(customer: StripeThing, source: RosterSource): Promise<boolean> {
  for (const kind of CUSTOMER_LISTS) {
    for await (const item of source.list(kind, customer.id)) {
      if (kind === "charge") for await (const dispute of source.disputes(item)) if (personalFields("dispute", dispute).length) return true;
      if (!isRedacted(kind, item) && personalFields(kind, item).length) return true;
    }
  }
  return false;
}

/**
 * Everyone the account holds personal data about, each once, in the identities collect finds them by
 * (needs paymentCustomerId or email, either enough):
 * - a customer with an email: `{ paymentCustomerId, email }`. Collect asked for that email finds every
 *   customer with it (a guest checkout makes one each time) and every guest payment made with it, so
 *   those are the same person: the newest such customer gives the id, the others are not listed again.
 * - with `accountMetadataKey`, a customer the platform tagged with a user id is that account's
 *   (collect reads it only for that user): `{ paymentCustomerId, userId }`, joined to the account by
 *   its user id, never by the address typed into it (which may be anyone's: joining by it made two
 *   people one). The address, still data the account holds about whoever owns it, is listed on its
 *   own (`{ email }`, once): its owner is reached, as nobody's customer.
 * - a customer with no email (or a redacted one): `{ paymentCustomerId }` (and the tag's userId), only
 *   while it or a record under it still holds a personal field. Deleted customers are not in Stripe's list.
 * - a guest (a charge's billing email or a Checkout Session's customer email, with no customer, not
 *   redacted) whose address no customer has: `{ email }`. Their PaymentIntents and disputes are found
 *   through those objects, so they add nobody.
 * `records` is left out: counting as collect does would read every list of every customer.
 *
 * Memory: the addresses already listed are kept (in matching form) to list each person once, since
 * one address can turn up anywhere in Stripe's lists (they run by creation, newest first): one entry
 * per distinct address in the account, under 100 bytes each (77 measured for a million addresses of 35
 * characters: about 80 MB).
 * Nothing else outlives its page.
 */
export async function* rosterOf(source: RosterSource, accountMetadataKey?: string): AsyncGenerator<RosterEntry, RosterCounts> {
  const listed = new Set<string>();
  const counts: RosterCounts = { customers: 0, customersWithoutEmail: 0, guests: 0, deletedCustomers: 0 };
  const deleted = new Set<string>();
  for await (const customer of source.customers()) {
    if (customer.deleted) continue;
    const email = customerEmailOf(customer);
    const tag = accountMetadataKey ? accountTag(customer, accountMetadataKey) : null;
    if (email && !tag) {
      if (listed.has(email)) continue;
      listed.add(email);
      counts.customers += 1;
      yield { identities: { paymentCustomerId: customer.id, email } };
      continue;
    }
    if (email && !listed.has(email)) {
      listed.add(email);
      yield { identities: { email } };
    }
    let held = !!email || personalFields("customer", customer).length > 0;
    if (!held) {
      held = await leadsToPersonalData(customer, source);
      await source.heartbeat();
    }
    if (held) {
      if (email) counts.customers += 1;
      else counts.customersWithoutEmail += 1;
      yield { identities: tag ? { paymentCustomerId: customer.id, userId: tag } : { paymentCustomerId: customer.id } };
    }
  }
  for (const kind of GUEST_FOUND) {
    for await (const item of source.everyOne(kind)) {
      const gone = deletedCustomerOf(item);
      if (gone) {
        if (deleted.has(gone) || isRedacted(kind, item) || !personalFields(kind, item).length) continue;
        deleted.add(gone);
        counts.deletedCustomers += 1;
        const typed = typedEmailOf(kind, item);
        const email = typed && !listed.has(typed) ? typed : undefined;
        if (email) listed.add(email);
        yield { identities: { paymentCustomerId: gone, ...(email ? { email } : {}) } };
        continue;
      }
      const email = guestEmailOf(kind, item);
      if (!email || listed.has(email)) continue;
      listed.add(email);
      counts.guests += 1;
      yield { identities: { email } };
    }
  }
  return counts;
}

/** The user id the platform tagged a customer with (metadata[key]), in matching form; null when untagged. */
export function accountTag(customer: StripeThing, key: string): string | null {
  const tag = (customer.metadata as Record<string, unknown> | null | undefined)?.[key];
  return typeof tag === "string" && tag.trim() !== "" ? normalizeUserId(tag) : null;
}
