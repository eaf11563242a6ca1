import { Writable } from "node:stream";
import { DataSource, EntityTarget, ObjectLiteral, SelectQueryBuilder } from "typeorm";
import { ConnectorError } from "../connectors/sdk";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { keptSubjectEmail, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, TaskRow } from "../entities";
import { keptSetForSubject } from "../presenters/holdPrivacy";
import { currentResidue } from "../queries/deletionOutcomeFinder";
import { CategorySummary, csvColumns, csvContent, jsonContent } from "./content";
import {
  CSV_FORMULA_GUARD,
  CSV_LEADING_COLUMNS,
  dataPath,
  FORMAT_NAME,
  FORMAT_VERSION,
  HTML_SAMPLE_RECORDS,
  JSON_ARRAY_MAX_RECORDS,
  Manifest,
  ManifestCategory,
  ManifestFile,
  RECORD_FIELDS,
  RETENTION_SCHEDULE,
} from "./format";
import { renderIndexHtml, renderReadme } from "./html";
import { inlineScanner, workerScanner } from "./scan";
import { readSpill } from "./spill";
import { collectTasks, countSources, ExportRecord, readJsonLines, readPages } from "./records";
import { ZipWriter } from "./zip";
import { SIGNATURE_FILE, signManifest } from "./signature";
import type { CertificateKey } from "../certificates/signing";

const DEFAULT_LEVEL = 1;

export interface MergeOptions {
  now: Date;
  /**
   * deflate level of the ZIP (0-9). Default 1: on JSON and CSV it compresses 2-3 times faster than 6 for
   * an archive about a quarter larger (1,000,000 auth events: 38 MB instead of 30 MB), and compression
   * shares the machine's cores with reading and parsing the records.
   */
  level?: number;
  /** Extends the task's lease between files. */
  heartbeat?: () => Promise<void>;
  /** The request's staging key (null when nothing was staged); the caller zeroes it afterwards. */
  stagingKey: Buffer | null;
  /** The service's signing key (the certificates'): signature.json vouches for manifest.json with it. Absent: the archive is not signed. */
  signingKey?: CertificateKey;
  /** Where data is processed: the service's primary location, and each connector's (null: not recorded). Absent: not stated in the manifest. */
  processingLocations?: { primary: string; byConnector: Record<string, string | null> };
}

/**
 * Merges what a request's COLLECT tasks staged into one ZIP written to `out`: per category a JSON (or
 * JSON Lines) file and, when the records are flat, a CSV beside it; then README.txt, index.html and
 * manifest.json. Records are read a staged batch at a time and streamed through the compressor, so memory does
 * not grow with the subject's data; each category is read once (its CSV waits in an encrypted
 * temporary file while its JSON is compressed), twice when a field first appears after its first page.
 */
export async function writeArchive(ds: DataSource, request: RequestRow, out: Writable, options: MergeOptions): Promise<Manifest> {
  const zip = new ZipWriter(out, options.now, options.level ?? DEFAULT_LEVEL);
  try {
    const tasks = await collectTasks(ds, request.id);
    const counts = await countSources(ds, tasks);
    const key = options.stagingKey;
    if (counts.length && !key) throw new ConnectorError("The collected records are no longer staged (they are removed DSR_STAGED_GRACE_MINUTES after a request ends): submit a new request", "staging key missing while staged batches remain", false);
    const categories = [...new Set(counts.map((c) => c.category))].sort();
    const files: ManifestFile[] = [];
    const docs: ManifestCategory[] = [];
    let person: string | null = null;
    // index.html's first records of each category, kept while its JSON is written.
    const samples = new Map<string, ExportRecord[]>();
    for (const category of categories) {
      const sources = counts.filter((c) => c.category === category);
      const connectors = sources.map((s) => ({ name: s.connector, records: s.records }));
      const total = sources.reduce((n, s) => n + s.records, 0);
      const jsonl = total > JSON_ARRAY_MAX_RECORDS;
      const path = dataPath(category, jsonl ? "jsonl" : "json");
      // A large category is parsed, summarized and turned into CSV on a thread of its own.
      const scanner = jsonl ? workerScanner() : inlineScanner();
      let stats: CategorySummary;
      try {
        const sampled = { limit: HTML_SAMPLE_RECORDS, records: [] as ExportRecord[] };
        const json = await zip.add(path, jsonContent(readJsonLines(ds, key!, sources, category, { onPage: options.heartbeat }), jsonl, scanner, sampled));
        samples.set(category, sampled.records);
        const scanned = await scanner.finish();
        stats = scanned.summary;
        files.push({ path, category, format: jsonl ? "jsonl" : "json", connectors, records: stats.records, ...json });
        await options.heartbeat?.();
        if (stats.tabular) {
          const csvPath = dataPath(category, "csv");
          const csv = await zip.add(csvPath, scanned.csv ? readSpill(scanned.csv) : csvContent(readPages(ds, key!, sources, category, { onPage: options.heartbeat }), stats.fields));
          files.push({ path: csvPath, category, format: "csv", connectors, records: stats.records, ...csv });
          await options.heartbeat?.();
        }
      } finally {
        await scanner.close();
      }
      if (category === "ACCOUNT" && stats.name) person = stats.name;
      else person ??= stats.name;
      docs.push({ category, records: stats.records, connectors, firstRecordedAt: stats.first, lastRecordedAt: stats.last, fields: stats.fields, tabular: stats.tabular, ...(stats.tabular ? { csvColumns: csvColumns(stats.fields) } : {}) });
    }
    const subjectEmail = keptSubjectEmail(request);
    const earlier = { retentionExceptions: await openExceptions(ds, subjectEmail), residualRecords: await earlierResidue(ds, subjectEmail) };
    const manifest = buildManifest(request, tasks, counts, docs, files, options.now, earlier, options.processingLocations);
    const readme = await zip.add("README.txt", renderReadme(manifest));
    manifest.files.push({ path: "README.txt", category: null, format: "text", connectors: [], records: 0, ...readme });
    const html = await zip.add("index.html", renderIndexHtml(manifest, person ?? subjectEmail, samples));
    manifest.files.push({ path: "index.html", category: null, format: "html", connectors: [], records: 0, ...html });
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    await zip.add("manifest.json", manifestText);
    if (options.signingKey) await zip.add(SIGNATURE_FILE, signManifest(manifestText, request.id, options.signingKey));
    await zip.finish(out);
    return manifest;
  } catch (error) {
    zip.abort();
    throw error;
  }
}

