import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { Role } from "../src/domain/enums";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { dsr as runDsr } from "./support/cliBinary";

/** The project (this file runs from dist/test/). */
const ROOT = path.resolve(__dirname, "../..");

/** `dsr <args>` (test/support/cliBinary.ts), given up to 90 s. */
const dsr = (args: string[], env: Record<string, string> = {}, cwd = tempDir()) => runDsr(args, env, cwd, undefined, 90_000);

/** Each case's outcome (and reason) by title, from `--json` output. */
function outcomes(json: string): Record<string, { outcome: string; reason: string | null }> {
  return Object.fromEntries((JSON.parse(json) as Array<{ title: string; outcome: string; reason: string | null }>).map((r) => [r.title, { outcome: r.outcome, reason: r.reason }]));
}

/** A SQLite contacts database holding Ada (2 rows) and Grace (1), as docs/connectors.md's example. */
async function contactsDb(file: string): Promise<void> {
  const seed = new DataSource({ type: "better-sqlite3", database: file });
  await seed.initialize();
  await seed.query(`CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, full_name TEXT, created_at TEXT NOT NULL)`);
  await seed.query(`INSERT INTO contacts (email, full_name, created_at) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)`, [
    "ada@example.com", "Ada", "2024-01-02T10:00:00Z", "ada@example.com", "Ada L.", "2024-03-04T10:00:00Z", "grace@example.com", "Grace", "2024-05-06T10:00:00Z",
    "Zoe+dsr@Example.COM", "Zoë", "2024-07-08T10:00:00Z", "bjorn@xn--bcher-kva.de", "Björn", "2024-09-10T10:00:00Z",
  ]);
  await seed.destroy();
}

const CONTACTS = { name: "crm", version: "1.0.0", tables: [{ table: "contacts", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "contact", primaryKey: "id", exportColumns: ["email", "full_name"], recordedAtColumn: "created_at", erase: { strategy: "DELETE" } }] };

