import fs from "node:fs";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Connector, SubjectRecord } from "../../src/connectors/sdk";
import { Role } from "../../src/domain/enums";
import { Manifest } from "../../src/export/format";
import { ZipReader } from "../../src/export/zipReader";
import { tempDir, TestDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn } from "../../src/sample/zendesk";
import { connectorFor, startStandIn } from "../connectors/support/zendeskStandIn";

/** A worker that runs tasks at once, so requests reach their end within a test. */
export const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_TASK_MAX_ATTEMPTS: "2" };
export const ADA_EMAIL = "ada.lovelace@example.com";

/** Values that break naive CSV writers and readers: commas, quotes, newlines, emoji, right-to-left text. */
export const AWKWARD = [
  'Printer on fire, "again"',
  "line one\nline two\r\nline three",
  "Thanks 🙏🏽 — works now ✅",
  "مرحبا، أحتاج مساعدة في حسابي",
  "שלום, \"עולם\"",
  "  leading and trailing spaces  ",
  "=SUM(A1:A2)",
  "",
];

/** Text a spreadsheet program runs as a formula when a CSV cell starts with it (OWASP's CSV injection list). */
export const FORMULA_START = /^[=+\-@\t\r]/;
/** A CSV cell read back as manifest.csvFormulaGuard (and the README, for breach rosters) says: one apostrophe off a guarded cell. */
export const readCsvCell = (cell: string) => (/^'+[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell);
/** A JSON value as the export's CSV holds it: empty for null, text a spreadsheet would run (after any apostrophes) behind one more apostrophe (manifest.csvFormulaGuard). */
export const asCsvCell = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "string" && /^'*[=+\-@\t\r]/.test(v) ? `'${v}` : String(v));

/** Support tickets whose subjects and bodies hold the awkward values, plus numbers, booleans and nulls. */
export function ticketingConnector(count = AWKWARD.length * 2): ScriptedConnector {
  const tickets = new ScriptedConnector({ name: "ticketing", categories: ["SUPPORT"], supports: ["access", "erasure"] });
  const records: SubjectRecord[] = Array.from({ length: count }, (_, i) => ({
    category: "SUPPORT",
    type: "ticket",
    id: `t-${1000 + i}`,
    recordedAt: new Date(Date.UTC(2024, 0, 1 + i)),
    data: { subject: AWKWARD[i % AWKWARD.length], body: AWKWARD[(i + 3) % AWKWARD.length], priority: i % 3, solved: i % 2 === 0, assignee: i % 4 === 0 ? null : "agent" },
  }));
  tickets.data.set(ADA_EMAIL, records);
  return tickets;
}

/** Submits, approves and waits for the end of a request; returns its id. */
export async function completedRequest(t: TestService, type = "ACCESS", status = "COMPLETED"): Promise<string> {
  const r = await submit(t, { type, identityVerified: true, verificationEvidence: "test" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  await t.waitFor(async () => {
    const x = (await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request;
    return x.status === status ? true : undefined;
  }, `request ${status}`, 30_000);
  return r.id;
}

export async function exportLink(t: TestService, requestId: string, ttl?: number, as: Role = Role.PRIVACY_OFFICER): Promise<{ url: string; expiresAt: string }> {
  return (await t.ok(`mutation($id: ID!, $ttl: Int) { createExportLink(requestId: $id, ttl: $ttl) { url expiresAt } }`, { id: requestId, ttl }, as)).createExportLink;
}

/** Downloads a link into a new file; returns the HTTP status and the file (when 200). */
export async function download(url: string): Promise<{ status: number; file: string | null; body: Buffer }> {
  const response = await fetch(url);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) return { status: response.status, file: null, body };
  const file = path.join(tempDir("dsr-download-"), "export.zip");
  fs.writeFileSync(file, body);
  return { status: 200, file, body };
}

/** Renders a page in Debian's headless Chromium and returns the DOM it built. */
export async function renderInChromium(htmlFile: string): Promise<string> {
  return (await chromiumRender(htmlFile)).dom;
}

/** Renders a page in Debian's headless Chromium: the DOM it built, and what the page's console said (Content-Security-Policy refusals among it). */
export async function chromiumRender(htmlFile: string): Promise<{ dom: string; console: string[] }> {
  const profile = tempDir("dsr-chromium-");
  try {
    const { stdout, stderr } = await promisify(execFile)(
      "/usr/bin/chromium",
      [
        "--enable-logging=stderr",
        "--v=0",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        "--dump-dom",
        `file://${htmlFile}`,
      ],
      { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { dom: stdout, console: stderr.split("\n").filter((l) => l.includes(":CONSOLE")) };
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** A request's export, downloaded through a fresh link: the saved archive and its manifest. */
export async function downloadedExport(t: TestService, requestId: string): Promise<{ file: string; manifest: Manifest }> {
  const got = await download((await exportLink(t, requestId)).url);
  if (!got.file) throw new Error(`download refused with ${got.status}`);
  const zip = ZipReader.open(got.file);
  try {
    return { file: got.file, manifest: JSON.parse(await zip.text("manifest.json")) as Manifest };
  } finally {
    zip.close();
  }
}

/** An archive's index.html, opened as the person would (saved, then rendered offline in Debian's Chromium): its text and the DOM built. */
export async function openIndexHtml(zipFile: string): Promise<{ source: string; dom: string }> {
  if (!fs.existsSync("/usr/bin/chromium")) throw new Error("Debian's chromium is required: apt-get install -y chromium");
  const zip = ZipReader.open(zipFile);
  const html = path.join(tempDir(), "index.html");
  try {
    fs.writeFileSync(html, await zip.text("index.html"));
  } finally {
    zip.close();
  }
  return { source: fs.readFileSync(html, "utf8"), dom: await renderInChromium(html) };
}

/** The manifest of a request's export, fetched through a fresh link. */
export async function exportedManifest(t: TestService, requestId: string): Promise<Manifest> {
  return (await downloadedExport(t, requestId)).manifest;
}

/** An ACCOUNT connector whose COLLECT finds nothing and ends only when `until` settles: the request's EXPORT waits for it. */
export function heldCollect(until: Promise<unknown>): Connector {
  return {
    spec: { name: "held", version: "1", supports: ["access"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },
    async check() {
      return { ok: true, message: "ok" };
    },
    async *collect(): AsyncIterable<SubjectRecord> {
      await until;
      yield* [];
    },
  };
}

/** An archive's manifest, the text of its data files (every record id is in it), index.html and README.txt. */
export async function archiveTexts(file: string): Promise<{ manifest: Manifest; data: string; html: string; readme: string }> {
  const zip = ZipReader.open(file);
  try {
    const manifest = JSON.parse(await zip.text("manifest.json")) as Manifest;
    let data = "";
    for (const f of manifest.files.filter((x) => x.category !== null)) data += await zip.text(f.path);
    return { manifest, data, html: await zip.text("index.html"), readme: await zip.text("README.txt") };
  } finally {
    zip.close();
  }
}

/** A service whose one connector is a Zendesk one on a fresh stand-in, with support threads kept `supportPeriod` from their last activity. */
export async function zendeskService(db: TestDatabase, supportPeriod: string): Promise<{ z: ZendeskStandIn; connector: ZendeskConnector; t: TestService; stop: () => Promise<void> }> {
  const z = await startStandIn();
  const connector = connectorFor(z);
  const rules = [{ category: "SUPPORT", period: supportPeriod, legalBasis: "dispute resolution", basisKind: "LEGITIMATE_INTEREST" }];
  const t = await new TestService(db, { ...FAST, DSR_RETENTION_RULES: JSON.stringify(rules) }, [connector]).start();
  return { z, connector, t, stop: async () => (await t.stop(), await connector.close(), await z.close()) };
}

/** A fresh zendeskService for each test of the suite (started beforeEach, stopped afterEach), handed to `use`. */
export function zendeskServiceEach(db: () => TestDatabase, supportPeriod: string, use: (s: { z: ZendeskStandIn; connector: ZendeskConnector; t: TestService }) => void): void {
  let stop: (() => Promise<void>) | undefined;
  beforeEach(async function () {
    this.timeout(60_000);
    const started = await zendeskService(db(), supportPeriod);
    stop = started.stop;
    use(started);
  });
  afterEach(() => stop?.());
}

/** Submits a request about `email` (identity verified), approves it, and answers `show`'s request once it has ended, with its id. */
export async function finishedRequest(t: TestService, type: string, email: string, show: string): Promise<any> {
  const r = await submit(t, { type, subject: { email }, identityVerified: true, verificationEvidence: "signed-in session" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  const done = await t.waitFor(async () => {
    const x = (await t.ok(show, { id: r.id })).request;
    return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
  }, `${type} finished`, 30_000);
  return { id: r.id as string, ...done };
}
