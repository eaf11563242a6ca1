import { CSV_LEADING_COLUMNS, CSV_MAX_FIELDS, FieldDoc, FieldType } from "./format";
import type { StagedRecord } from "./records";

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

/**
 * A category as a JSON array (one record per line) or as JSON Lines, one chunk per page. Each line is
 * exactly `JSON.stringify({ connector, type, id, recordedAt, data })`: the payload was staged by
 * JSON.stringify, so it is written as it is (parsing and stringifying it again gives the same text);
 * it is still parsed, for the category's field list.
 */
export async function* jsonContent(pages: AsyncIterable<StagedRecord[]>, jsonl: boolean, stats: CategoryStats): AsyncGenerator<string> {
  const connector = lastStringified();
  const type = lastStringified();
  let first = true;
  if (!jsonl) yield "[";
  for await (const page of pages) {
    let out = "";
    for (const r of page) {
      stats.observe(r.recordedAt, JSON.parse(r.payload) as Record<string, unknown>);
      const line = `{"connector":${connector(r.connector)},"type":${type(r.type)},"id":${JSON.stringify(r.id)},"recordedAt":${r.recordedAt === null ? "null" : JSON.stringify(r.recordedAt)},"data":${r.payload}}`;
      out += jsonl ? `${line}\n` : `${first ? "\n" : ",\n"}${line}`;
      first = false;
    }
    if (out) yield out;
  }
  if (!jsonl) yield first ? "]\n" : "\n]\n";
}

/** The CSV columns of a category: the record envelope, then the category's own fields. */
export const csvColumns = (fields: FieldDoc[]) => [...CSV_LEADING_COLUMNS, ...fields.map((f) => f.name)];

const CSV_QUOTE_NEEDED = /[",\r\n]/;

/** One CSV value as csv-stringify writes it by default (booleans as true/false): quoted only when it must be. */
function csvValue(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : typeof value === "boolean" ? (value ? "true" : "false") : typeof value === "object" ? JSON.stringify(value) : String(value);
  return CSV_QUOTE_NEEDED.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * A tabular category as RFC 4180 CSV in UTF-8 with a byte-order mark (so spreadsheet programs read
 * accents, emoji and right-to-left text right), one chunk per page. Quotes, commas and newlines in
 * values are quoted; the bytes are those csv-stringify writes (`dsr export verify` checks the header
 * with it), without its per-row stream machinery.
 */
export async function* csvContent(pages: AsyncIterable<StagedRecord[]>, fields: FieldDoc[]): AsyncGenerator<string> {
  const names = fields.map((f) => f.name);
  yield `\ufeff${csvColumns(fields).map(csvValue).join(",")}\n`;
  for await (const page of pages) {
    let out = "";
    for (const r of page) {
      const data = JSON.parse(r.payload) as Record<string, unknown>;
      out += `${csvValue(r.connector)},${csvValue(r.type)},${csvValue(r.id)},${csvValue(r.recordedAt)}`;
      for (const name of names) out += `,${csvValue(data[name])}`;
      out += "\n";
    }
    if (out) yield out;
  }
}