describe("dsr connector new / connector test", () => {
  it("scaffolds a connector that compiles and passes the conformance suite as generated, with a table of every case", async function () {
    this.timeout(240_000);
    // A project beside this one (its src and node_modules linked), so the test never writes into the repository.
    // Compiled with the project's options into a folder of its own (rootDir "/" keeps every import's relative path).
    const project = tempDir("dsr-scaffold-");
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
    const base = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8"));
    fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: { ...base.compilerOptions, rootDir: "/", outDir: "dist" }, include: ["connectors/**/*.ts"] }));
    const made = await dsr(["connector", "new", "crm", "--dir", path.join(project, "connectors")]);
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stderr).to.include("npx dsr connector test");
    const tsc = spawnSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", project], { encoding: "utf8", timeout: 200_000 });
    expect(tsc.status, `${tsc.stdout}${tsc.stderr}`).to.equal(0);
    const compiled = path.join(project, "dist", project, "connectors/crm.js");
    const tested = await dsr(["connector", "test", compiled]);
    expect(tested.code, tested.stderr).to.equal(0);
    expect(tested.stdout).to.match(/│ spec\s+│ declares a spec the registry accepts/).and.match(/\n15 passed, 0 failed, 6 skipped\n$/);
    const got = outcomes((await dsr(["connector", "test", compiled, "--json"])).stdout);
    expect(Object.keys(got)).to.have.length(21);
    // The cases the scaffold cannot take part in are skipped, each with its reason: it has no
    // mixed-case person and no one with an internationalised domain seeded, no look-up by id, no
    // eraseHeldBack (so no keepUndated), and it does not correct data (the two rectify cases).
    expect(Object.values(got).filter((o) => o.outcome !== "pass").map((o) => o.outcome)).to.deep.equal(["skipped", "skipped", "skipped", "skipped", "skipped", "skipped"]);
    expect(got["keeps every record without a date, when keepUndated (a connector with eraseHeldBack)"]).to.deep.equal({ outcome: "skipped", reason: "the connector has no eraseHeldBack: its purges erase undated records by identity, and say so" });
    expect(got["reports the same when run again (a retried task), and changes no one for a person it does not hold"]).to.deep.equal({ outcome: "skipped", reason: "the connector does not support rectification" });
  });

  it("runs the suite against a connectors-file entry by name, skipping erase cases unless --erase, with the reason", async function () {
    this.timeout(60_000);
    const dir = tempDir();
    await contactsDb(path.join(dir, "crm.sqlite"));
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "sql", options: { url: "sqlite:crm.sqlite", ...CONTACTS } }] }));
    const args = ["connector", "test", "crm", "--connectors-file", path.join(dir, "connectors.json"), "--subject", "email=ada@example.com", "--other", "email=grace@example.com", "--expect-records", "2"];
    const safe = await dsr(args);
    expect(safe.code, safe.stderr).to.equal(0);
    expect(safe.stdout).to.match(/\n6 passed, 0 failed, 15 skipped\n$/);
    const got = outcomes((await dsr([...args, "--json"])).stdout);
    expect(got["lists the subject once, by identities in matching form, and every person once"].outcome).to.equal("pass");
    expect(got["leaves the other subject's records untouched, when the subject is erased"]).to.deep.equal({ outcome: "skipped", reason: "the erase cases change the system's data: pass --erase to run them against a test system" });
    expect(got["fails with a message, when the configuration or connection is broken"]).to.deep.equal({ outcome: "skipped", reason: "no broken configuration was given (badConnector)" });
    expect(got["returns only the subject's records, each in a declared category with a string id"].outcome).to.equal("pass");
    // The people stored in another spelling, given as typed: passed on in matching form, as the service would.
    const spelled = outcomes((await dsr([...args, "--mixed-case", "email=Zoe+DSR@example.com", "--idn", "email=Bjorn@Bücher.de", "--json"])).stdout);
    expect(spelled["finds a subject stored in mixed case, given the normalized identities the orchestrator passes"].outcome).to.equal("pass");
    expect(spelled["finds a subject stored with the ASCII spelling of an internationalised domain, given the Unicode matching form"].outcome).to.equal("pass");
    const typo = await dsr([...args, "--idn", "bjorn@bücher.de"]);
    expect(typo.code).to.not.equal(0);
    expect(typo.stderr).to.include("--idn takes kind=value pairs");
    // With --erase the cases run against the one database: those that erase nothing come first, then the
    // first that erases Ada (checking Grace too); the next find nothing to prove and are skipped saying so.
    const erasingRun = await dsr([...args, "--erase", "--json"]);
    const erasing = outcomes(erasingRun.stdout);
    // A correct connector passes: the roster is listed before anything is erased (not "listed 0 times" after).
    expect(Object.entries(erasing).filter(([, o]) => o.outcome === "fail"), erasingRun.stdout).to.deep.equal([]);
    expect(erasing["lists the subject once, by identities in matching form, and every person once"].outcome).to.equal("pass");
    expect(erasing["erases nothing, when no category is listed"].outcome).to.equal("pass");
    expect(erasing["keeps every dated record, when keepRecordedSince covers all time"].outcome).to.equal("pass");
    expect(erasing["leaves nothing collect finds but what may be kept, when the subject is erased"].outcome).to.equal("pass");
    expect(erasing["erases nothing more, when run a second time"].outcome).to.equal("skipped");
    expect(erasing["erases nothing more, when run a second time"].reason).to.match(/^the subject has no records left to erase: an earlier case of this run erased them/);
    const missing = await dsr(["connector", "test", "billing", ...args.slice(3)]);
    expect(missing.code).to.equal(4);
    expect(missing.stderr).to.equal(`dsr: ${path.join(dir, "connectors.json")} has no connector named billing (it has crm)\n`);
  });

  it("fails a connector that returns another person's records, naming the case and why", async function () {
    this.timeout(60_000);
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, "leaky.js"),
      `exports.createConnector = () => ({ spec: { name: "leaky", version: "1.0.0", supports: ["access"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },
        check: async () => ({ ok: true, message: "reachable" }),
        async *collect(ids) { yield { category: "ACCOUNT", type: "row", id: "shared", data: {} }; } });`,
    );
    const args = ["connector", "test", path.join(dir, "leaky.js"), "--subject", "email=ada@example.com", "--other", "email=grace@example.com"];
    const run = await dsr(args);
    expect(run.code).to.equal(1);
    expect(run.stdout).to.match(/│ FAIL\s+│ records of otherSubject were returned for the subject/);
    const got = outcomes((await dsr([...args, "--json"])).stdout);
    expect(got["returns only the subject's records, each in a declared category with a string id"].outcome).to.equal("fail");
    expect(got["erases nothing, when no category is listed"]).to.deep.equal({ outcome: "skipped", reason: "the connector does not support erasure" });
    const noSubject = await dsr(["connector", "test", path.join(dir, "leaky.js")]);
    expect(noSubject.code).to.equal(2);
    expect(noSubject.stderr).to.match(/^dsr: --subject is required for this target/);
  });
});

/**
 * A connector module over a JSON file (its own small system), wrong in one way chosen by `options.bug`:
 * "others" erases every row, whoever's; "categories" erases though no category is listed; "retention"
 * ignores keepRecordedSince; "recount" reports records erased on every run, also when none are left.
 * `dsr connector test` runs every case against that one file, never reset.
 */
