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
 * Reads a recordedAt value: a Date (MySQL DATETIME/TIMESTAMP), ISO or SQL text, or epoch seconds /
 * milliseconds (numbers below 1e11 are seconds). undefined: no value; so are PostgreSQL's `infinity`
 * and `-infinity` and MySQL's dates that name no day (`0000-00-00`, `2024-00-00 10:00:00`): no instant a
 * retention period could count from, so the record is undated, as with NULL. null: a value that is no date.
 */
export function dateOf(value: unknown): Date | undefined | null {
  if (value === null || value === undefined || value === "" || value === "infinity" || value === "-infinity") return undefined;
  let ms: number;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === "number" || typeof value === "bigint" || (typeof value === "string" && /^\d+$/.test(value))) {
    const n = Number(value);
    ms = n < 1e11 ? n * 1000 : n;
  } else if (typeof value === "string") {
    const naive = NAIVE.exec(value);
    if (naive && (naive[2] === "00" || naive[3] === "00")) return undefined;
    ms = naive ? naiveUtc(naive) : Date.parse(value);
  } else ms = Number.NaN;
  return Number.isFinite(ms) ? new Date(ms) : null;
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
