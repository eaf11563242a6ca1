import type { CountryCode } from "libphonenumber-js";
import { emailCaseSpellings, emailSpellings, foldedCaseSpellings, normalizeIdentity, phoneSpellings } from "../../domain/identities";
import { jsonValue } from "./records";
import type { IdentityLookup } from "./statements";

/**
 * How the connector finds a subject's rows by one identity, whatever case or spelling the database
 * stored it in: the lookup's spellings go to the database (an index-served IN), and `confirms` keeps
 * only rows whose stored value normalizes to one of the subject's values (src/domain/identities.ts).
 * - email: the address and its upper-case form, compared case-insensitively (IDENTITY_MATCH), and
 *   with an internationalised domain the same two of its ASCII spelling (emailCaseSpellings); and,
 *   as SQLite's NOCASE and PostgreSQL's lower() under the C collation fold ASCII letters only, each
 *   letter outside ASCII in both cases (foldedCaseSpellings: `Éléonore.Dupont@Example.fr` as typed);
 *   each also with a space before, after, or both (a form that did not trim: the person is the same);
 * - phone: the usual spellings of the E.164 number (international, national for numbers of the
 *   configured country, bare digits), each compared exactly;
 * - anything else (user ids, customer ids): the value itself, exactly, as the column stores it: not
 *   trimmed, not NFC (identityForm). `usr_a ` is another account than `usr_a`; trimmed, the one found
 *   by `usr_a ` was looked up as `usr_a` (another person's rows, or none of theirs).
 */
export interface IdentityMatcher {
  lookup: IdentityLookup;
  /**
   * False when an address has more letters outside ASCII than every mix of their case can be asked
   * for (foldedCaseSpellings): a look-up folding ASCII only may then pass by a spelling of it.
   */
  everyCase: boolean;
  /** Whether a row's stored identity is one of the subject's. */
  confirms(stored: unknown): boolean;
}

/**
 * The form the connector compares and carries one identity in: an email or phone normalized
 * (normalizeIdentity), any other kind exactly as stored (a number or big integer as its digits); ""
 * for a value that is nobody's (NULL, or only white space).
 */
export function identityForm(kind: string, stored: unknown, defaultCountry?: CountryCode): string {
  if (stored === null || stored === undefined) return "";
  const text = String(jsonValue(stored));
  if (text.trim() === "") return "";
  return normalizeIdentity(kind, text, defaultCountry);
}

export function identityMatcher(kind: string, values: readonly string[], defaultCountry?: CountryCode): IdentityMatcher {
  const wanted = new Set(values.map((v) => identityForm(kind, v, defaultCountry)).filter((v) => v !== ""));
  const folded = kind === "email" ? [...wanted].flatMap((v) => emailSpellings(v)).map(foldedCaseSpellings) : [];
  const spellings =
    kind === "email"
      ? [...new Set([...[...wanted].flatMap((v) => emailCaseSpellings(v)), ...folded.flatMap((f) => f.spellings)])].flatMap((v) => [v, ` ${v}`, `${v} `, ` ${v} `])
      : kind === "phone"
        ? [...wanted].flatMap((v) => phoneSpellings(v, defaultCountry))
        : [...wanted];
  return {
    lookup: { spellings: [...new Set(spellings)], caseless: kind === "email" },
    everyCase: folded.every((f) => f.complete),
    confirms: (stored) => wanted.has(identityForm(kind, stored, defaultCountry)),
  };
}