const CARELESS = `const fs = require("node:fs");
exports.createConnector = ({ file, bug }) => {
  const rows = () => JSON.parse(fs.readFileSync(file, "utf8"));
  const save = (r) => fs.writeFileSync(file, JSON.stringify(r));
  return {
    spec: { name: "careless", version: "1.0.0", supports: ["access", "erasure"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },
    check: async () => ({ ok: true, message: "file readable" }),
    async *collect(ids) { for (const r of rows()) if (r.email === ids.email) yield { category: "ACCOUNT", type: "row", id: r.id, data: { name: r.name }, recordedAt: new Date(r.at) }; },
    async erase(ids, instruction) {
      if (!instruction.categories.includes("ACCOUNT") && bug !== "categories") return { erased: 0 };
      const since = bug === "retention" ? undefined : instruction.keepRecordedSince && instruction.keepRecordedSince.ACCOUNT;
      const all = rows();
      const gone = (r) => (bug === "others" || r.email === ids.email) && !(since && new Date(r.at) >= new Date(since));
      save(all.filter((r) => !gone(r)));
      return { erased: bug === "recount" ? all.filter((r) => r.email === ids.email).length + 1 : all.filter((r) => gone(r) && r.email === ids.email).length };
    },
  };
};`;

describe("dsr connector test, against a system it does not reset between cases (--erase)", () => {
  for (const [bug, title] of [
    ["others", "leaves the other subject's records untouched, when the subject is erased"],
    ["categories", "erases nothing, when no category is listed"],
    ["retention", "keeps every dated record, when keepRecordedSince covers all time"],
    ["recount", "leaves nothing collect finds but what may be kept, when the subject is erased"],
  ] as const) {
    it(`fails a connector that ${bug === "others" ? "erases another person's records" : bug === "categories" ? "erases though no category is listed" : bug === "retention" ? "ignores keepRecordedSince" : "counts erased records on every run"}`, async function () {
      this.timeout(60_000);
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, "careless.js"), CARELESS);
      const file = path.join(dir, "system.json");
      const seed = [
        { id: "1", email: "ada@example.com", name: "Ada", at: "2024-01-02T10:00:00Z" },
        { id: "2", email: "ada@example.com", name: "Ada L.", at: "2024-03-04T10:00:00Z" },
        { id: "3", email: "grace@example.com", name: "Grace", at: "2024-05-06T10:00:00Z" },
      ];
      fs.writeFileSync(file, JSON.stringify(seed));
      const args = ["connector", "test", path.join(dir, "careless.js"), "--options", JSON.stringify({ file, bug }), "--subject", "email=ada@example.com", "--other", "email=grace@example.com", "--erase", "--json"];
      const run = await dsr(args);
      expect(run.code, run.stderr).to.equal(1);
      const got = outcomes(run.stdout);
      const failed = Object.entries(got).filter(([, o]) => o.outcome === "fail");
      expect(failed.length, JSON.stringify(got)).to.be.greaterThan(0);
      if (bug !== "others") expect(got[title].outcome, JSON.stringify(got[title])).to.equal("fail");
      else expect(failed.map(([, o]) => o.reason).join(" ")).to.include("otherSubject's records");
      // A case that had nothing left to prove says so, rather than pass.
      for (const o of Object.values(got)) if (o.outcome === "pass") expect(o.reason).to.equal(null);
    });
  }
});

describe("dsr connectors check", () => {
  let db: TestDatabase;
  let t: TestService;
  before(async () => {
    db = await createSqliteDatabase();
    const broken = new ScriptedConnector({ name: "billing" });
    broken.check = async () => ({ ok: false, message: "billing: credentials refused; set BILLING_API_KEY" });
    t = await new TestService(db, {}, [new ScriptedConnector({ name: "crm" }), broken]).start();
  });
  after(async () => {
    await t.stop();
    await db.drop();
  });

  it("shows the running service's own checks with --url and --token", async () => {
    const run = await dsr(["connectors", "check", "--url", t.url, "--token", t.tokens[Role.AUDITOR]]);
    expect(run.code).to.equal(1);
    expect(run.stdout).to.match(/crm\s+│\s+1\.0\.0\s+│\s+yes\s+│\s+crm reachable/);
    expect(run.stdout).to.match(/billing\s+│\s+1\.0\.0\s+│\s+NO\s+│\s+billing: credentials refused[^\n]*│\s+not recorded\s+│/);
    expect(run.stderr).to.equal(`dsr: the connectors of the service at ${t.url}, as it checks them\n`);
  });

  it("says plainly that it checks a copy of the sample workspace, and prints only the table on stdout", async function () {
    this.timeout(120_000);
    const dir = tempDir();
    const run = await dsr(["connectors", "check"], { DSR_DATA_DIR: dir, DSR_SAMPLE_ADA_AUTH_EVENTS: "10" });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.match(/^dsr: no DSR_CONNECTORS_FILE: checking the sample workspace, in a copy this command starts/);
    expect(run.stdout.startsWith("┌"), run.stdout.slice(0, 200)).to.equal(true);
    // Where each sample system processes the data (the primary location is India).
    expect(run.stdout).to.match(/processed in/);
    expect(run.stdout).to.match(/account-db\s+│[^\n]*│\s+IN\s+│/);
    expect(run.stdout).to.match(/payments\s+│[^\n]*│\s+US \(outside the primary location\)\s+│/);
    expect(run.stdout).not.to.match(/"level"|"msg"/);
  });
});
