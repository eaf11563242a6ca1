import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parse } from "csv-parse/sync";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { Connector, SubjectRecord } from "../../src/connectors/sdk";
import { testContext } from "../../src/connectors/testing/testContext";
import { Role } from "../../src/domain/enums";
import { Manifest } from "../../src/export/format";
import { verifyArchive } from "../../src/export/verify";
import { ZipReader } from "../../src/export/zipReader";
import { withProcessingLocation } from "../../src/orchestrator/registry";
import { ADA, AccountDb, accountDbConfig } from "../connectors/support/accountDb";
import { createSqliteDatabase, describeEachDatabase, tempDir, TestDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { asCsvCell, completedRequest, download, downloadedExport, exportLink, FAST, openIndexHtml, ticketingConnector } from "./support";

/** What a connector holds for Ada, per category, asked directly (not through the service). */
async function holdings(connector: Connector): Promise<Record<string, SubjectRecord[]>> {
  const out: Record<string, SubjectRecord[]> = {};
  for await (const r of connector.collect(ADA, testContext())) (out[r.category] ??= []).push(r);
  return out;
}


describeEachDatabase("export of an access request", (db) => {
  let accountDb: TestDatabase;
  let account: AccountDb;
  let sql: SqlConnector;
  let tickets: ScriptedConnector;
  let t: TestService;
  let requestId: string;
  let zipFile: string;
  let manifest: Manifest;

  before(async function () {
    this.timeout(120_000);
    accountDb = await createSqliteDatabase();
    account = await AccountDb.create(accountDb);
    sql = createSqlConnector(accountDbConfig(), { url: accountDb.url, timeoutMs: 5000 });
    // The ticketing system processes data with its vendor abroad; the account database's location is not recorded.
    tickets = withProcessingLocation(ticketingConnector(), "US");
    t = await new TestService(db(), FAST, [sql, tickets]).start();
    requestId = await completedRequest(t);
    ({ file: zipFile, manifest } = await downloadedExport(t, requestId));
  });
  after(async () => {
    await t?.stop();
    await sql?.close();
    await account?.close();
    await accountDb?.drop();
  });

  it("plans one EXPORT after every COLLECT and completes the request with it", async () => {
    const r = (await t.ok(`query($id: ID!) { request(id: $id) { status tasks { connector step status outcome { records } } export { records files storage } } }`, { id: requestId })).request;
    expect(r.status).to.equal("COMPLETED");
    const exportTask = r.tasks.find((x: any) => x.step === "EXPORT");
    expect(exportTask).to.deep.include({ connector: "export", status: "SUCCEEDED" });
    const collected = r.tasks.filter((x: any) => x.step === "COLLECT").reduce((n: number, x: any) => n + x.outcome.records, 0);
    expect(exportTask.outcome.records).to.equal(collected);
    expect(r.export).to.deep.include({ records: collected, storage: "local" });
  });

  it("counts in the manifest exactly what each connector holds for the person, per category", async () => {
    const expected: Record<string, Record<string, number>> = {};
    for (const c of [sql, tickets]) for (const [category, rows] of Object.entries(await holdings(c))) (expected[category] ??= {})[c.spec.name] = rows.length;
    const got: Record<string, Record<string, number>> = {};
    for (const c of manifest.categories) got[c.category] = Object.fromEntries(c.connectors.map((x) => [x.name, x.records]));
    expect(got).to.deep.equal(expected);
    expect(manifest).to.deep.include({ format: "dsr-export", formatVersion: 1 });
    expect(manifest.request).to.deep.include({ id: requestId, type: "ACCESS" });
    expect(manifest.connectors.map((c) => [c.name, c.status])).to.deep.equal([["account-db", "SUCCEEDED"], ["ticketing", "SUCCEEDED"]]);
    // Where each system processes the data, beside the service's own location (POLICY: any other location is recorded).
    expect(manifest.processingLocation).to.equal("IN");
    expect(manifest.connectors.map((c) => [c.name, c.processingLocation])).to.deep.equal([["account-db", null], ["ticketing", "US"]]);
    const zip = ZipReader.open(zipFile);
    const readme = await zip.text("README.txt");
    zip.close();
    expect(readme).to.contain("Where it is processed (country codes, ISO 3166-1):\n  this service: IN\n  account-db: not recorded\n  ticketing: US (outside IN)\n");
    expect(manifest.categories.find((c) => c.category === "SUPPORT")!.fields.map((f) => f.name)).to.deep.equal(["assignee", "body", "priority", "solved", "subject"]);
  });

  it("writes checksums that verify, and JSON that matches the documented fields", async () => {
    const result = await verifyArchive(zipFile, { portability: true });
    expect(result.problems).to.deep.equal([]);
    expect(result.checked).to.equal(manifest.files.length);
    expect(manifest.files.map((f) => f.path)).to.include.members(["data/account.json", "data/account.csv", "data/auth_logs.json", "data/support.csv", "README.txt", "index.html"]);
  });

  it("notices a changed file in an archive", async () => {
    const copy = path.join(tempDir(), "changed.zip");
    const bytes = fs.readFileSync(zipFile);
    const zip = ZipReader.open(zipFile);
    const readme = zip.entry("README.txt")!;
    zip.close();
    // Rewrite README.txt's directory CRC so the reader accepts it, then its manifest checksum must catch the change.
    const cd = bytes.lastIndexOf(Buffer.from("README.txt"));
    bytes.writeUInt32LE((readme.crc32 + 1) >>> 0, cd - 46 + 16);
    fs.writeFileSync(copy, bytes);
    const result = await verifyArchive(copy);
    expect(result.ok).to.equal(false);
    expect(result.problems.join("\n")).to.match(/README.txt/);
  });

  it("writes CSVs that parse back to the same records, awkward text included", async () => {
    const zip = ZipReader.open(zipFile);
    try {
      for (const category of ["SUPPORT", "ACCOUNT"]) {
        const name = category.toLowerCase();
        const json = JSON.parse(await zip.text(`data/${name}.json`)) as Array<{ connector: string; type: string; id: string; recordedAt: string | null; data: Record<string, unknown> }>;
        const rows = parse(await zip.text(`data/${name}.csv`), { bom: true, columns: true, relax_quotes: false }) as Record<string, string>[];
        expect(rows).to.have.length(json.length);
        const fields = manifest.categories.find((c) => c.category === category)!.fields.map((f) => f.name);
        rows.forEach((row, i) => {
          const r = json[i];
          expect(row).to.deep.equal(Object.fromEntries([["connector", asCsvCell(r.connector)], ["type", asCsvCell(r.type)], ["id", asCsvCell(r.id)], ["recordedAt", asCsvCell(r.recordedAt)], ...fields.map((f) => [f, asCsvCell(r.data[f])])]));
        });
      }
      const support = parse(await zip.text("data/support.csv"), { bom: true, columns: true }) as Record<string, string>[];
      const original = tickets.data.get(ADA.email)!;
      const byId = new Map(original.map((r) => [r.id, r]));
      for (const row of support) expect(row.subject).to.equal(asCsvCell(byId.get(row.id)!.data.subject));
      expect(support.map((r) => r.subject)).to.include("'=SUM(A1:A2)");
      expect(support.map((r) => r.subject)).to.include.members(["مرحبا، أحتاج مساعدة في حسابي", "Thanks 🙏🏽 — works now ✅", "line one\nline two\r\nline three", 'Printer on fire, "again"']);
    } finally {
      zip.close();
    }
  });

  it("removes the staged records once the export is stored", async () => {
    expect(await t.count("staged_batches")).to.equal(0);
    expect(await t.count("staged_keys")).to.equal(0);
  });

  it("audits every download and the link's creation", async () => {
    await download((await exportLink(t, requestId)).url);
    const actions = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action actor { id } } }`, { id: requestId })).auditEvents.map((e: any) => e.action);
    expect(actions.filter((a: string) => a === "export.downloaded")).to.have.length(2);
    expect(actions.filter((a: string) => a === "export.link_created")).to.have.length(2);
    expect(actions).to.include("export.stored");
  });

  it("renders index.html offline in headless Chromium with the person's name and the category counts", async function () {
    this.timeout(90_000);
    const { source, dom } = await openIndexHtml(zipFile);
    expect(source).not.to.match(/<script|https?:\/\//i);
    expect(dom).to.include('<span id="person">Ada Lovelace</span>');
    for (const c of manifest.categories) {
      expect(dom).to.match(new RegExp(`<tr data-category="${c.category}">.*?<td class="count">${c.records}</td>`));
    }
  });

  it("refuses roles that may not hand out exports", async () => {
    const res = await t.gql(`mutation($id: ID!) { createExportLink(requestId: $id) { url } }`, { id: requestId }, Role.AUDITOR);
    expect(res.errors![0].extensions.code).to.equal("FORBIDDEN");
  });
});
