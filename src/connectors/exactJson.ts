import { isInteger, isSafeNumber, parse as parseLossless } from "lossless-json";

/**
 * JSON from a system read without changing a value: an HTTP API's answer, a SQL JSON column. A number
 * JSON.parse would round (an integer past 2^53) reaches the person as its exact digits.
 */

/**
 * JSON text, its integers exact: one past 2^53 (a 64-bit id, an amount in micro-units) is a BigInt,
 * where JSON.parse rounds it to the nearest double (9007199254740993 reads as ...992) and the person's
 * export would show a value the system does not hold. Every other number is a number, as JSON.parse
 * reads it (lossless-json's parseNumberAndBigInt makes every integer a BigInt: 200 too). Such an
 * integer has at least 16 digits: a text without a run of 16 is read by JSON.parse, the same values,
 * several times faster.
 */
export const readJson = (text: string): unknown => (/\d{16}/.test(text) ? parseLossless(text, null, exactNumber) : JSON.parse(text));

/** A JSON number's text as a value: a BigInt for an integer a double cannot hold, otherwise a number (as JSON.parse). */
const exactNumber = (text: string): number | bigint => (!isSafeNumber(text) && isInteger(text) ? BigInt(text) : Number.parseFloat(text));

/**
 * A value as the person receives it: an integer read as a BigInt (past 2^53) as its exact digits, in
 * text (as the SQL connector passes one a double cannot hold: exactInteger), however deep it lies.
 */
export function exactValue(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(exactValue);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, exactValue(v)]));
  return value;
}

/** A JSON column's text as the person receives it: exact (readJson, exactValue); null stays null. */
export const exactJson = (text: string | null): unknown => (text === null ? null : exactValue(readJson(text)));
