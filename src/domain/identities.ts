import { createHash } from "node:crypto";
import { domainToASCII, domainToUnicode } from "node:url";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";
import { isEmail, ValidateBy, type ValidationOptions } from "class-validator";

/**
 * The one normalization of a subject's identities. Everything that compares identities (submission,
 * account deletion, legal holds, duplicate detection, filters, previews, connectors) goes through here,
 * so two spellings of one person are one person everywhere, and two people are never one.
 *
 * - email: trimmed, NFC, lower-cased over the whole address (as users expect; RFC 5321 allows a
 *   case-sensitive local part, but no mail system in use relies on it), and the domain in its one
 *   IDNA (UTS #46) form, written in Unicode: `ada@XN--BCHER-KVA.de` and `ada@Bücher.de` are both
 *   `ada@bücher.de`, as DNS delivers them to one mailbox. The typed form is kept apart for display and
 *   for sending mail; emailSpellings lists the forms a system may have stored.
 * - phone: E.164 (`+442079460958`) through libphonenumber-js; a number it cannot read, or one with an
 *   extension (a switchboard's, see normalizePhone), is refused.
 * - userId: exactly as given, compared exactly: not trimmed, not NFC, case kept (normalizeUserId).
 * Character-level safety (control, format, bidi characters) is checked where input is validated.
 */

/** The example a refused phone number is shown, in the error message. */
export const PHONE_EXAMPLE = "+44 20 7946 0958";

export const EMAIL_RULE = "an email address such as ada@example.com (letters of any script are fine)";
export const PHONE_RULE = `an international phone number: + and the country code, then the number, e.g. "${PHONE_EXAMPLE}"`;

const nfc = (value: string) => value.trim().normalize("NFC");

