import { Readable } from "node:stream";
import { CSV_LEADING_COLUMNS, CSV_MAX_FIELDS, FieldDoc, FieldType } from "./format";
import type { StagedRecord } from "./records";
import { EncryptedSpill } from "./spill";

/** What is learned of one field of a category. */
interface FieldSeen {
  types: Set<FieldType>;
  /** Whether its name is a `name`-like one (tested once per field, not once per value). */
  nameLike: boolean;
}

const NAME_LIKE = /^(name|full_?name|display_?name)$/i;

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
    if (recordedAt) {
      if (!this.first || recordedAt < this.first) this.first = recordedAt;
      if (!this.last || recordedAt > this.last) this.last = recordedAt;
    }
    // for-in over JSON.parse output: own enumerable keys only, without the array Object.entries builds.
    for (const key in data) {
      const value = data[key];
      const type: FieldType = value === null ? "null" : Array.isArray(value) ? "array" : (typeof value as FieldType);
      if (type === "object" || type === "array") this.nested = true;
      let seen = this.fields.get(key);
      if (!seen) this.fields.set(key, (seen = { types: new Set(), nameLike: NAME_LIKE.test(key) }));
      seen.types.add(type);
      if (this.name === null && seen.nameLike && type === "string") this.name = value as string;
    }
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
}

/** JSON text of the envelope's strings, remembered while they repeat (connector and type do, page after page). */
function lastStringified(): (value: string) => string {
  let last: string | null = null;
  let text = "";
  return (value) => (value === last ? text : ((last = value), (text = JSON.stringify(value))));
}

/** The CSV columns of a category: the record envelope, then the category's own fields. */
export const csvColumns = (fields: FieldDoc[]) => [...CSV_LEADING_COLUMNS, ...fields.map((f) => f.name)];

const CSV_QUOTE_NEEDED = /[",\r\n]/;

/** One CSV value as csv-stringify writes it by default (booleans as true/false): quoted only when it must be. */
function csvValue(value: unknown): string {
  if (value === null || value === undefined) return "";
  // Numbers and booleans never hold a quote, comma or newline.
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return CSV_QUOTE_NEEDED.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The CSV header line, after the byte-order mark (so spreadsheet programs read accents, emoji and right-to-left text right). */
const csvHeader = (fields: FieldDoc[]) => `\ufeff${csvColumns(fields).map(csvValue).join(",")}\n`;

/** The CSV line of one record whose fields are already parsed. */
function csvRow(r: StagedRecord, data: Record<string, unknown>, names: readonly string[]): string {
  let out = `${csvValue(r.connector)},${csvValue(r.type)},${csvValue(r.id)},${csvValue(r.recordedAt)}`;
  for (const name of names) out += `,${csvValue(data[name])}`;
  return `${out}\n`;
}

/**
 * A tabular category as RFC 4180 CSV in UTF-8 with a byte-order mark, read from the staged records
 * again: for a category whose fields were not all known after its first page (see CsvDraft).
 * Quotes, commas and newlines in values are quoted; the bytes are those csv-stringify writes
 * (`dsr export verify` checks the header with it), without its per-row stream machinery.
 */
export async function* csvContent(pages: AsyncIterable<StagedRecord[]>, fields: FieldDoc[]): AsyncGenerator<string> {
  const names = fields.map((f) => f.name);
  yield csvHeader(fields);
  for await (const page of pages) {
    let out = "";
    for (const r of page) out += csvRow(r, JSON.parse(r.payload) as Record<string, unknown>, names);
    yield out;
  }
}

/**
 * The CSV of a category written during the JSON pass into an encrypted spill, so the records are read
 * and parsed once. Its columns are fixed after the first page; a field first seen later makes the draft
 * stale (columns are sorted, so earlier rows would be wrong) and the CSV is then read again (csvContent).
 */
export class CsvDraft {
  private names: string[] | null = null;
  private stale = false;
  private spill: EncryptedSpill | null = null;
  /** The first page, held until it is all seen and the columns are known. */
  private firstPage: Array<{ r: StagedRecord; data: Record<string, unknown> }> = [];
  private out = "";

  /** One record, after `stats` has seen it. */
  add(r: StagedRecord, data: Record<string, unknown>, stats: CategoryStats): void {
    if (this.stale) return;
    if (!this.names) this.firstPage.push({ r, data });
    else if (this.names.length !== stats.fieldCount) this.stale = true;
    else this.out += csvRow(r, data, this.names);
  }

  /** Writes what the page added. */
  async endPage(stats: CategoryStats): Promise<void> {
    if (!stats.tabular) this.stale = true;
    if (this.stale) return void (this.out = "");
    if (!this.names) {
      const fields = stats.fieldDocs;
      const names = fields.map((f) => f.name);
      this.out = csvHeader(fields);
      for (const { r, data } of this.firstPage) this.out += csvRow(r, data, names);
      this.names = names;
      this.firstPage = [];
    }
    this.spill ??= await EncryptedSpill.create();
    await this.spill.write(this.out);
    this.out = "";
  }

  /** The finished CSV, or null when it has to be read again. */
  content(stats: CategoryStats): Readable | null {
    if (this.stale || !stats.tabular || (this.names && this.names.length !== stats.fieldCount)) return null;
    return this.spill ? this.spill.read() : Readable.from([csvHeader(stats.fieldDocs)]);
  }

  async dispose(): Promise<void> {
    await this.spill?.dispose();
  }
}

/**
 * A category as a JSON array (one record per line) or as JSON Lines, one chunk per page; its CSV goes
 * to `csv` on the way. Each line is exactly `JSON.stringify({ connector, type, id, recordedAt, data })`:
 * the payload was staged by JSON.stringify, so it is written as it is (parsing and stringifying it
 * again gives the same text); it is still parsed, for the field list and the CSV.
 */
export async function* jsonContent(pages: AsyncIterable<StagedRecord[]>, jsonl: boolean, stats: CategoryStats, csv?: CsvDraft): AsyncGenerator<string> {
  const connector = lastStringified();
  const type = lastStringified();
  let first = true;
  if (!jsonl) yield "[";
  for await (const page of pages) {
    let out = "";
    for (const r of page) {
      const data = JSON.parse(r.payload) as Record<string, unknown>;
      stats.observe(r.recordedAt, data);
      csv?.add(r, data, stats);
      const line = `{"connector":${connector(r.connector)},"type":${type(r.type)},"id":${JSON.stringify(r.id)},"recordedAt":${r.recordedAt === null ? "null" : JSON.stringify(r.recordedAt)},"data":${r.payload}}`;
      out += jsonl ? `${line}\n` : `${first ? "\n" : ",\n"}${line}`;
      first = false;
    }
    await csv?.endPage(stats);
    if (out) yield out;
  }
  if (!jsonl) yield first ? "]\n" : "\n]\n";
}
