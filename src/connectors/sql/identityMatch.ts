import type { CountryCode } from "libphonenumber-js";
import { emailCaseSpellings, emailSpellings, foldedCaseSpellings, normalizeIdentity, phoneSpellings } from "../../domain/identities";
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
 * - anything else: the value itself, exactly.
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

export function identityMatcher(kind: string, values: readonly string[], defaultCountry?: CountryCode): IdentityMatcher {
  const wanted = new Set(values.map((v) => normalizeIdentity(kind, v, defaultCountry)));
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
    confirms: (stored) => stored !== null && stored !== undefined && wanted.has(normalizeIdentity(kind, String(stored), defaultCountry)),
  };
}
