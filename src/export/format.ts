/** The archive's shape: names here are what people and parsers rely on, so they change only with FORMAT_VERSION. */
export const FORMAT_NAME = "dsr-export";
export const FORMAT_VERSION = 1;

/** Up to this many records a category is one JSON array (data/<category>.json); above, JSON Lines (.jsonl). */
export const JSON_ARRAY_MAX_RECORDS = 10_000;
/** Records per category shown in index.html; the rest are in the data files. */
export const HTML_SAMPLE_RECORDS = 100;
/**
 * Characters of one value shown in index.html; a longer value (a pasted log in a ticket) is cut there,
 * marked as cut, and is whole in the data files. Shown whole, a hundred samples of a few MB each made
 * index.html past V8's longest string (2^29 characters), and the export failed.
 */
export const HTML_CELL_MAX_CHARS = 2_000;
/** A category with more distinct fields than this is not offered as CSV (it would not be a table a person can read). */
export const CSV_MAX_FIELDS = 200;

/** The fields every record has in the JSON files; `data` holds the system's own fields (listed per category). */
export const RECORD_FIELDS = [
  { name: "connector", description: "The system the record comes from." },
  { name: "type", description: "The kind of record in that system (user, session, invoice, ticket, ...)." },
  { name: "id", description: "The record's id in that system." },
  { name: "recordedAt", description: "When the record came into being (ISO 8601, UTC), or null when the system does not say." },
  { name: "data", description: "The record's fields, as the system holds them; documented per category under categories[].fields." },
] as const;

/** JSON types a field was seen with. */
export type FieldType = "string" | "number" | "boolean" | "null" | "object" | "array";

export interface FieldDoc {
  name: string;
  types: FieldType[];
}

export interface ManifestFile {
  path: string;
  category: string | null;
  format: "json" | "jsonl" | "csv" | "text" | "html";
  /** Records per connector in this file (data files only). */
  connectors: Array<{ name: string; records: number }>;
  records: number;
  bytes: number;
  sha256: string;
}

export interface ManifestCategory {
  category: string;
  records: number;
  connectors: Array<{ name: string; records: number }>;
  firstRecordedAt: string | null;
  lastRecordedAt: string | null;
  /** Every field of `data` in this category, with the JSON types it takes. */
  fields: FieldDoc[];
  /** Whether a CSV sits beside the JSON (every value a string, number, boolean or null). */
  tabular: boolean;
  /**
   * The CSV's columns in order (tabular categories only): csvLeadingColumns, then `fields`, a field
   * named like a leading column headed `data.<name>` so that every column has a name of its own.
   */
  csvColumns?: string[];
}

export interface Manifest {
  format: typeof FORMAT_NAME;
  formatVersion: number;
  request: { id: string; type: string; receivedAt: string };
  generatedAt: string;
  recordFields: ReadonlyArray<{ name: string; description: string }>;
  /** The CSV columns before the category's own fields. */
  csvLeadingColumns: string[];
  /** How the CSV files write text that a spreadsheet would run as a formula (CSV_FORMULA_GUARD). */
  csvFormulaGuard: string;
  categories: ManifestCategory[];
  files: ManifestFile[];
  /** Where the service processes personal data (its primary location, ISO 3166-1 alpha-2). */
  processingLocation?: string;
  /**
   * Every connector asked, and what came of it: data included, or why not; and where its system
   * processes the data (ISO 3166-1 alpha-2; null: not recorded).
   */
  connectors: Array<{ name: string; status: string; records: number; note: string | null; processingLocation?: string | null }>;
  /** Connectors whose data is missing from this export (failed or skipped), and why. */
  notIncluded: Array<{ name: string; status: string; reason: string }>;
  /**
   * Records left out on purpose because they are other people's data (another person's comments on a
   * ticket the subject was only copied on), per connector, category and type, with the reason.
   */
  leftOut: Array<{ connector: string; category: string; type: string; records: number; reason: string }>;
  /**
   * Kinds of record a system may hold about the subject that its connector could not search for (so
   * they may be missing from this export), per connector, category and type, with the reason.
   */
  notSearched: Array<{ connector: string; category: string; type: string; reason: string }>;
  /** How long each category is kept and why (the published retention schedule). */
  retention: Array<{ category: string; keptFor: string; legalBasis: string }>;
  /**
   * Record sets an earlier deletion of this person kept and still holds (retention exceptions): which,
   * why, until when (null while a legal hold keeps them).
   */
  retentionExceptions: Array<{ connector: string; category: string; recordType: string; records: number; legalBasis: string; retainUntil: string | null; deletionRequest: string }>;
  /**
   * Records an earlier deletion of this person reported left holding personal data (residual: it
   * could not erase them), with the fields left, why, and when it said so. Named even when the system
   * no longer returns them to a collect.
   */
  residualRecords: Array<{ connector: string; category: string; recordType: string; records: number; fields: string[]; reason: string; deletionRequest: string; reportedAt: string | null }>;
}

/** The published retention schedule (POLICY.md) for the categories the export can hold. */
export const RETENTION_SCHEDULE: Record<string, { keptFor: string; legalBasis: string }> = {
  ACCOUNT: { keptFor: "while the account is active, plus 3 years", legalBasis: "service provision and legal compliance" },
  AUTH_LOGS: { keptFor: "90 days", legalBasis: "security monitoring and fraud prevention" },
  PAYMENTS: { keptFor: "7 years", legalBasis: "tax and financial compliance" },
  SUPPORT: { keptFor: "5 years", legalBasis: "service quality and dispute resolution" },
};

export const CSV_LEADING_COLUMNS = ["connector", "type", "id", "recordedAt"];

/** How the CSV files write text a spreadsheet program would run as a formula (content.ts's spreadsheetText). */
export const CSV_FORMULA_GUARD =
  "A text value (or column name) that starts with =, +, -, @, a tab or a carriage return, after any apostrophes, is written in the CSV files behind one more apostrophe ('), so that a spreadsheet program shows it as text instead of running it as a formula; to read the values back, remove one apostrophe from each cell that matches ^'+[=+\\-@\\t\\r]. The JSON files hold every value exactly as the system does.";

/** data/<category>.<ext>: categories are upper-case words; the file name is their lower-case form. */
export function dataPath(category: string, ext: "json" | "jsonl" | "csv"): string {
  return `data/${category.toLowerCase().replace(/[^a-z0-9_-]/g, "_")}.${ext}`;
}