/** An address split at its last `@` (the local part may hold one, quoted), or null without a local part. */
function splitAddress(address: string): { local: string; domain: string } | null {
  const at = address.lastIndexOf("@");
  return at < 1 ? null : { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/**
 * The form an email is matched by: trimmed, NFC, lower case, the domain in IDNA's Unicode form. A
 * domain IDNA cannot read (only addresses stored before emailProblem refused them) stays lower-cased.
 */
export function normalizeEmail(raw: string): string {
  const lowered = nfc(raw).toLowerCase().normalize("NFC");
  const parts = splitAddress(lowered);
  const ascii = parts ? domainToASCII(parts.domain) : "";
  const unicode = ascii ? domainToUnicode(ascii) : "";
  return parts && unicode ? `${parts.local}@${unicode.normalize("NFC")}` : lowered;
}

/** A key for a subject that holds no address: SHA-256 (hex) of an email already in matching form (the hold fence's key). */
export const hashedEmailKey = (matchingForm: string): string => createHash("sha256").update(matchingForm).digest("hex");

/**
 * The spellings of an address a system may have stored, in matching form: the address; when its
 * domain is internationalised, the same address with the domain in ASCII (`ada@xn--bcher-kva.de` for
 * `ada@bücher.de`); and when its local part holds accented letters, each of those with the local part
 * decomposed (NFD: `e` and a combining accent for `é`, as some input methods and systems write it; the
 * domain is IDNA's, which composes). Connectors look a person up
 * by each (and confirm every hit with normalizeEmail): systems store any of them, and they are one
 * mailbox. A look-up compares the characters stored, so the composed form alone misses the others.
 */
export function emailSpellings(email: string): string[] {
  const normalized = normalizeEmail(email);
  const parts = splitAddress(normalized);
  const ascii = parts ? domainToASCII(parts.domain) : "";
  const domains = parts ? [...new Set([parts.domain, ...(ascii ? [ascii] : [])])] : [];
  const locals = parts ? [...new Set([parts.local, parts.local.normalize("NFD")])] : [];
  return [...new Set([normalized, ...locals.flatMap((local) => domains.map((domain) => `${local}@${domain}`))])];
}

/**
 * Each of emailSpellings and its upper case (`ADA@XN--BCHER-KVA.DE`, what systems that change case
 * store), for a look-up that compares case: a case-sensitive filter, or a case-insensitive collation
 * that folds ASCII letters only.
 */
export function emailCaseSpellings(email: string): string[] {
  return [...new Set(emailSpellings(email).flatMap((s) => [s, ...capitalSpellings(s)]))];
}

/** `i` and a combining dot above: what the Turkish capital `İ` lower-cases to (two characters, not one). */
const DOTTED_I = "i\u0307";
/** The capital dotted `İ` (U+0130), one character, as a system stores what was typed with it. */
const CAPITAL_DOTTED_I = "\u0130";
/** The capital sharp s `ẞ` (U+1E9E): JavaScript upper-cases `ß` to `SS`, and lower-cases `ẞ` to `ß`. */
const CAPITAL_SHARP_S = "\u1E9E";

/**
 * The upper-case spellings of `spelling` (in matching form) a system may hold: JavaScript's upper case,
 * and that with the letters whose other case is not one character of their own written as people type
 * them: `i̇` (the matching form of the Turkish `İ`) as the one character `İ` (JavaScript's upper case
 * is `I` and a combining dot, which no system that stored `İNCI@` holds), and `ß` as `ẞ` (not `SS`,
 * another person's letters). Without them, `İnci.Yilmaz@` as typed was found by no look-up that compares
 * characters or folds ASCII letters only.
 */
function capitalSpellings(spelling: string): string[] {
  const uppers = [spelling.toUpperCase(), spelling.replaceAll("ß", CAPITAL_SHARP_S).toUpperCase()];
  return [...new Set(uppers.flatMap((u) => [u, u.replaceAll("I\u0307", CAPITAL_DOTTED_I)]))];
}

/**
 * The ways a comparison folding only some letters may hold one unit of a spelling: a letter outside
 * ASCII in both cases; `i̇` as itself and as `İ`; `ß` as itself and as `ẞ`; anything else as it is.
 */
function unitCases(unit: string): string[] {
  if (unit === DOTTED_I) return [DOTTED_I, CAPITAL_DOTTED_I];
  if (unit === "ß") return ["ß", CAPITAL_SHARP_S];
  return otherCased(unit) ? [unit.toLowerCase(), unit.toUpperCase()] : [unit];
}

/**
 * What a lower() that folds every letter one character at a time (PostgreSQL's under a libc collation
 * such as `C.UTF-8` or `en_US.UTF-8`) makes of the address a spelling is a case of: `İ` becomes the
 * plain `i`, and every `Σ` the `σ` (JavaScript's lower case writes a word's last sigma `ς`). Both are
 * other people's letters: a hit by this spelling is confirmed by normalizeEmail, which tells them apart.
 */
const letterByLetterLower = (spelling: string): string => spelling.toLowerCase().replaceAll(DOTTED_I, "i").replaceAll("ς", "σ");

/** Case spellings of one address at most (each spelling of emailSpellings) for a look-up that folds ASCII letters only. */
export const FOLDED_CASE_LIMIT = 256;

/** Whether a character is a letter outside ASCII whose other case is one character (`É`/`é`, `Ł`/`ł`; not `ß`). */
const otherCased = (c: string): boolean =>
  c.charCodeAt(0) > 0x7f && c.toLowerCase() !== c.toUpperCase() && [...c.toLowerCase()].length === 1 && [...c.toUpperCase()].length === 1;

/**
 * The spellings of `spelling` (in matching form) that a comparison folding only ASCII letters tells
 * apart: SQLite's COLLATE NOCASE, PostgreSQL's lower() under the C collation. `Éléonore.Dupont@Example.fr`
 * as typed is neither the lower nor the upper case of the address under them, so each letter outside
 * ASCII is spelled in both cases (ASCII letters stay lower: the comparison folds them, and a lower() of
 * the column leaves them so), and `i̇` and `ß` in each way unitCases lists: every mix, while there
 * are at most FOLDED_CASE_LIMIT, and the one a lower() folding every letter makes (letterByLetterLower).
 * Past it (a long local part in Greek or Cyrillic letters), only the ways people type whole words: each
 * part between `.`, `-`, `_`, `+` and `@` in lower case, upper case or capitalised, and `complete` is
 * false so the caller says it.
 */
export function foldedCaseSpellings(spelling: string): { spellings: string[]; complete: boolean } {
  const units = spelling.match(/i\u0307|./gsu) ?? [];
  const cases = units.map(unitCases);
  if (cases.reduce((n, w) => n * w.length, 1) <= FOLDED_CASE_LIMIT) {
    let spellings = [""];
    for (const way of cases) spellings = spellings.flatMap((head) => way.map((unit) => head + unit));
    return { spellings: [...new Set([...spellings, letterByLetterLower(spelling)])], complete: true };
  }
  const parts = spelling.split(/([.\-_+@])/);
  const ways = (part: string) => (/^[.\-_+@]$/.test(part) ? [part] : [...new Set([part.toLowerCase(), part.toUpperCase(), part.charAt(0).toUpperCase() + part.slice(1).toLowerCase()])]);
  let spellings = [""];
  for (const part of parts) {
    const next = spellings.flatMap((head) => ways(part).map((way) => head + way));
    spellings = next.length <= FOLDED_CASE_LIMIT ? next : spellings.map((head) => head + part);
  }
  // The comparison folds ASCII letters itself; spelled in lower case, they suit a lower() of the column too.
  const asciiLower = (value: string) => value.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const irregular = units.flatMap((unit) => (unit === DOTTED_I || unit === "ß" ? [unit] : []));
  const alike = (s: string) => (irregular.length ? [s, ...capitalSpellings(s)] : [s]);
  return { spellings: [...new Set([...[...spellings, spelling, spelling.toUpperCase()].flatMap(alike).map(asciiLower), letterByLetterLower(spelling)])], complete: false };
}

/**
 * The form a user id is matched by: the id itself, exactly. Systems store and compare user ids byte for
 * byte (a DynamoDB partition key, a BINARY column): `usr_a ` (a trailing space) and `usr_a`, or an id
 * in NFD and its NFC form, are other ids there. Trimmed or composed, the id a roster listed or a caller
 * typed reached another account's data (or none), and never its own. A value of spaces only is nobody's
 * (callers treat it as absent).
 */
export function normalizeUserId(raw: string): string {
  return raw;
}

/**
 * A phone number in E.164, or null when libphonenumber-js cannot read it as a possible number.
 * `defaultCountry` reads national forms (`020 7946 0958`) of that country; without it, only international
 * forms (`+44 20 7946 0958`, `+442079460958`) are read.
 */
export function normalizePhone(raw: string, defaultCountry?: CountryCode): string | null {
  const parsed = parsePhoneNumberFromString(nfc(raw), defaultCountry ? { defaultCountry } : undefined);
  // A number with an extension (`+44 20 7946 0958 ext. 12`) is a switchboard's: its E.164 form drops the
  // extension, and would make everyone behind that switchboard one subject. It is no one's number alone.
  return parsed?.isPossible() && !parsed.ext ? parsed.number : null;
}

/** What a phone number's extension (see normalizePhone) asks the person to type instead. */
const PHONE_EXTENSION = "without an extension (a number with one is a switchboard's, shared by everyone behind it)";

/** Why a typed email cannot be a subject's address, or null when it can. Internationalised domains are read as IDNA. */
export function emailProblem(raw: string): string | null {
  const value = nfc(raw);
  const parts = splitAddress(value);
  // The matching form is stored too: IDNA's mapping may lengthen a domain (`㎒` is `mhz`).
  if (!parts || value.length > 254 || normalizeEmail(value).length > 254) return `must be ${EMAIL_RULE}, at most 254 characters`;
  const form = localPartForm(parts.local);
  if (form) return `must be ${EMAIL_RULE}, ${form}`;
  const domain = domainToASCII(parts.domain);
  return domain && isEmail(`${parts.local}@${domain}`) ? null : `must be ${EMAIL_RULE}`;
}

/**
 * What to type instead of a local part no system stores as written, or null. A quoted one
 * (`"ada.lovelace"@example.com`) and one with compatibility characters (fullwidth `ａｄａ`, ligatures,
 * superscripts) look like an address every system holds in plain form, yet match nothing: a request
 * would complete with nobody's data. They are refused with what to type, rather than rewritten (a
 * quoted local part may hold what no plain one can, and fullwidth letters are other characters).
 */
function localPartForm(local: string): string | null {
  if (local.startsWith('"')) return "written without quotes";
  if (local !== local.normalize("NFKC")) return "typed in plain characters (no fullwidth letters, ligatures or other compatibility forms before the @)";
  return null;
}

/** The hint of emailProblem for a local part typed in a form no system stores (see localPartForm), or null. */
export function emailFormHint(raw: string): string | null {
  const parts = splitAddress(nfc(raw));
  return parts ? localPartForm(parts.local) : null;
}

/**
 * Decorator: the property is an email address by emailProblem, the rule the subject's normalization
 * applies. Surrounding spaces are allowed, as the address is trimmed before it is stored or matched (a
 * pasted `ada@example.com ` is Ada), and internationalised domains are read as IDNA.
 */
export function IsEmailAddress(message: string, options: ValidationOptions = {}): PropertyDecorator {
  const hinted = (value: unknown) => {
    const hint = typeof value === "string" ? emailFormHint(value) : null;
    return hint ? `${message}, ${hint}` : message;
  };
  return ValidateBy({ name: "isEmailAddress", validator: { validate: (value: unknown) => typeof value === "string" && emailProblem(value) === null, defaultMessage: (args) => hinted(args?.value) } }, options);
}

/** Why a typed phone number cannot be used, or null when it can. */
export function phoneProblem(raw: string): string | null {
  if (normalizePhone(raw)) return null;
  return parsePhoneNumberFromString(nfc(raw))?.ext ? `must be ${PHONE_RULE}, ${PHONE_EXTENSION}` : `must be ${PHONE_RULE}`;
}

/** The identity kinds a request itself carries. */
export const REQUEST_IDENTITY_KINDS = ["email", "phone", "userId"] as const;
export type RequestIdentityKind = (typeof REQUEST_IDENTITY_KINDS)[number];

/**
 * The matching form of an identity of any kind: email and phone as above (a phone nobody can read stays
 * as it was, trimmed, so it still matches itself exactly); every other kind (a user id, a customer or
 * ticketing id, an external id) exactly as given, as the system holding it compares it (normalizeUserId).
 */
export function normalizeIdentity(kind: string, raw: string, defaultCountry?: CountryCode): string {
  if (kind === "email") return normalizeEmail(raw);
  if (kind === "phone") return normalizePhone(raw, defaultCountry) ?? nfc(raw);
  return normalizeUserId(raw);
}

/** What people put between a number's digit groups. */
const PHONE_SEPARATORS = [" ", "-", "."];

/**
 * Spellings of a phone number that a system may have stored, for exact, index-using lookups; callers
 * confirm each hit with normalizePhone. The digit groups as libphonenumber formats them, joined by a
 * space, a dash or a dot: international (`+44 20 7946 0958`, `+44-20-7946-0958`, `+1 (202) 555-0143`,
 * `+44 (0)20 7946 0958` where the national form starts with a trunk 0), E.164, RFC 3966 and bare
 * digits (`442079460958`, `00442079460958`); and for numbers of `defaultCountry` only (elsewhere they
 * would name another number) national ones (`020 7946 0958`, `020-7946-0958`, `(020) 7946-0958`,
 * `02079460958`). Other groupings (`0207 946 0958`) are not among them.
 */
export function phoneSpellings(e164: string, defaultCountry?: CountryCode): string[] {
  const parsed = parsePhoneNumberFromString(e164);
  if (!parsed) return [e164];
  const cc = `+${parsed.countryCallingCode}`;
  const groups = parsed.format("INTERNATIONAL").split(" ").slice(1);
  const national = parsed.format("NATIONAL").match(/\d+/g) ?? [];
  const trunk = national[0] === `0${groups[0]}`;
  const forms = [parsed.number, parsed.format("RFC3966"), parsed.number.slice(1), `00${parsed.number.slice(1)}`];
  for (const sep of PHONE_SEPARATORS) {
    const rest = groups.slice(1).join(sep);
    forms.push(`${cc}${sep}${groups.join(sep)}`, `${cc} (${groups[0]}) ${rest}`);
    if (trunk) forms.push(`${cc} (0)${groups.join(sep)}`);
  }
  if (defaultCountry && parsed.country === defaultCountry && national.length) {
    forms.push(national.join(""));
    for (const sep of PHONE_SEPARATORS) forms.push(national.join(sep), `(${national[0]}) ${national.slice(1).join(sep)}`);
  }
  return [...new Set(forms)];
}

/** A subject as given by a caller (GraphQL input, CLI, settings page). */
export interface SubjectGiven {
  email: string;
  userId?: string | null;
  phone?: string | null;
  externalIds?: readonly { system: string; id: string }[] | null;
}

/** A subject in matching form, with the email as typed kept for display and mail. */
export interface NormalizedSubject {
  email: string;
  emailAsTyped: string;
  userId: string | null;
  phone: string | null;
  externalIds: { system: string; id: string }[];
}

/** A field of the input that cannot be used, and why (never its value). */
export interface SubjectProblem {
  field: string;
  message: string;
}

/**
 * The subject in matching form, or every problem with it: unreadable email or phone, and identities that
 * conflict (one system given twice would be two values for one identity). `at` prefixes field names.
 */
export function normalizeSubject(given: SubjectGiven, at = "subject"): { subject: NormalizedSubject; problems: SubjectProblem[] } {
  const problems: SubjectProblem[] = [];
  const emailWrong = emailProblem(given.email);
  if (emailWrong) problems.push({ field: `${at}.email`, message: `email ${emailWrong}` });
  const phoneGiven = given.phone?.trim() ? given.phone : null;
  const phone = phoneGiven === null ? null : normalizePhone(phoneGiven);
  if (phoneGiven !== null && !phone) problems.push({ field: `${at}.phone`, message: `phone ${phoneProblem(phoneGiven)}` });
  // An external id is another system's key, compared there byte for byte (as a user id is: normalizeUserId):
  // taken exactly as typed. Trimmed, `cus_1 ` (another account's) reached `cus_1`'s records.
  const externalIds = (given.externalIds ?? []).map((e) => ({ system: e.system.trim(), id: e.id }));
  if (externalIds.some((e) => e.id.trim() === "")) problems.push({ field: `${at}.externalIds`, message: "an external id must hold more than spaces" });
  const systems = externalIds.map((e) => e.system);
  const twice = [...new Set(systems.filter((s, i) => systems.indexOf(s) !== i))];
  if (twice.length) problems.push({ field: `${at}.externalIds`, message: `each system may appear once (${twice.join(", ")} appears more than once): one person has one id per system` });
  return {
    subject: {
      email: normalizeEmail(given.email),
      emailAsTyped: nfc(given.email),
      userId: given.userId?.trim() ? normalizeUserId(given.userId) : null,
      phone,
      externalIds,
    },
    problems,
  };
}

/**
 * A subject's identities as connectors see them: `email`, `userId`, `phone`, and each external id under
 * `external:<system>`, a namespace no identity kind can enter (kinds hold no `:`).
 */
export function subjectIdentityMap(subject: Pick<NormalizedSubject, "email" | "userId" | "phone" | "externalIds">): Record<string, string> {
  const ids: Record<string, string> = { email: subject.email };
  if (subject.userId) ids.userId = subject.userId;
  if (subject.phone) ids.phone = subject.phone;
  for (const e of subject.externalIds) ids[`external:${e.system}`] = e.id;
  return ids;
}

/**
 * What a connector's resolve() may add: only the kinds it declared it provides (never `email`, never an
 * external id, whatever it returned), non-empty, at most 320 characters, in matching form: a phone in
 * E.164, any other kind exactly as the connector found it. A system's id is carried as it holds it: a
 * user id `usr_a ` trimmed to `usr_a` names another account (or none), and the next connector would
 * reach that account's data and miss the subject's.
 */
export function acceptedFinds(provides: readonly string[], found: Readonly<Record<string, unknown>>): Record<string, string> {
  const accepted: Record<string, string> = {};
  for (const kind of provides) {
    const value = Object.hasOwn(found, kind) ? found[kind] : undefined;
    if (kind === "email" || kind.includes(":") || typeof value !== "string") continue;
    const normalized = kind === "phone" ? normalizeIdentity(kind, value) : value;
    if (normalized.trim().length > 0 && normalized.length <= 320) accepted[kind] = normalized;
  }
  return accepted;
}
