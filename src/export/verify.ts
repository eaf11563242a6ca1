import { createHash } from "node:crypto";
import readline from "node:readline";
import { stringify } from "csv-stringify/sync";
import { csvColumns, spreadsheetText } from "./content";
import { FieldDoc, FieldType, Manifest, ManifestFile, RECORD_FIELDS } from "./format";
import type { RandomAccessFile } from "./sealedFile";
import { ZipReader } from "./zipReader";
import { checkManifestSignature, SIGNATURE_FILE } from "./signature";

export interface VerifyResult {
  ok: boolean;
  problems: string[];
  manifest: Manifest | null;
  /** Files whose checksum matched. */
  checked: number;
  /**
   * signature.json: `valid` (by the given key, naming it), `unchecked` (present, no key given), or
   * `unsigned` (absent: an archive from before signatures, or one whose signature was removed).
   */
  signature: { state: "valid"; keyId: string } | { state: "unchecked" | "unsigned" | "invalid" };
}

const ENVELOPE = RECORD_FIELDS.map((f) => f.name).join(",");

function typeOf(value: unknown): FieldType {
  return value === null ? "null" : Array.isArray(value) ? "array" : (typeof value as FieldType);
}

/** Problems of one record against the documented fields of its category (at most one per record). */
function recordProblem(line: unknown, fields: Map<string, Set<string>>): string | null {
  if (typeof line !== "object" || line === null || Array.isArray(line)) return "a record is not a JSON object";
  if (Object.keys(line).join(",") !== ENVELOPE) return `a record's fields are ${Object.keys(line).join(",")}, not ${ENVELOPE}`;
  const data = (line as { data: unknown }).data;
  if (typeof data !== "object" || data === null || Array.isArray(data)) return "a record's data is not an object";
  for (const [key, value] of Object.entries(data)) {
    const types = fields.get(key);
    if (!types) return `field ${key} is not documented in the manifest`;
    if (!types.has(typeOf(value))) return `field ${key} holds a ${typeOf(value)}, documented as ${[...types].join("|")}`;
  }
  return null;
}

/**
 * Streams a CSV (never held whole: a large category's is hundreds of MB): whether it starts with
 * `header`, and how many lines it has, a line break inside a quoted value not ending one (RFC 4180:
 * a quote inside a value is doubled, so quotes toggle in pairs).
 */
async function csvLines(stream: AsyncIterable<Buffer>, header: Buffer): Promise<{ headerMatches: boolean; lines: number }> {
  let head = Buffer.alloc(0);
  let quoted = false;
  let lines = 0;
  for await (const chunk of stream) {
    if (head.length < header.length) {
      head = Buffer.concat([head, chunk.subarray(0, header.length - head.length)]);
      if (!header.subarray(0, head.length).equals(head)) return { headerMatches: false, lines };
    }
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === 0x22) quoted = !quoted;
      else if (c === 0x0a && !quoted) lines += 1;
    }
  }
  return { headerMatches: head.length === header.length, lines };
}

/** Records per connector, in the order first met. */
type Tally = Map<string, number>;
const add = (tally: Tally, name: string, n = 1) => tally.set(name, (tally.get(name) ?? 0) + n);
/** A tally in words: `ticketing: 16, account-db: 3` (`none` when empty). */
const tallyText = (tally: Tally) => [...tally].map(([name, n]) => `${name}: ${n}`).join(", ") || "none";
const tallyOf = (list: unknown): Tally => new Map(Array.isArray(list) ? list.map((c: { name?: unknown; records?: unknown }) => [String(c?.name), Number(c?.records)] as [string, number]) : []);
const sameTally = (a: Tally, b: Tally) => a.size === b.size && [...a].every(([name, n]) => b.get(name) === n);

/**
 * Checks one data file against its documented fields and its counts; returns the records it holds per
 * connector (a JSON or JSON Lines file whose every record was read), or null.
 */
async function checkDataFile(zip: ZipReader, file: ManifestFile, docs: FieldDoc[], problems: string[]): Promise<Tally | null> {
  const fields = new Map(docs.map((d) => [d.name, new Set<string>(d.types)]));
  let records = 0;
  const tally: Tally = new Map();
  const note = (p: string | null) => p && problems.push(`${file.path}: ${p}`);
  if (file.format === "json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await zip.text(file.path));
    } catch {
      return (note("does not parse as JSON"), null);
    }
    if (!Array.isArray(parsed)) return (note("is not a JSON array"), null);
    for (const r of parsed) {
      if (note(recordProblem(r, fields))) return null;
      add(tally, String((r as { connector: unknown }).connector));
    }
    records = parsed.length;
  } else if (file.format === "jsonl") {
    for await (const line of readline.createInterface({ input: zip.stream(file.path), crlfDelay: Infinity })) {
      if (!line) continue;
      records += 1;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return (note(`line ${records} does not parse as JSON`), null);
      }
      if (note(recordProblem(parsed, fields))) return null;
      add(tally, String((parsed as { connector: unknown }).connector));
    }
  } else if (file.format === "csv") {
    const header = Buffer.from(`\ufeff${stringify([csvColumns(docs).map(spreadsheetText)])}`, "utf8");
    const counted = await csvLines(zip.stream(file.path), header);
    if (!counted.headerMatches) return (note("the CSV header does not match the documented fields"), null);
    records = counted.lines - 1;
  }
  if (records !== file.records) note(`holds ${records} records, the manifest says ${file.records}`);
  if (file.format !== "json" && file.format !== "jsonl") return null;
  // Whose records they are: each system's count as the file holds it.
  const claimed = tallyOf(file.connectors);
  for (const name of new Set([...tally.keys(), ...claimed.keys()])) {
    if ((tally.get(name) ?? 0) !== (claimed.get(name) ?? 0)) note(`holds ${tally.get(name) ?? 0} records from ${name}, the manifest says ${claimed.get(name) ?? 0}`);
  }
  return tally;
}

