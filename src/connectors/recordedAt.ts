/** How connectors read a record's date from a system (the SQL connector's columns, the HTTP connector's fields). */

/**
 * A date without a zone ("2025-03-01 10:00:00", SQLite's CURRENT_TIMESTAMP, PostgreSQL's DATE and
 * TIMESTAMP text: "1990-05-17", "10000-01-01 00:00:00", "0044-03-15 BC") is UTC, as SQLite writes it.
 */
const NAIVE = /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?( BC)?$/;

/**
 * A zoneless date's instant, read as UTC by its parts; NaN for parts no calendar has (month 13). Read
 * by Date.parse, a year past 9999 or before 1 was taken for local time (10000-01-01 00:00 exported as
 * 9999-12-31T18:30Z on a machine on India's time) and a year past 9999 with a "T" was no date at all.
 */
function naiveUtc(m: RegExpExecArray): number {
  const [, y, mo, d, h = "0", mi = "0", s = "0", fraction = "", bc] = m;
  const [month, day, hour, minute, second] = [mo, d, h, mi, s].map(Number);
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const at = new Date(0);
  // 1 BC is year 0, 2 BC year -1 (ISO 8601's years); setUTCFullYear, unlike Date.UTC, takes years 0-99 as they are.
  at.setUTCFullYear(bc ? 1 - Number(y) : Number(y), month - 1, day);
  at.setUTCHours(hour, minute, second, Number(fraction.slice(1).padEnd(3, "0").slice(0, 3)));
  return at.getUTCMonth() === month - 1 && at.getUTCDate() === day ? at.getTime() : Number.NaN;
}

/**
 * How a recordedAtColumn (SQL) or recordedAtField (HTTP) writes its dates, named by the configuration's
 * `recordedAtFormat`. A number alone does not say its unit: SQLite's julianday() 2460645.5, a YYYYMMDD
 * 20241203 and epoch seconds are all plain numbers, and a wrong reading dates a record decades off,
 * which retention then keeps or ERASES by.
 */
export const RECORDED_AT_FORMATS = [
  /** A DATE/DATETIME/TIMESTAMP column, or ISO 8601 / SQL text ("2024-12-03 10:00:00", zoneless as UTC). */
  "datetime",
  "epochSeconds",
  "epochMilliseconds",
  "epochMicroseconds",
  "epochNanoseconds",
  /** Days since noon UTC of 24 November 4714 BC, fractions included (SQLite's julianday()). */
  "julianDay",
  /** The day as an eight-digit number or text, 20241203 (midnight UTC). */
  "yyyymmdd",
] as const;
export type RecordedAtFormat = (typeof RECORDED_AT_FORMATS)[number];

/**
 * Why a value was not read as a date. `ambiguous`: a number without a recordedAtFormat that is not
 * plainly epoch seconds or milliseconds (see readRecordedAt); `notOfFormat`: a value the configured
 * format does not describe (a DATETIME where epochSeconds was said, date text where julianDay was).
 */
export type Unreadable = "notADate" | "ambiguous" | "notOfFormat";

/**
 * Without a recordedAtFormat a number is read only where one reading alone is plausible: ten digits
 * before any point as epoch seconds, thirteen as epoch milliseconds, both spanning 2001-09-09 to
 * 2286-11-20 (ten digits read as milliseconds is early 1970, thirteen read as seconds past the year
 * 33000). Any other number (a julian day, a YYYYMMDD, microseconds, nanoseconds, seconds before 2001)
 * is refused: read as seconds, julianday 2460645.5 was 1970-01-29, and a payment the tax rule keeps for
 * 7 years was erased as long expired.
 */
const PLAIN_SECONDS = [1e9, 1e10] as const;
const PLAIN_MILLISECONDS = [1e12, 1e13] as const;
/** JavaScript's epoch, as a julian day. */
const UNIX_EPOCH_JD = 2440587.5;
const DAY_MS = 86_400_000;
const NUMERIC_TEXT = /^-?\d+(\.\d+)?$/;

/** A number as the value holds it: a JS number, or exact integer digits (a BIGINT as text or bigint), or undefined when it is not numeric. */
function numeric(value: unknown): { n: number; whole?: bigint } | undefined {
  if (typeof value === "number") return { n: value, ...(Number.isSafeInteger(value) ? { whole: BigInt(value) } : {}) };
  if (typeof value === "bigint") return { n: Number(value), whole: value };
  if (typeof value === "string" && NUMERIC_TEXT.test(value)) return { n: Number(value), ...(/^-?\d+$/.test(value) ? { whole: BigInt(value) } : {}) };
  return undefined;
}

/** `v` divided by `unit` (a power of ten) to whole milliseconds, rounded down; exact for integer digits past 2^53 (nanoseconds). */
function scaled(v: { n: number; whole?: bigint }, unit: bigint): number {
  if (v.whole === undefined) return Math.floor(v.n / Number(unit));
  const q = v.whole / unit;
  return Number(v.whole % unit < 0n ? q - 1n : q);
}