/** Rows of `entity` (aliased `alias`) that belong to requests about `email`. */
function ofRequestsAbout<T extends ObjectLiteral>(ds: DataSource, entity: EntityTarget<T>, alias: string, email: string): SelectQueryBuilder<T> {
  return ds.getRepository(entity).createQueryBuilder(alias).innerJoin(RequestRow, "r", `r.id = ${alias}.requestId`).where("r.subjectEmail = :email", { email });
}

/** The person's open retention exceptions, from every deletion about the same email. */
async function openExceptions(ds: DataSource, email: string): Promise<Manifest["retentionExceptions"]> {
  const rows = await ofRequestsAbout(ds, RetentionExceptionRow, "e", email)
    .andWhere("e.status = :open", { open: RetentionExceptionStatus.OPEN })
    .orderBy("e.connector", "ASC")
    .addOrderBy("e.category", "ASC")
    .addOrderBy("e.recordType", "ASC")
    .getMany();
  // The archive is the person's: a hold's set is "kept for legal reasons", never its case or reason (holdPrivacy.ts).
  return rows.map((e) => ({ ...keptSetForSubject(e), deletionRequest: e.requestId }));
}

/**
 * What earlier deletions of the person reported left holding personal data (residual: records their
 * erasure could not erase, such as a payment dispute's evidence), with when they said so. A residual
 * record may no longer be found by its system (its customer deleted, its payment redacted): the export
 * still names it, as the deletion reported it.
 */
async function earlierResidue(ds: DataSource, email: string): Promise<Manifest["residualRecords"]> {
  const tasks = await ofRequestsAbout(ds, TaskRow, "t", email)
    .andWhere("t.step IN (:...steps)", { steps: [TaskStep.ERASE, TaskStep.PURGE] })
    .orderBy("t.finishedAt", "ASC")
    .addOrderBy("t.connector", "ASC")
    .getMany();
  // What each deletion names residual now: a purge's sets replace its erasure's for what it purged (and residue kept records held back, which it erased).
  const byRequest = new Map<string, TaskRow[]>();
  for (const t of tasks) byRequest.set(t.requestId, [...(byRequest.get(t.requestId) ?? []), t]);
  return [...byRequest.values()].flatMap((ofRequest) => currentResidue(ofRequest).map(({ task, set }) => ({ ...set, fields: [...set.fields], deletionRequest: task.requestId, reportedAt: task.finishedAt?.toISOString() ?? null })));
}

function buildManifest(
  request: RequestRow,
  tasks: TaskRow[],
  counts: Awaited<ReturnType<typeof countSources>>,
  categories: ManifestCategory[],
  files: ManifestFile[],
  now: Date,
  earlier: Pick<Manifest, "retentionExceptions" | "residualRecords">,
  locations?: MergeOptions["processingLocations"],
): Manifest {
  const recordsOf = (connector: string) => counts.filter((c) => c.connector === connector).reduce((n, c) => n + c.records, 0);
  const located = (connector: string) => (locations ? { processingLocation: locations.byConnector[connector] ?? null } : {});
  const connectors = tasks.map((t) => ({ name: t.connector, status: t.status, records: recordsOf(t.connector), note: t.status === TaskStatus.SUCCEEDED ? null : (t.note ?? t.lastError), ...located(t.connector) }));
  return {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    request: { id: request.id, type: request.type, receivedAt: request.receivedAt.toISOString() },
    generatedAt: now.toISOString(),
    ...(locations ? { processingLocation: locations.primary } : {}),
    recordFields: RECORD_FIELDS,
    csvLeadingColumns: CSV_LEADING_COLUMNS,
    csvFormulaGuard: CSV_FORMULA_GUARD,
    categories,
    files,
    connectors,
    notIncluded: connectors
      .filter((c) => c.status !== TaskStatus.SUCCEEDED)
      .map((c) => ({ name: c.name, status: c.status, reason: c.note ?? (c.status === TaskStatus.FAILED ? "the system failed" : "not run") })),
    leftOut: tasks
      .filter((t) => t.status === TaskStatus.SUCCEEDED)
      .flatMap((t) => (t.result?.leftOut ?? []).map((l) => ({ connector: t.connector, category: String(l.category), type: l.type, records: l.count, reason: l.reason }))),
    notSearched: tasks
      .filter((t) => t.status === TaskStatus.SUCCEEDED)
      .flatMap((t) => (t.result?.notSearched ?? []).map((n) => ({ connector: t.connector, category: String(n.category), type: n.type, reason: n.reason }))),
    retention: categories.filter((c) => RETENTION_SCHEDULE[c.category]).map((c) => ({ category: c.category, ...RETENTION_SCHEDULE[c.category] })),
    ...earlier,
  };
}
