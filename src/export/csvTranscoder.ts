import { CategoryStats, isNameLike } from "./content";
import { CSV_LEADING_COLUMNS, FieldType } from "./format";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const NEWLINE = 0x0a;

/** Types of a value, as bits (a field's types over a page are OR-ed together). */
const STRING = 1;
const NUMBER = 2;
const BOOLEAN = 4;
const NULL = 8;
const TYPE_BITS: ReadonlyArray<[number, FieldType]> = [
  [STRING, "string"],
  [NUMBER, "number"],
  [BOOLEAN, "boolean"],
  [NULL, "null"],
];

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
/** The record envelope as readJsonLines writes it, key by key; then the opening of `data`. */
const ENVELOPE_KEYS = ['{"connector":', ',"type":', ',"id":', ',"recordedAt":'].map(ascii);
const DATA_OPEN = ascii(',"data":{');
/** First bytes of a string that spreadsheetText may guard (content.ts's FORMULA_START, but for the escaped tab and CR; an apostrophe, which may lead one). */
const FORMULA_BYTES: Record<number, true> = { 0x3d: true, 0x2b: true, 0x2d: true, 0x40: true, 0x27: true };
const LITERALS: Record<number, Uint8Array> = { 0x74: ascii("true"), 0x66: ascii("false"), 0x6e: ascii("null") };

/** The UTF-8 text of b[from, to). */
const utf8 = (b: Uint8Array, from = 0, to = b.byteLength) => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString("utf8");

/** A byte of a JSON number as JSON.stringify writes one. */
const isNumberByte = (c: number) => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

/**
 * Turns export lines (JSON Lines as readJsonLines writes them, UTF-8) into the CSV lines csvRow writes
 * for the same records, byte for byte, without parsing them into objects: values are copied from the
 * input bytes to the output (a string without escapes is the same UTF-8 in JSON and CSV; it needs CSV
 * quotes only when it holds a comma, as a quote or a line break would have been escaped in JSON).
 * Anything else (an escape, a nested value, a field outside the columns, a repeated key, a layout
 * readJsonLines does not write) makes `line` return false, and the caller parses that line instead.
 * What a page teaches about its fields is added to the category's stats by `flush`.
 *
 * Parsing every record with JSON.parse and building its CSV line from strings was most of the cost of
 * a large export (1,000,000 auth events: ~2.5 s of CPU; this does the same in ~0.5 s).
 */
export class CsvTranscoder {
  private readonly column = new Map<string, number>();
  /** Per slot (the four envelope columns, then the data columns): where the value is in the line. */
  private readonly from: Int32Array;
  private readonly to: Int32Array;
  private readonly quoted: Uint8Array;
  /** The line a slot was last set in: slots not set in this line are empty (missing fields). */
  private readonly setIn: Int32Array;
  private readonly types: Uint8Array;
  private readonly nameLike: boolean[];
  /** The key bytes (`"name":`) met at each position of the previous line's data, and their slot. */
  private readonly keys: Array<{ bytes: Uint8Array; slot: number } | undefined> = [];
  private serial = 0;
  /** Whether the last string stringEnd read holds a comma. */
  private comma = 0;
  /** Data keys in the current line. */
  private positions = 0;
  private records = 0;
  private first: Uint8Array | null = null;
  private last: Uint8Array | null = null;
  private out: Buffer = Buffer.allocUnsafe(1 << 20);
  private pos = 0;

  constructor(
    names: readonly string[],
    private readonly stats: CategoryStats,
  ) {
    const slots = CSV_LEADING_COLUMNS.length + names.length;
    names.forEach((name, i) => this.column.set(name, CSV_LEADING_COLUMNS.length + i));
    this.from = new Int32Array(slots);
    this.to = new Int32Array(slots);
    this.quoted = new Uint8Array(slots);
    this.setIn = new Int32Array(slots).fill(-1);
    this.types = new Uint8Array(slots);
    this.nameLike = [...CSV_LEADING_COLUMNS.map(() => false), ...names.map(isNameLike)];
  }

  /** Appends text (a CSV line made the slow way). */
  append(text: string): void {
    this.reserve(Buffer.byteLength(text));
    this.pos += this.out.write(text, this.pos, "utf8");
  }

  /** The CSV bytes written since the last take (a view that stays valid until the next write). */
  take(): Buffer {
    const bytes = this.out.subarray(0, this.pos);
    this.pos = 0;
    return bytes;
  }

  /** Adds what the lines since the last flush taught (count, dates, field types, a name) to the stats. */
  flush(): void {
    const { stats } = this;
    stats.records += this.records;
    if (this.first) stats.observeDate(utf8(this.first));
    if (this.last) stats.observeDate(utf8(this.last));
    for (const [name, slot] of this.column) {
      const mask = this.types[slot];
      for (const [bit, type] of TYPE_BITS) if (mask & bit) stats.observeType(name, type);
    }
    this.records = 0;
    this.first = this.last = null;
    this.types.fill(0);
  }