/** The instant `v` names in `format` (a numeric one); NaN where it names none. */
function fromNumber(v: { n: number; whole?: bigint }, format: RecordedAtFormat): number {
  switch (format) {
    case "epochSeconds":
      return v.n * 1000;
    case "epochMilliseconds":
      return v.n;
    case "epochMicroseconds":
      return scaled(v, 1000n);
    case "epochNanoseconds":
      return scaled(v, 1_000_000n);
    case "julianDay":
      return Math.round((v.n - UNIX_EPOCH_JD) * DAY_MS);
    case "yyyymmdd": {
      const m = v.whole === undefined ? null : /^(\d{4})(\d{2})(\d{2})$/.exec(v.whole.toString());
      return m ? naiveUtc(NAIVE.exec(`${m[1]}-${m[2]}-${m[3]}`)!) : Number.NaN;
    }
    default:
      return Number.NaN;
  }
}

/**
 * Reads a record's date as `format` says it is written; without a format, a Date or date text as they
 * are and a number only where its unit is plain (PLAIN_SECONDS, PLAIN_MILLISECONDS). undefined: no
 * value; so are PostgreSQL's `infinity` and `-infinity` and MySQL's dates that name no day
 * (`0000-00-00`, `2024-00-00`): no instant a retention period could count from, so the record is
 * undated, as with NULL. A configured format is held to: a value of another kind is `notOfFormat`,
 * never read some other way.
 */
export function readRecordedAt(value: unknown, format?: RecordedAtFormat): Date | undefined | Unreadable {
  if (value === null || value === undefined || value === "" || value === "infinity" || value === "-infinity") return undefined;
  const number = numeric(value);
  let ms: number;
  if (number) {
    if (!Number.isFinite(number.n)) return "notADate";
    if (format === undefined) {
      const plain = (span: readonly [number, number]) => number.n >= span[0] && number.n < span[1];
      if (plain(PLAIN_SECONDS)) ms = number.n * 1000;
      else if (plain(PLAIN_MILLISECONDS)) ms = number.n;
      else return "ambiguous";
    } else if (format === "datetime") return "notOfFormat";
    else ms = fromNumber(number, format);
  } else {
    if (format !== undefined && format !== "datetime") return "notOfFormat";
    if (value instanceof Date) ms = value.getTime();
    else if (typeof value === "string") {
      const naive = NAIVE.exec(value);
      if (naive && (naive[2] === "00" || naive[3] === "00")) return undefined;
      ms = naive ? naiveUtc(naive) : Date.parse(value);
    } else ms = Number.NaN;
  }
  // Past what a Date holds (±8.64e15 ms), new Date would be Invalid Date.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms) : format && number ? "notOfFormat" : "notADate";
}

/**
 * Reads a date a database's date type hands over as text (or a Date): readRecordedAt without a format.
 * null: a value that is no date.
 */
export function dateOf(value: unknown): Date | undefined | null {
  const at = readRecordedAt(value);
  return typeof at === "string" ? null : at;
}

/**
 * What is wrong with a record's date, for a message that names where it is (a table's column, a
 * resource's field) and never the value, which may be personal.
 */
export function unreadableReason(problem: Unreadable, format: RecordedAtFormat | undefined): string {
  if (problem === "ambiguous") {
    return `a number whose unit cannot be told (only a 10-digit number reads as epoch seconds and a 13-digit one as epoch milliseconds, 2001 to 2286, without recordedAtFormat); set recordedAtFormat to how it is written: ${RECORDED_AT_FORMATS.join(", ")}`;
  }
  if (problem === "notOfFormat") return `a value that is not written as its recordedAtFormat ${format} says (${format === "datetime" ? "a date type or date text" : "a number"})`;
  return "a value that is not a date";
}

/**
 * What is wrong with a recordedAtFormat (SQL tables, HTTP resources), never echoing the value given:
 * one of RECORDED_AT_FORMATS, and only beside the column or field it describes.
 */
export function recordedAtFormatProblems(setting: string, format: unknown, dated: boolean, dateField: string): string[] {
  if (format === undefined) return [];
  if (typeof format !== "string" || !(RECORDED_AT_FORMATS as readonly string[]).includes(format)) {
    return [`${setting} must be one of ${RECORDED_AT_FORMATS.join(", ")} (how ${dateField} writes its dates)`];
  }
  return dated ? [] : [`${setting} is given without ${dateField}, whose dates it describes`];
}

/**
 * A Date that keeps the digits of its second past milliseconds, which a Date cannot hold (PostgreSQL's
 * and MySQL's microseconds): its ISO text, so the export's value, shows them. Compared and dated as the
 * Date it is (its milliseconds).
 */
export class PreciseDate extends Date {
  constructor(
    ms: number,
    /** The fraction of the second, its digits after the point (more than three). */
    readonly fraction: string,
  ) {
    super(ms);
  }

  override toISOString(): string {
    return super.toISOString().replace(/\.\d{3}Z$/, `.${this.fraction}Z`);
  }
}

/**
 * `at` read from `text`, with the digits of its second past milliseconds that `text` holds: a value of
 * 01:30:00.123456 was exported as 01:30:00.123Z. A Date as it is when there are none (or only zeros).
 */
export function withFraction(at: Date, text: string): Date {
  const digits = /:\d{2}\.(\d{4,})/.exec(text)?.[1]?.replace(/0+$/, "");
  return digits && digits.length > 3 && !Number.isNaN(at.getTime()) ? new PreciseDate(at.getTime(), digits) : at;
}
