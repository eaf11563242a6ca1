import { Readable } from "node:stream";
import { stringify } from "csv-stringify";
import { CSV_LEADING_COLUMNS, CSV_MAX_FIELDS, FieldDoc, FieldType } from "./format";
import type { ExportRecord } from "./records";

/** What one pass over a category learns: fields and their types, dates, whether it is a table. */
export class CategoryStats {
  records = 0;
  first: string | null = null;
  last: string | null = null;
  private readonly fields = new Map<string, Set<FieldType>>();
  nested = false;
  /** The first value of a `name`-like field, for the greeting of index.html. */
  name: string | null = null;

  observe(r: ExportRecord): void {
    this.records += 1;
    if (r.recordedAt) {
      if (!this.first || r.recordedAt < this.first) this.first = r.recordedAt;
      if (!this.last || r.recordedAt > this.last) this.last = r.recordedAt;
    }
    for (const [key, value] of Object.entries(r.data)) {
      const type: FieldType = value === null ? "null" : Array.isArray(value) ? "array" : (typeof value as FieldType);
      if (type === "object" || type === "array") this.nested = true;
      let types = this.fields.get(key);
      if (!types) this.fields.set(key, (types = new Set()));
      types.add(type);
      if (this.name === null && type === "string" && /^(name|full_?name|display_?name)$/i.test(key)) this.name = value as string;
    }
  }

  get fieldDocs(): FieldDoc[] {
    return [...this.fields.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, types]) => ({ name, types: [...types].sort() }));
  }

  get tabular(): boolean {
    return !this.nested && this.fields.size <= CSV_MAX_FIELDS;
  }
}

const CHUNK_CHARS = 64 * 1024;

/** A category as a JSON array (pretty enough to read, one record per line) or as JSON Lines, in 64 KiB chunks. */
export async function* jsonContent(records: AsyncIterable<ExportRecord>, jsonl: boolean, stats: CategoryStats): AsyncGenerator<string> {
  let out = jsonl ? "" : "[";
  let first = true;
  for await (const r of records) {
    stats.observe(r);
    const line = JSON.stringify({ connector: r.connector, type: r.type, id: r.id, recordedAt: r.recordedAt, data: r.data });
    out += jsonl ? `${line}\n` : `${first ? "\n" : ",\n"}${line}`;
    first = false;
    if (out.length >= CHUNK_CHARS) (yield out, (out = ""));
  }
  if (!jsonl) out += first ? "]\n" : "\n]\n";
  if (out) yield out;
}

/** The CSV columns of a category: the record envelope, then the category's own fields. */
export const csvColumns = (fields: FieldDoc[]) => [...CSV_LEADING_COLUMNS, ...fields.map((f) => f.name)];

/**
 * A tabular category as RFC 4180 CSV in UTF-8 with a byte-order mark (so spreadsheet programs read
 * accents, emoji and right-to-left text right). Quotes, commas and newlines in values are quoted.
 */
export function csvContent(records: AsyncIterable<ExportRecord>, fields: FieldDoc[]): Readable {
  const rows = Readable.from(
    (async function* () {
      for await (const r of records) yield [r.connector, r.type, r.id, r.recordedAt, ...fields.map((f) => r.data[f.name])];
    })(),
  );
  const csv = stringify({ header: true, columns: csvColumns(fields), bom: true, cast: { boolean: (v) => (v ? "true" : "false") } });
  rows.on("error", (error) => csv.destroy(error));
  return rows.pipe(csv);
}
