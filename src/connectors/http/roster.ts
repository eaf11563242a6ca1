import { emailProblem, normalizeEmail, normalizeIdentity, normalizePhone } from "../../domain/identities";
import type { RosterContext, RosterEntry } from "../sdk";
import type { HttpRosterConfig } from "./config";
import { pick } from "./pick";

/**
 * An identity of an item in matching form: undefined when the item holds none there, null when it holds
 * something no request could ever match (an email emailProblem refuses, a phone libphonenumber cannot
 * read in international form, an object) or that cannot be read exactly (a JSON number past 2^53, read
 * rounded to another value): such a value would only mislead whoever reads the roster. An email or a
 * phone is normalized as requests' are; any other kind (a user id, a customer id) is listed exactly as
 * the system holds it, not trimmed, not NFC (as the SQL and auth-log rosters list theirs): `usr_a `
 * trimmed named `usr_a`, another account (or none), which collect of that line then reached instead.
 */
function identityOf(kind: string, raw: unknown): string | null | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw !== "string" && typeof raw !== "number") return null;
  // A whole number past 2^53 was rounded when the answer was read: it is someone else's (1234567890123456789 reads as ...800).
  if (typeof raw === "number" && Number.isInteger(raw) && !Number.isSafeInteger(raw)) return null;
  const exact = String(raw);
  if (exact.trim() === "") return undefined;
  // The normalization requests get (src/domain/identities.ts), so a listed person matches a subject.
  if (kind === "email") return emailProblem(exact.trim()) ? null : normalizeEmail(exact);
  if (kind === "phone") return normalizePhone(exact.trim());
  return normalizeIdentity(kind, exact);
}

/**
 * The declarative HTTP connector's breach roster: one entry per item of the `roster` listing that holds
 * at least one identity, by the kinds `roster.identities` maps, in matching form.
 *
 * - No two entries share a kind and value, which a stable listing order would not give: the repeats
 *   are in the data, not the paging. A system may hold two accounts under one address (collect treats
 *   them as one person), or one address spelt twice (`Ada@X.com` and `ada@x.com`; an internationalised
 *   domain in Unicode and in ASCII). So the identities already listed are kept in a Set, for this and
 *   nothing else, as `kind:value` strings: about 90 bytes per identity (measured: 178 MB for a
 *   million people with an email and a phone), less than the roster's joining holds for them.
 * - An item whose identities were all listed already is a repeat and is left out. One that adds an
 *   identity (the second account under an address, with its own phone) is listed with the new ones
 *   only: listed twice rather than have that identity missed, as the Zendesk roster does.
 * - `records` comes from `recordsField`, given only when it is a positive whole number and the entry
 *   is the person's first, plus one for the account itself when collect yields it (`accountIsRecord`,
 *   from subject.account). A count of 0 leaves the person out: collect finds nothing of them (an erased
 *   person must no longer be listed). A repeat's records are not added to the entry already handed
 *   over, so that count is short: a warning says so.
 * - Only counts are logged, never a value.
 */
export async function* listHttpSubjects(name: string, roster: HttpRosterConfig, items: AsyncIterable<Record<string, unknown>>, ctx: RosterContext, accountIsRecord = false): AsyncGenerator<RosterEntry> {
  const kinds = Object.entries(roster.identities);
  const listed = new Set<string>();
  const tally = { items: 0, listed: 0, withoutIdentity: 0, unreadableIdentities: 0, repeated: 0, withoutRecords: 0, uncounted: 0 };
  for await (const item of items) {
    tally.items += 1;
    const identities: Record<string, string> = {};
    let held = 0;
    for (const [kind, field] of kinds) {
      const value = identityOf(kind, pick(item, field));
      if (value === null) tally.unreadableIdentities += 1;
      if (!value) continue;
      held += 1;
      if (!listed.has(`${kind}:${value}`)) identities[kind] = value;
    }
    const fresh = Object.keys(identities).length;
    if (held === 0) {
      tally.withoutIdentity += 1;
      continue;
    }
    if (fresh < held) tally.repeated += 1;
    if (fresh === 0) continue;
    let records: number | undefined;
    if (roster.recordsField) {
      const counted = pick(item, roster.recordsField);
      // The account itself is one more record of the person's when collect yields it (subject.account).
      const n = accountIsRecord && Number.isInteger(counted) ? (counted as number) + 1 : counted;
      if (n === 0) {
        tally.withoutRecords += 1;
        continue;
      }
      if (Number.isInteger(n) && (n as number) > 0) records = fresh === held ? (n as number) : undefined;
      else tally.uncounted += 1;
    }
    for (const [kind, value] of Object.entries(identities)) listed.add(`${kind}:${value}`);
    tally.listed += 1;
    yield records === undefined ? { identities } : { identities, records };
  }
  ctx.logger.info({ connector: name, ...tally }, "http listing read for a roster");
  if (roster.recordsField && tally.repeated > 0) {
    ctx.logger.warn({ connector: name, repeated: tally.repeated }, "people listed by more than one item: their roster record counts hold the first item's only");
  }
}
