import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { expect } from "chai";
import { parse } from "csv-parse/sync";
import { SubjectRecord } from "../../src/connectors/sdk";
import { HTML_CELL_MAX_CHARS, Manifest } from "../../src/export/format";
import { verifyArchive } from "../../src/export/verify";
import { ZipReader } from "../../src/export/zipReader";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, asCsvCell, completedRequest, downloadedExport, FAST, renderInChromium } from "./support";

type JsonRecord = { connector: string; type: string; id: string; recordedAt: string | null; data: Record<string, unknown> };

/** Values a system may hold that trip up writers and readers of JSON, CSV and HTML. */
const ODD = {
  nul: "a\u0000b",
  controls: `${Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("")}\u007f\u0085`,
  /** Lone surrogates: JSON keeps them as escapes; UTF-8 (the CSV, index.html) cannot hold them. */
  lone: "x\ud800y\udc00z",
  emoji: "👩🏽‍💻 🇮🇳 e\u0301 مرحبا",
  past53: 2 ** 60,
  tiny: 5e-324,
  huge: 1e300,
  negative: -12.5,
  bom: "\ufeff=1+1",
};
/** A pasted log in a ticket: several MB of text. */
const LONG = `${"0123456789".repeat(300_000)}<script>document.title='pwned'</script>🙂`;
const LONG_RECORDS = 8;
/** A name field holding far more than a name (index.html greets the person with it). */
const NAME = `Ada ${"L".repeat(2_000_000)}`;
/** Past JSON_ARRAY_MAX_RECORDS: the category is JSON Lines, its CSV written by the transcoder thread. */
const MANY = 10_020;

const bytesOf = async (zip: ZipReader, name: string) => {
  const chunks: Buffer[] = [];
  for await (const c of zip.stream(name)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
};
const jsonRecords = (f: { format: string }, text: string): JsonRecord[] =>
  f.format === "json" ? (JSON.parse(text) as JsonRecord[]) : text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as JsonRecord);
/** What a CSV cell holds of a value: asCsvCell, with a lone surrogate as UTF-8 writes it (U+FFFD). */
const csvCellOf = (v: unknown) => (asCsvCell(v) as string & { toWellFormed(): string }).toWellFormed();

