import { ValidateBy, ValidationOptions } from "class-validator";

/**
 * The character rules of every text the service takes in, in one place. Two kinds of text:
 *
 * - an **identity** (email, phone, user id, external system and id, a legal hold's subject) is compared,
 *   stored and sent to other systems: it may hold letters of any script, but nothing invisible. Control
 *   characters (Unicode Cc), format characters (Cf: zero-width characters, direction marks and overrides
 *   such as U+202E, the byte-order mark), line and paragraph separators and broken UTF-16 (an unpaired
 *   surrogate) are refused, so two identities that look the same are the same.
 * - **free text** (reasons, evidence, case references, correction values, names, notes) is written by
 *   people and shown to people: letters of any script and emoji stay valid, and so do line breaks, tabs and
 *   the joiners that emoji and Indic scripts need (U+200C/U+200D). Other control characters, the
 *   explicit direction overrides and isolates (U+202A-U+202E, U+2066-U+2069: they make text read
 *   differently from what it holds) and broken UTF-16 are refused.
 *
 * Broken UTF-16 is refused in every string of every argument (graphql/validation.ts), whatever its field:
 * no database or mailer can store or send it faithfully.
 */

/** Characters an identity may not hold (with the `u` flag an unpaired surrogate is a lone code point of category Cs). */
const NOT_IN_IDENTITY = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
/** Characters free text may not hold: controls other than tab (U+0009) and line breaks (U+000A, U+000D), overrides, isolates, broken UTF-16. */
const NOT_IN_FREE_TEXT = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\u202A-\u202E\u2066-\u2069\p{Cs}]/u;

/** An unpaired surrogate (with the `u` flag, paired ones make one astral code point and never match). */
const BROKEN = /\p{Cs}/u;
const wellFormed = (s: string) => !BROKEN.test(s);

/** True when `value` is a string with no unpaired surrogate (non-strings are another rule's business). */
export function isWellFormedText(value: unknown): boolean {
  return typeof value !== "string" || wellFormed(value);
}

/** True when `value` (a string) may serve as an identity. */
export function isIdentityText(value: unknown): boolean {
  return typeof value !== "string" || !NOT_IN_IDENTITY.test(value);
}

/** True when `value` (a string) is acceptable free text. */
export function isFreeText(value: unknown): boolean {
  return typeof value !== "string" || !NOT_IN_FREE_TEXT.test(value);
}

/** What a refused field is told, in words for the person who typed it. */
export const TEXT_MESSAGES = {
  identity: (field: string) =>
    `${field} may not contain invisible characters (control characters, zero-width characters, text-direction marks such as U+202E) or broken characters; letters of any script are fine`,
  freeText: (field: string) =>
    `${field} may not contain control characters other than line breaks and tabs, text-direction overrides (such as U+202E) or broken characters; letters of any script and emoji are fine`,
  wellFormed: (field: string) =>
    `${field} contains a broken character (half of a UTF-16 surrogate pair, as a cut-off emoji leaves); letters of any script and emoji are fine when sent whole`,
} as const;


/** Decorator: the property (or each element, with `each: true`) is an identity in the sense above. */
export function IsIdentityText(options: ValidationOptions = {}): PropertyDecorator {
  return ValidateBy(
    { name: "isIdentityText", validator: { validate: isIdentityText, defaultMessage: (args) => TEXT_MESSAGES.identity(args?.property ?? "value") } },
    options,
  );
}

/** Decorator: the property (or each element, with `each: true`) is free text in the sense above. */
export function IsFreeText(options: ValidationOptions = {}): PropertyDecorator {
  return ValidateBy(
    { name: "isFreeText", validator: { validate: isFreeText, defaultMessage: (args) => TEXT_MESSAGES.freeText(args?.property ?? "value") } },
    options,
  );
}

/**
 * Paths (`records.0.fields.note`) of every string under `value` that holds broken UTF-16, keys included.
 * Walks plain objects and arrays only; at most `limit` paths.
 */
export function illFormedPaths(value: unknown, limit = 20): string[] {
  const found: string[] = [];
  const visit = (v: unknown, path: string): void => {
    if (found.length >= limit) return;
    if (typeof v === "string") {
      if (!wellFormed(v)) found.push(path || "value");
      return;
    }
    if (v === null || typeof v !== "object" || v instanceof Date) return;
    for (const [key, child] of Object.entries(v)) {
      const at = path ? `${path}.${wellFormed(key) ? key : "?"}` : wellFormed(key) ? key : "?";
      if (!wellFormed(key)) found.push(at);
      visit(child, at);
    }
  };
  visit(value, "");
  return found;
}
