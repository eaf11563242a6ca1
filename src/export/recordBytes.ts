import type { SubjectRecord } from "../connectors/sdk";

/** Bytes being filled with JSON Lines: `used` of them so far. */
export interface LineBuffer {
  lines: Buffer;
  used: number;
}

/** Text JSON.stringify writes as it is between its quotes, and that is one byte a character: printable ASCII but `"` and `\\`. */
const PLAIN_ASCII = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** U+2028 and U+2029, which JSON leaves raw in a string and many line readers take for line breaks. */
const LINE_SEPARATORS = /[\u2028\u2029]/g;
/**
 * The same, to look for one first: a record hardly ever holds one, and a replace that finds nothing
 * still costs about 0.17 µs a line (2,000,000 auth events: 375 ms against 53 ms for the look first).
 */
const HAS_LINE_SEPARATOR = /[\u2028\u2029]/;
const QUOTE = 0x22;

/** What every line of a connector starts with: `{"connector":<its name as JSON>`. */
export const lineHead = (connector: string) => `{"connector":${escapeSeparators(JSON.stringify(connector))}`;

/**
 * Writes a record's line, exactly recordLine(connector, r) (`head` is lineHead(connector)), straight
 * into the buffer's bytes, growing it when a piece would not fit. A big subject's collect writes
 * millions of lines: as a string each (JSON.stringify builds it in pieces, and writing it flattens them
 * into one more copy) they were a third of what the collect allocated, so V8's young generation filled
 * and was scavenged that much more often, and at each scavenge what was in flight and still alive at the
 * next one (the events page, a batch being sealed, a probe's request) was promoted to the old generation,
 * to lie there as garbage until the next full collection (README, Benchmarks). Printable ASCII text is
 * copied a character at a time; other values, and text JSON would escape, go through JSON.stringify.
 */
export function writeRecordLine(to: LineBuffer, head: string, r: SubjectRecord): void {
  ascii(to, head);
  ascii(to, ',"type":');
  text(to, String(r.type));
  ascii(to, ',"id":');
  text(to, String(r.id));
  ascii(to, ',"recordedAt":');
  if (r.recordedAt instanceof Date && !Number.isNaN(r.recordedAt.getTime())) text(to, r.recordedAt.toISOString());
  else ascii(to, "null");
  const data = r.data ?? {};
  if (!plainObject(data)) {
    // Whatever JSON.stringify makes of it, omitted as it would omit it.
    const written = JSON.stringify(data) as string | undefined;
    if (written !== undefined) (ascii(to, ',"data":'), utf8(to, escapeSeparators(written)));
    return ascii(to, "}\n");
  }
  ascii(to, ',"data":{');
  let first = true;
  for (const key in data) {
    if (!Object.hasOwn(data, key)) continue;
    const value = data[key];
    const kind = typeof value;
    if (value === undefined || kind === "function" || kind === "symbol") continue;
    if (!first) ascii(to, ",");
    first = false;
    text(to, key);
    ascii(to, ":");
    if (kind === "string") text(to, value as string);
    else if (value === null || kind === "boolean" || (kind === "number" && Number.isFinite(value))) ascii(to, String(value === 0 ? 0 : value));
    else utf8(to, escapeSeparators(JSON.stringify(value)));
  }
  ascii(to, "}}\n");
}

/** An object JSON.stringify writes property by property: no toJSON, no class of its own. */
function plainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as object | null;
  return (proto === Object.prototype || proto === null) && typeof (value as { toJSON?: unknown }).toJSON !== "function";
}

/** JSON with its line and paragraph separators written as their escapes (see recordLine in staging.ts). */
export const escapeSeparators = (json: string) => (HAS_LINE_SEPARATOR.test(json) ? json.replace(LINE_SEPARATORS, (c) => (c === "\u2028" ? "\\u2028" : "\\u2029")) : json);

/** A string as a JSON string. */
function text(to: LineBuffer, value: string): void {
  if (!PLAIN_ASCII.test(value)) return utf8(to, escapeSeparators(JSON.stringify(value)));
  room(to, value.length + 2);
  const bytes = to.lines;
  let at = to.used;
  bytes[at++] = QUOTE;
  for (let i = 0; i < value.length; i++) bytes[at++] = value.charCodeAt(i);
  bytes[at++] = QUOTE;
  to.used = at;
}

/** Text known to be ASCII, byte by byte: a short piece costs less so than a call into Buffer.write. */
function ascii(to: LineBuffer, piece: string): void {
  room(to, piece.length);
  const bytes = to.lines;
  let at = to.used;
  for (let i = 0; i < piece.length; i++) bytes[at++] = piece.charCodeAt(i);
  to.used = at;
}

function utf8(to: LineBuffer, piece: string): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  room(to, piece.length * 3);
  to.used += to.lines.write(piece, to.used, "utf8");
}

/** Makes room for `bytes` more, in a buffer twice as large (or as large as needed) when they would not fit. */
function room(to: LineBuffer, bytes: number): void {
  if (to.used + bytes <= to.lines.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(to.lines.length * 2, to.used + bytes));
  to.lines.copy(bigger, 0, 0, to.used);
  to.lines = bigger;
}
