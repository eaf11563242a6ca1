import type { CountryCode } from "libphonenumber-js";
import { emailCaseSpellings, normalizeIdentity, phoneSpellings } from "../../domain/identities";
import type { IdentityLookup } from "./statements";

/**
 * How the connector finds a subject's rows by one identity, whatever case or spelling the database
 * stored it in: the lookup's spellings go to the database (an index-served IN), and `confirms` keeps
 * only rows whose stored value normalizes to one of the subject's values (src/domain/identities.ts).
 * - email: the address and its upper-case form, compared case-insensitively (IDENTITY_MATCH), and
 *   with an internationalised domain the same two of its ASCII spelling (emailCaseSpellings); each
 *   also with a space before, after, or both (a form that did not trim: the person is the same);
 * - phone: the usual spellings of the E.164 number (international, national for numbers of the
 *   configured country, bare digits), each compared exactly;
 * - anything else: the value itself, exactly.
 */
export interface IdentityMatcher {
  lookup: IdentityLookup;
  /** Whether a row's stored identity is one of the subject's. */
  confirms(stored: unknown): boolean;
}

export function identityMatcher(kind: string, values: readonly string[], defaultCountry?: CountryCode): IdentityMatcher {
  const wanted = new Set(values.map((v) => normalizeIdentity(kind, v, defaultCountry)));
  const spellings =
    kind === "email"
      ? [...wanted].flatMap((v) => emailCaseSpellings(v)).flatMap((v) => [v, ` ${v}`, `${v} `, ` ${v} `])
      : kind === "phone"
        ? [...wanted].flatMap((v) => phoneSpellings(v, defaultCountry))
        : [...wanted];
  return {
    lookup: { spellings: [...new Set(spellings)], caseless: kind === "email" },
    confirms: (stored) => stored !== null && stored !== undefined && wanted.has(normalizeIdentity(kind, String(stored), defaultCountry)),
  };
}