/**
 * Each category's and each connector's counts in the manifest against what its data files hold
 * (`held`: per category, the records per connector its JSON or JSON Lines files hold).
 */
function checkTotals(manifest: Manifest, held: Map<string, Tally>, problems: string[]): void {
  const byConnector: Tally = new Map();
  for (const c of manifest.categories) {
    const tally = held.get(c.category) ?? new Map<string, number>();
    const total = [...tally.values()].reduce((n, x) => n + x, 0);
    if (total !== c.records) problems.push(`category ${c.category}: its data files hold ${total} records, the manifest says ${c.records}`);
    else if (!sameTally(tally, tallyOf(c.connectors))) problems.push(`category ${c.category}: its data files hold ${tallyText(tally)}, the manifest says ${tallyText(tallyOf(c.connectors))}`);
    for (const [name, n] of tally) add(byConnector, name, n);
  }
  for (const c of Array.isArray(manifest.connectors) ? manifest.connectors : []) {
    const n = byConnector.get(c.name) ?? 0;
    if (n !== c.records) problems.push(`connector ${c.name}: the data files hold ${n} of its records, the manifest says ${c.records}`);
  }
}

/** The manifest in `text`, or null when it is not one (not JSON, or without the lists verify reads). */
function manifestOf(text: string): Manifest | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const m = parsed as Partial<Manifest> | null;
  const isObject = (x: unknown) => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isObject(m) || !isObject(m!.request) || !Array.isArray(m!.files) || !Array.isArray(m!.categories)) return null;
  if (!m!.files.every((f) => isObject(f) && typeof f.path === "string")) return null;
  if (!m!.categories.every((c) => isObject(c) && typeof c.category === "string" && Array.isArray(c.fields))) return null;
  return m as Manifest;
}

/**
 * Checks a (decrypted) export archive: every file the manifest lists is there once, under the same name
 * in its local header, with its size and sha256, nothing unlisted is there, and (`portability`) every JSON file parses and its records have exactly
 * the documented envelope and only documented fields, of documented types, and every data file (a CSV
 * too) holds as many records as the manifest says: each JSON file as many of each connector as its
 * `connectors` say, and each category and each connector in all as many as the manifest counts.
 */
export async function verifyArchive(file: string | RandomAccessFile, options: { portability?: boolean; publicKeyPem?: string } = {}): Promise<VerifyResult> {
  const problems: string[] = [];
  const zip = ZipReader.open(file);
  let checked = 0;
  let signature: VerifyResult["signature"] = { state: "unsigned" };
  try {
    if (!zip.entry("manifest.json")) return { ok: false, problems: ["manifest.json is missing"], manifest: null, checked, signature };
    const manifestText = await zip.text("manifest.json");
    const manifest = manifestOf(manifestText);
    if (!manifest) return { ok: false, problems: ["manifest.json is not a manifest of this format (a JSON object with files and categories)"], manifest: null, checked, signature };
    if (zip.entry(SIGNATURE_FILE)) {
      if (options.publicKeyPem === undefined) signature = { state: "unchecked" };
      else {
        const check = checkManifestSignature(await zip.text(SIGNATURE_FILE), Buffer.from(manifestText, "utf8"), manifest.request.id, options.publicKeyPem);
        signature = check.ok ? { state: "valid", keyId: check.keyId } : { state: "invalid" };
        if (!check.ok) problems.push(check.problem);
      }
    } else if (options.publicKeyPem !== undefined) problems.push(`${SIGNATURE_FILE} is missing: nothing vouches that the service made this archive`);
    const listed = new Set(manifest.files.map((f) => f.path));
    const seen = new Set<string>();
    for (const e of zip.entries) {
      // Extracting tools disagree on which of two same-named entries wins (unzip: the last); the checks below read the first.
      if (seen.has(e.name)) problems.push(`${e.name} is in the archive more than once`);
      else if (e.name !== "manifest.json" && e.name !== SIGNATURE_FILE && !listed.has(e.name)) problems.push(`${e.name} is in the archive but not in the manifest`);
      seen.add(e.name);
    }
    // Per category, what its JSON and JSON Lines files hold per connector; null once one could not be read whole.
    let held: Map<string, Tally> | null = new Map();
    for (const f of manifest.files) {
      if (!zip.entry(f.path)) {
        problems.push(`${f.path} is listed in the manifest but missing`);
        continue;
      }
      const hash = createHash("sha256");
      let bytes = 0;
      try {
        for await (const chunk of zip.stream(f.path)) (hash.update(chunk as Buffer), (bytes += (chunk as Buffer).length));
      } catch (error) {
        problems.push(`${f.path}: ${(error as Error).message}`);
        continue;
      }
      if (hash.digest("hex") !== f.sha256 || bytes !== f.bytes) problems.push(`${f.path}: checksum does not match the manifest`);
      else checked += 1;
      if (options.portability && f.category) {
        const docs = manifest.categories.find((c) => c.category === f.category)?.fields;
        if (!docs) problems.push(`${f.path}: category ${f.category} is not documented`);
        else {
          const tally = await checkDataFile(zip, f, docs, problems);
          if (tally && held) for (const [name, n] of tally) add(held.get(f.category) ?? held.set(f.category, new Map()).get(f.category)!, name, n);
          else if (f.format === "json" || f.format === "jsonl") held = null;
        }
      }
    }
    if (options.portability && held) checkTotals(manifest, held, problems);
    return { ok: problems.length === 0, problems, manifest, checked, signature };
  } finally {
    zip.close();
  }
}
