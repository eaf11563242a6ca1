import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { expect } from "chai";
import { parse } from "csv-parse/sync";
import { SubjectRecord } from "../../src/connectors/sdk";
import { Manifest } from "../../src/export/format";
import { verifyArchive } from "../../src/export/verify";
import { ZipReader } from "../../src/export/zipReader";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, asCsvCell, AWKWARD, completedRequest, download, exportLink, FAST } from "./support";

/** Above JSON_ARRAY_MAX_RECORDS, so both categories are JSON Lines scanned on a worker thread. */
const RECORDS = 12_000;
/** Past the first staged batch (about 256 KiB of lines, a few thousand of these): a field first seen here makes the spilled CSV stale. */
const LATE = 11_000;

type JsonRecord = { connector: string; type: string; id: string; recordedAt: string | null; data: Record<string, unknown> };
const spillDirs = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("dsr-export-spill-")).length;

describeEachDatabase("export of large categories", (db) => {
  let t: TestService;
  let zipFile: string;
  let manifest: Manifest;
  let problems: string[];
  let spillsBefore: number;

  before(async function () {
    this.timeout(120_000);
    const logs = new ScriptedConnector({ name: "auth-log", categories: ["AUTH_LOGS", "SUPPORT"], supports: ["access"] });
    const records: SubjectRecord[] = [];
    for (let i = 0; i < RECORDS; i++) {
      const at = new Date(Date.UTC(2025, 0, 1, 0, 0, i));
      // Same fields on every record: the CSV is written during the JSON pass and read from the spill.
      records.push({ category: "AUTH_LOGS", type: "event", id: `e${i}`, recordedAt: at, data: { device: AWKWARD[i % AWKWARD.length], ok: i % 7 !== 0, ms: i * 1.5, gone: i % 5 ? null : "x" } });
      // A field that first appears after the first page: the CSV is read again from the staged records.
      // Some ids hold quotes, newlines, emoji, right-to-left text and control characters (escaped in the JSON).
      records.push({ category: "SUPPORT", type: "ticket", id: i % 97 ? `t${i}` : `${AWKWARD[i % AWKWARD.length]}\u0001\u001f\u007f#${i}`, recordedAt: at, data: { subject: AWKWARD[(i + 3) % AWKWARD.length], n: i, ...(i >= LATE ? { late: `late, "${i}"` } : {}) } });
    }
    logs.data.set(ADA_EMAIL, records);
    spillsBefore = spillDirs();
    t = await new TestService(db(), FAST, [logs]).start();
    zipFile = (await download((await exportLink(t, await completedRequest(t))).url)).file!;
    const verified = await verifyArchive(zipFile, { portability: true });
    problems = verified.problems;
    manifest = verified.manifest!;
  });
  after(async () => {
    await t?.stop();
    if (zipFile) fs.rmSync(path.dirname(zipFile), { recursive: true, force: true });
  });

  it("writes JSON Lines and a CSV that parses back to the same records, whether the fields are stable or one appears late", async function () {
    this.timeout(60_000);
    expect(problems).to.deep.equal([]);
    const zip = ZipReader.open(zipFile);
    try {
      for (const [category, fields] of [
        ["AUTH_LOGS", ["device", "gone", "ms", "ok"]],
        ["SUPPORT", ["late", "n", "subject"]],
      ] as const) {
        const doc = manifest.categories.find((c) => c.category === category)!;
        expect(doc).to.deep.include({ records: RECORDS, tabular: true });
        expect(doc.fields.map((f) => f.name)).to.deep.equal(fields);
        const name = category.toLowerCase();
        const json: JsonRecord[] = [];
        for await (const line of readline.createInterface({ input: zip.stream(`data/${name}.jsonl`), crlfDelay: Infinity })) if (line) json.push(JSON.parse(line));
        expect(json).to.have.length(RECORDS);
        const rows = parse(await zip.text(`data/${name}.csv`), { bom: true, columns: true, relax_quotes: false }) as Record<string, string>[];
        expect(rows).to.have.length(RECORDS);
        rows.forEach((row, i) => {
          const r = json[i];
          expect(row).to.deep.equal(Object.fromEntries([["connector", asCsvCell(r.connector)], ["type", asCsvCell(r.type)], ["id", asCsvCell(r.id)], ["recordedAt", asCsvCell(r.recordedAt)], ...fields.map((f) => [f, asCsvCell(r.data[f])])]));
        });
      }
    } finally {
      zip.close();
    }
  });

  it("writes every record exactly as JSON.stringify of its envelope and fields, awkward ids included", async () => {
    const zip = ZipReader.open(zipFile);
    try {
      const lines = (await zip.text("data/support.jsonl")).split("\n").filter(Boolean);
      for (const line of lines) {
        const r = JSON.parse(line) as JsonRecord;
        expect(line).to.equal(JSON.stringify({ connector: r.connector, type: r.type, id: r.id, recordedAt: r.recordedAt, data: r.data }));
      }
      expect(lines.filter((l) => l.includes('"late"'))).to.have.length(RECORDS - LATE);
    } finally {
      zip.close();
    }
  });

  it("shows each category's first 100 records in index.html, in the data file's order", async () => {
    const zip = ZipReader.open(zipFile);
    try {
      const html = await zip.text("index.html");
      const events = [...html.matchAll(/<tr><td>auth-log<\/td><td>event<\/td><td>([^<]*)<\/td>/g)].map((m) => m[1]);
      expect(events).to.deep.equal(Array.from({ length: 100 }, (_, i) => `e${i}`));
      expect([...html.matchAll(/<tr><td>auth-log<\/td><td>ticket<\/td>/g)]).to.have.length(100);
    } finally {
      zip.close();
    }
  });

  it("leaves no temporary CSV file behind", () => {
    expect(spillDirs()).to.equal(spillsBefore);
  });
});