  private reserve(bytes: number): void {
    if (this.pos + bytes <= this.out.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + bytes));
    this.out.copy(grown, 0, 0, this.pos);
    this.out = grown;
  }

  private matches(b: Uint8Array, at: number, bytes: Uint8Array): boolean {
    if (at + bytes.length > b.length) return false;
    for (let i = 0; i < bytes.length; i++) if (b[at + i] !== bytes[i]) return false;
    return true;
  }

  /** The end (past the closing quote) of the string opening at b[at], or -1 if it has an escape; `comma` tells whether it holds one. */
  private stringEnd(b: Uint8Array, at: number, end: number): number {
    let comma = 0;
    for (let i = at + 1; i < end; i++) {
      const c = b[i];
      if (c === QUOTE) {
        this.comma = comma;
        return i + 1;
      }
      if (c === BACKSLASH || c < 0x20) return -1;
      if (c === COMMA) comma = 1;
    }
    return -1;
  }

  /** A value starting at b[at] into `slot`; returns the index past it, or -1. */
  private value(b: Uint8Array, at: number, end: number, slot: number): number {
    const c = b[at];
    if (this.setIn[slot] === this.serial) return -1;
    this.setIn[slot] = this.serial;
    if (c === QUOTE) {
      this.types[slot] |= STRING;
      // Text a spreadsheet would run as a formula is written behind an apostrophe, by csvRow (tab and CR are escapes in JSON).
      if (FORMULA_BYTES[b[at + 1]]) return -1;
      const close = this.stringEnd(b, at, end);
      this.from[slot] = at + 1;
      this.to[slot] = close - 1;
      this.quoted[slot] = this.comma;
      return close;
    }
    const literal = LITERALS[c];
    if (literal) {
      if (!this.matches(b, at, literal)) return -1;
      this.types[slot] |= c === 0x6e ? NULL : BOOLEAN;
      // null is an empty CSV value.
      if (c === 0x6e) this.setIn[slot] = -1;
      this.from[slot] = at;
      this.to[slot] = at + literal.length;
      this.quoted[slot] = 0;
      return at + literal.length;
    }
    let i = at;
    while (i < end && isNumberByte(b[i])) i++;
    if (i === at) return -1;
    this.types[slot] |= NUMBER;
    this.from[slot] = at;
    this.to[slot] = i;
    this.quoted[slot] = 0;
    return i;
  }

  /** The CSV line of the export line b[start, end) (b[end] is its newline), appended; false when it must be parsed instead. */
  line(b: Uint8Array, start: number, end: number): boolean {
    this.serial += 1;
    let at = start;
    for (let slot = 0; slot < ENVELOPE_KEYS.length; slot++) {
      if (!this.matches(b, at, ENVELOPE_KEYS[slot])) return false;
      at = this.value(b, at + ENVELOPE_KEYS[slot].length, end, slot);
      if (at < 0) return false;
    }
    if (!this.matches(b, at, DATA_OPEN)) return false;
    at += DATA_OPEN.length;
    this.positions = 0;
    if (b[at] === CLOSE_BRACE) at += 1;
    else {
      for (let position = 0; ; position++) {
        this.positions = position + 1;
        if (b[at] !== QUOTE) return false;
        let key = this.keys[position];
        if (!key || !this.matches(b, at, key.bytes)) {
          const close = this.stringEnd(b, at, end);
          if (close < 0 || b[close] !== COLON) return false;
          const name = utf8(b, at + 1, close - 1);
          const slot = this.column.get(name);
          if (slot === undefined) return false;
          key = this.keys[position] = { bytes: b.slice(at, close + 1), slot };
        }
        at += key.bytes.length;
        if (b[at] === OPEN_BRACE || b[at] === OPEN_BRACKET) return false;
        at = this.value(b, at, end, key.slot);
        if (at < 0) return false;
        if (b[at] === COMMA) at += 1;
        else if (b[at] === CLOSE_BRACE) {
          at += 1;
          break;
        } else return false;
      }
    }
    if (at !== end - 1 || b[at] !== CLOSE_BRACE || b[end] !== NEWLINE) return false;
    this.write(b, end - start);
    return true;
  }

  /** Writes the line's slots as CSV, and notes its date and a name. */
  private write(b: Uint8Array, lineBytes: number): void {
    const slots = this.from.length;
    this.reserve(lineBytes + 3 * slots + 1);
    const out = this.out;
    let pos = this.pos;
    for (let slot = 0; slot < slots; slot++) {
      if (slot) out[pos++] = COMMA;
      if (this.setIn[slot] !== this.serial) continue;
      const from = this.from[slot];
      const to = this.to[slot];
      if (this.quoted[slot]) out[pos++] = QUOTE;
      if (to - from > 32) {
        out.set(b.subarray(from, to), pos);
        pos += to - from;
      } else for (let i = from; i < to; i++) out[pos++] = b[i];
      if (this.quoted[slot]) out[pos++] = QUOTE;
    }
    out[pos++] = NEWLINE;
    this.pos = pos;
    this.records += 1;
    const dateSlot = 3;
    if (this.setIn[dateSlot] === this.serial && this.to[dateSlot] > this.from[dateSlot]) {
      const from = this.from[dateSlot];
      const to = this.to[dateSlot];
      if (!this.first || compareBytes(b, from, to, this.first) < 0) this.first = b.slice(from, to);
      if (!this.last || compareBytes(b, from, to, this.last) > 0) this.last = b.slice(from, to);
    }
    if (this.stats.name === null) {
      // In the line's key order, as the parsed record's fields would be visited.
      for (let position = 0; position < this.positions; position++) {
        const slot = this.keys[position]!.slot;
        if (this.nameLike[slot] && this.setIn[slot] === this.serial && b[this.from[slot] - 1] === QUOTE) {
          this.stats.name = utf8(b, this.from[slot], this.to[slot]);
          break;
        }
      }
    }
  }
}

/** Compares b[from, to) with `other` as byte strings (for ASCII timestamps, as strings compare). */
function compareBytes(b: Uint8Array, from: number, to: number, other: Uint8Array): number {
  const n = Math.min(to - from, other.length);
  for (let i = 0; i < n; i++) if (b[from + i] !== other[i]) return b[from + i] - other[i];
  return to - from - other.length;
}
