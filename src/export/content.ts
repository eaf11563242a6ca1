import { CSV_LEADING_COLUMNS, CSV_MAX_FIELDS, FieldDoc, FieldType } from "./format";
import type { ExportRecord } from "./records";
import type { CategoryScanner } from "./scan";

/** What is learned of one field of a category. */
interface FieldSeen {
  types: Set<FieldType>;
  /** Whether its name is a `name`-like one (tested once per field, not once per value). */
  nameLike: boolean;
}

const NAME_LIKE = /^(name|full_?name|display_?name)$/i;
/** Whether a field holds a person's name (its first string value greets them in index.html). */
export const isNameLike = (field: string) => NAME_LIKE.test(field);

/**
 * Whether ISO 8601 time `a` is before `b`. Years 0-9999 compare as text; a year past them is written
 * with a sign (+010000-01-01T..., -000001-...), which sorts as text before every 4-digit year.
 */
const fourDigitYear = (iso: string) => iso.charCodeAt(0) >= 0x30 && iso.charCodeAt(0) <= 0x39;
const beforeIso = (a: string, b: string) => (fourDigitYear(a) && fourDigitYear(b) ? a < b : Date.parse(a) < Date.parse(b));

/** What one pass over a category learns: fields and their types, dates, whether it is a table. */
export class CategoryStats {
  records = 0;
  first: string | null = null;
  last: string | null = null;
  private readonly fields = new Map<string, FieldSeen>();
  nested = false;
  /** The first value of a `name`-like field, for the greeting of index.html. */
  name: string | null = null;

  observe(recordedAt: string | null, data: Record<string, unknown>): void {
    this.records += 1;
    if (recordedAt) this.observeDate(recordedAt);
    // for-in over JSON.parse output: own enumerable keys only, without the array Object.entries builds.
    for (const key in data) {
      const value = data[key];
      const type: FieldType = value === null ? "null" : Array.isArray(value) ? "array" : (typeof value as FieldType);
      if (type === "object" || type === "array") this.nested = true;
      const seen = this.field(key);
      seen.types.add(type);
      if (this.name === null && seen.nameLike && type === "string") this.name = value as string;
    }
  }

  observeDate(recordedAt: string): void {
    if (!this.first || beforeIso(recordedAt, this.first)) this.first = recordedAt;
    if (!this.last || beforeIso(this.last, recordedAt)) this.last = recordedAt;
  }

  /** Notes that `field` held a value of `type` (records are counted by the caller). */
  observeType(field: string, type: FieldType): void {
    this.field(field).types.add(type);
  }

  private field(name: string): FieldSeen {
    let seen = this.fields.get(name);
    if (!seen) this.fields.set(name, (seen = { types: new Set(), nameLike: isNameLike(name) }));
    return seen;
  }

  get fieldDocs(): FieldDoc[] {
    return [...this.fields.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, seen]) => ({ name, types: [...seen.types].sort() }));
  }

  /** Fields seen so far (they are only ever added). */
  get fieldCount(): number {
    return this.fields.size;
  }

  get tabular(): boolean {
    return !this.nested && this.fields.size <= CSV_MAX_FIELDS;
  }

  /** What the manifest and index.html need, as plain data (it crosses from a worker thread). */
  summary(): CategorySummary {
    return { records: this.records, first: this.first, last: this.last, fields: this.fieldDocs, tabular: this.tabular, name: this.name };
  }
}

export interface CategorySummary {
  records: number;
  first: string | null;
  last: string | null;
  fields: FieldDoc[];
  tabular: boolean;
  name: string | null;
}

/**
 * The CSV columns of a category: the record envelope, then the category's own fields, each under a
 * name of its own. A field named like an envelope column (an MFA factor's `type`, an auth event's
 * `recordedAt`) is headed `data.<name>` (prefixed again while that is taken): with two columns of one
 * name, a program reading by header keeps one and loses the other.
 */
export function csvColumns(fields: FieldDoc[]): string[] {
  const taken = new Set([...CSV_LEADING_COLUMNS, ...fields.map((f) => f.name)]);
  return [
    ...CSV_LEADING_COLUMNS,
    ...fields.map((f) => {
      if (!CSV_LEADING_COLUMNS.includes(f.name)) return f.name;
      let name = `data.${f.name}`;
      while (taken.has(name)) name = `data.${name}`;
      taken.add(name);
      return name;
    }),
  ];
}