describeEachDatabase("export of unusual values", (db) => {
  let t: TestService;
  let file: string;
  let manifest: Manifest;
  /** What the systems hold, by record id. */
  const held = new Map<string, SubjectRecord>();

  before(async function () {
    this.timeout(240_000);
    const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT", "ACCOUNT"], supports: ["access"] });
    const logs = new ScriptedConnector({ name: "logs", categories: ["AUTH_LOGS"], supports: ["access"] });
    const forms = new ScriptedConnector({ name: "forms", categories: ["SUPPORT"], supports: ["access"] });
    const own: SubjectRecord[] = [];
    for (let i = 0; i < LONG_RECORDS; i++) own.push({ category: "SUPPORT", type: "ticket", id: `t${i}`, recordedAt: new Date(Date.UTC(2024, 0, 1 + i)), data: { ...ODD, body: LONG, n: i } });
    own.push({ category: "ACCOUNT", type: "user", id: "u1", data: { name: NAME, profile: { tags: ["a", { deep: null }], since: new Date(Date.UTC(2020, 1, 2)) }, born: new Date(Date.UTC(1815, 11, 10)), unknown: new Date(NaN) } });
    tickets.data.set(ADA_EMAIL, own);
    // Dated past year 9999 (a system's "never" sentinel), in 2023, and not at all.
    const formDates = [new Date(Date.UTC(10_000, 0, 1)), new Date(Date.UTC(2023, 5, 1)), undefined];
    forms.data.set(ADA_EMAIL, formDates.map((recordedAt, i) => ({ category: "SUPPORT", type: "form", id: `f${i}`, recordedAt, data: { ...ODD, n: i, answer: `=${i}+1` } })));
    logs.data.set(
      ADA_EMAIL,
      Array.from({ length: MANY }, (_, i) => ({ category: "AUTH_LOGS", type: "event", id: `e${i}`, recordedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)), data: i % 1000 ? { nul: "plain", n: i } : { ...ODD, n: i } })),
    );
    for (const c of [tickets, forms, logs]) for (const r of c.data.get(ADA_EMAIL)!) held.set(r.id, r);
    t = await new TestService(db(), FAST, [tickets, forms, logs]).start();
    ({ file, manifest } = await downloadedExport(t, await completedRequest(t)));
  });
  after(async () => {
    await t?.stop();
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it("writes every file valid and exact: JSON as the systems hold it, CSV row by row the same, counts and checksums as the manifest says", async function () {
    this.timeout(120_000);
    const verified = await verifyArchive(file, { portability: true });
    expect(verified.problems).to.deep.equal([]);
    const zip = ZipReader.open(file);
    try {
      const counted: Record<string, Record<string, number>> = {};
      for (const f of manifest.files) {
        const bytes = await bytesOf(zip, f.path);
        expect([bytes.length, createHash("sha256").update(bytes).digest("hex")], f.path).to.deep.equal([f.bytes, f.sha256]);
        if (f.format !== "json" && f.format !== "jsonl") continue;
        const records = jsonRecords(f, bytes.toString("utf8"));
        const perConnector: Record<string, number> = {};
        for (const r of records) {
          perConnector[r.connector] = (perConnector[r.connector] ?? 0) + 1;
          // Exactly the system's values, as JSON.stringify writes them (a date as ISO 8601, an invalid one as null).
          expect(r.data, r.id).to.deep.equal(JSON.parse(JSON.stringify(held.get(r.id)!.data)));
        }
        counted[f.category!] = perConnector;
        expect(f.connectors.map((c) => [c.name, c.records]), f.path).to.deep.equal(Object.entries(perConnector).sort());
        expect(f.records).to.equal(records.length);
        const csv = manifest.files.find((x) => x.category === f.category && x.format === "csv");
        const doc = manifest.categories.find((c) => c.category === f.category)!;
        expect(doc.connectors).to.deep.equal(f.connectors);
        expect(doc.records).to.equal(records.length);
        // In time order (an ISO 8601 year past 9999 is written +010000, and sorts as text before 2024).
        const dates = records.map((r) => r.recordedAt).filter((d): d is string => d !== null).sort((a, b) => Date.parse(a) - Date.parse(b));
        expect([doc.firstRecordedAt, doc.lastRecordedAt], f.path).to.deep.equal([dates[0] ?? null, dates.at(-1) ?? null]);
        if (!csv) {
          expect(doc.tabular, f.path).to.equal(false);
          continue;
        }
        // The CSV read by a real CSV parser: row for row and cell for cell the JSON's records.
        const [header, ...rows] = parse((await bytesOf(zip, csv.path)).toString("utf8"), { bom: true }) as string[][];
        expect(header).to.deep.equal(doc.csvColumns);
        expect(rows).to.have.length(records.length);
        const fields = doc.fields.map((x) => x.name);
        records.forEach((r, i) => expect(rows[i], r.id).to.deep.equal([r.connector, r.type, r.id, r.recordedAt, ...fields.map((x) => r.data[x])].map(csvCellOf)));
      }
      expect(counted).to.deep.equal({ ACCOUNT: { tickets: 1 }, AUTH_LOGS: { logs: MANY }, SUPPORT: { forms: 3, tickets: LONG_RECORDS } });
      expect(manifest.connectors.map((c) => [c.name, c.records])).to.deep.equal([["forms", 3], ["logs", MANY], ["tickets", LONG_RECORDS + 1]]);
    } finally {
      zip.close();
    }
  });

  it("shows a very long value in index.html cut to its first characters, marked so, and holds it whole in the JSON and CSV", async function () {
    this.timeout(120_000);
    const zip = ZipReader.open(file);
    let html: string;
    try {
      html = await zip.text("index.html");
      const tickets = JSON.parse(await zip.text("data/support.json")) as JsonRecord[];
      expect(tickets.filter((r) => r.data.body === LONG)).to.have.length(LONG_RECORDS);
      const csv = parse(await zip.text("data/support.csv"), { bom: true, columns: true }) as Record<string, string>[];
      expect(csv.filter((r) => r.body === LONG)).to.have.length(LONG_RECORDS);
    } finally {
      zip.close();
    }
    // Before: every sample shown whole (8 x 3 MB); 100 such records are past V8's longest string, and the export failed.
    expect(Buffer.byteLength(html), "index.html bytes").to.be.below(1_000_000);
    const saved = path.join(tempDir(), "index.html");
    fs.writeFileSync(saved, html);
    const dom = await renderInChromium(saved);
    expect(dom).not.to.match(/<script/i);
    expect(dom).to.include("<title>Your data</title>");
    const cut = `${LONG.slice(0, HTML_CELL_MAX_CHARS)}… (${(LONG.length - HTML_CELL_MAX_CHARS).toLocaleString("en")} more characters, in full in the data files)`;
    expect(dom.split(cut).length - 1, "cut values").to.equal(LONG_RECORDS);
    expect(dom).to.include(`<span id="person">${NAME.slice(0, HTML_CELL_MAX_CHARS)}… (${(NAME.length - HTML_CELL_MAX_CHARS).toLocaleString("en")} more characters, in full in the data files)</span>`);
    expect(dom).to.include("👩🏽‍💻 🇮🇳 e\u0301 مرحبا");
  });
});