const CSV_QUOTE_NEEDED = /[",\r\n]/;

/**
 * Text a spreadsheet program takes for a formula when a cell starts with it (OWASP's CSV injection
 * list): `=HYPERLINK(...)` in a ticket would send the sheet's cells to whoever wrote it, and `+44...`
 * would turn a phone number into a number. Such text is written behind an apostrophe (FORMAT: csvFormulaGuard).
 */
const FORMULA_START = /^'*[=+\-@\t\r]/;
/**
 * A text value as a CSV cell holds it: behind one more apostrophe when a spreadsheet would run it (see
 * FORMULA_START); a value that already starts with apostrophes before such a character gets one more
 * too, so that removing one apostrophe from every cell matching FORMULA_START gives back every value.
 */
export const spreadsheetText = (text: string) => (FORMULA_START.test(text) ? `'${text}` : text);

/** One CSV value as csv-stringify writes it by default (booleans as true/false), text guarded by spreadsheetText: quoted only when it must be. */
function csvValue(value: unknown): string {
  if (value === null || value === undefined) return "";
  // Numbers and booleans never hold a quote, comma or newline.
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  const text = spreadsheetText(typeof value === "string" ? value : JSON.stringify(value));
  return CSV_QUOTE_NEEDED.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV header line, after the byte-order mark (so spreadsheet programs read accents, emoji and right-to-left text right). */
export const csvHeader = (fields: FieldDoc[]) => `\ufeff${csvColumns(fields).map(csvValue).join(",")}\n`;

/** The CSV line of one record whose fields are already parsed. */
export function csvRow(r: Omit<ExportRecord, "data">, data: Record<string, unknown>, names: readonly string[]): string {
  let out = `${csvValue(r.connector)},${csvValue(r.type)},${csvValue(r.id)},${csvValue(r.recordedAt)}`;
  // Own fields only: a record without "constructor" or "__proto__" has an empty cell there, not Object's.
  for (const name of names) out += `,${csvValue(Object.hasOwn(data, name) ? data[name] : undefined)}`;
  return `${out}\n`;
}

/**
 * A tabular category as RFC 4180 CSV in UTF-8 with a byte-order mark, read from the staged records
 * again: for a category whose fields were not all known after its first page (see CategoryScan).
 * Quotes, commas and newlines in values are quoted; the bytes are those csv-stringify writes
 * (`dsr export verify` checks the header with it), without its per-row stream machinery.
 */
export async function* csvContent(pages: AsyncIterable<ExportRecord[]>, fields: FieldDoc[]): AsyncGenerator<string> {
  const names = fields.map((f) => f.name);
  yield csvHeader(fields);
  for await (const page of pages) {
    let out = "";
    for (const r of page) out += csvRow(r, r.data, names);
    yield out;
  }
}

/**
 * Parses a page of JSON Lines (UTF-8, each line ending in a newline, as readJsonLines yields them) into
 * records: all of them, or the first `max`.
 */
export function parseJsonLines(bytes: Uint8Array, max = Infinity): ExportRecord[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const records: ExportRecord[] = [];
  for (let at = 0; at < text.length && records.length < max; ) {
    const end = text.indexOf("\n", at);
    records.push(JSON.parse(text.slice(at, end)) as ExportRecord);
    at = end + 1;
  }
  return records;
}

/** What jsonContent keeps of the records on the way: the first `limit` of them, parsed (index.html shows them). */
export interface Samples {
  limit: number;
  records: ExportRecord[];
}

/**
 * A category as a JSON array (one record per line) or as JSON Lines, from pages of JSON Lines in UTF-8
 * (see readJsonLines), one chunk per page. Every page also goes to `scanner`, which learns the fields
 * and writes the CSV (on another thread for a large category), so this thread only moves bytes, but
 * for the first records, kept in `samples` (so index.html does not read the staged records again).
 */
export async function* jsonContent(pages: AsyncIterable<Buffer>, jsonl: boolean, scanner: CategoryScanner, samples: Samples): AsyncGenerator<string | Buffer> {
  let first = true;
  if (!jsonl) yield "[";
  for await (const bytes of pages) {
    if (samples.records.length < samples.limit) samples.records.push(...parseJsonLines(bytes, samples.limit - samples.records.length));
    await scanner.page(bytes);
    // A JSON array is only written for small categories (JSON_ARRAY_MAX_RECORDS): decoding costs little there.
    yield jsonl ? bytes : `${first ? "\n" : ",\n"}${bytes.toString("utf8").slice(0, -1).replaceAll("\n", ",\n")}`;
    first = false;
  }
  if (!jsonl) yield first ? "]\n" : "\n]\n";
}
