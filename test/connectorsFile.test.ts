import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../src/config/env";
import { createLogger } from "../src/logger";
import { buildRegistry } from "../src/server";
import { collectAll, testContext } from "../src/connectors/testing/conformance";
import { loadConnectorsFile } from "../src/orchestrator/connectorsFile";
import { ConnectorRegistry, ConnectorRegistryError, processingLocationOf, withProcessingLocation } from "../src/orchestrator/registry";
import { ScriptedConnector } from "./support/scriptedConnector";
import { AccountDb, ADA, ADA_RECORDS, accountDbConfig } from "./connectors/support/accountDb";
import { createMariadbDatabase, createSqliteDatabase, describeEachDatabase, tempDir, TestDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "2000" };

function writeFile(dir: string, connectors: unknown[]): string {
  const file = path.join(dir, "connectors.json");
  fs.writeFileSync(file, JSON.stringify({ connectors }, null, 2));
  return file;
}

async function problemsOf(file: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  try {
    const built = await loadConnectorsFile(file, env);
    await Promise.all(built.map((c) => c.close?.()));
  } catch (error) {
    expect(error).to.be.instanceOf(ConnectorRegistryError);
    return (error as ConnectorRegistryError).problems;
  }
  return [];
}

describe("connectors file", () => {
  it("builds a declarative SQL connector whose relative sqlite: url is read beside the file, with its secret from the environment", async () => {
    const dir = tempDir();
    const file = writeFile(dir, [{ type: "sql", options: accountDbConfig(), env: { url: "ACCOUNTS_URL" } }]);
    const seeded = await AccountDb.create({ kind: "sqlite", url: `sqlite:${path.join(dir, "accounts.sqlite")}`, drop: async () => undefined });
    await seeded.close();
    const [connector] = await loadConnectorsFile(file, { ACCOUNTS_URL: "sqlite:accounts.sqlite" });
    try {
      expect(connector.spec.name).to.equal("account-db");
      const health = await connector.check(testContext());
      expect(health.ok, health.message).to.equal(true);
      expect(await collectAll(connector, ADA)).to.have.length(ADA_RECORDS);
    } finally {
      await connector.close?.();
    }
  });

  it("lists every problem of every entry at once, each with its place in the file", async () => {
    const dir = tempDir();
    const broken = accountDbConfig();
    broken.tables[0].exportColumns = ["email; DROP TABLE users"];
    const file = writeFile(dir, [
      { type: "sql", options: broken, env: { url: "ACCOUNTS_URL" } },
      { type: "sql", options: accountDbConfig(), env: { url: "NOT_SET_ANYWHERE" } },
      { type: "ftp", options: {} },
      { type: "manual", name: "paper-files", categories: ["ACCOUNT"], supports: ["access", "shred"], instructions: "" },
      { type: "module", module: "./missing.js" },
      { type: "manual", name: "paper-archive", categories: ["ACCOUNT"], supports: ["access"], instructions: "Search the boxes.", processingLocation: "india" },
    ]);
    const problems = await problemsOf(file, { ACCOUNTS_URL: "sqlite::memory:" });
    const at = (i: number) => problems.filter((p) => p.includes(`connectors[${i}]`));
    expect(at(0).join("\n")).to.match(/exportColumns|identifier/i);
    expect(at(1).join("\n")).to.contain("environment variable NOT_SET_ANYWHERE (for url) is not set");
    expect(at(2).join("\n")).to.contain('type must be one of "module", "manual", "sql"');
    expect(at(3).join("\n")).to.match(/supports must list/);
    expect(at(3).join("\n")).to.match(/instructions/);
    expect(at(4).join("\n")).to.match(/missing\.js/);
    expect(at(5)).to.deep.equal([`${file} connectors[5]: processingLocation must be an ISO 3166-1 alpha-2 country code in capitals, e.g. IN or US`]);
  });

  it("takes a connector's processing location from its spec, lets the file's entry win, and refuses one that is not a country code", () => {
    const own = new ScriptedConnector({ name: "crm", processingLocation: "IE" });
    expect(processingLocationOf(own)).to.equal("IE");
    expect(processingLocationOf(withProcessingLocation(new ScriptedConnector({ name: "crm", processingLocation: "IE" }), "DE"))).to.equal("DE");
    expect(processingLocationOf(new ScriptedConnector({ name: "crm" }))).to.equal(undefined);
    expect(() => new ConnectorRegistry([new ScriptedConnector({ name: "crm", processingLocation: "Ireland" })]))
      .to.throw(ConnectorRegistryError)
      .with.property("problems")
      .that.deep.equals(["crm: processingLocation must be an ISO 3166-1 alpha-2 country code in capitals, e.g. IN or US"]);
  });

  it("warns at start, naming them, about the connectors whose processing location is not recorded", async () => {
    const dir = tempDir();
    const file = writeFile(dir, [
      { type: "manual", name: "paper-files", categories: ["ACCOUNT"], supports: ["access"], instructions: "Search the boxes.", processingLocation: "IN" },
      { type: "manual", name: "fax-archive", categories: ["SUPPORT"], supports: ["access"], instructions: "Search the faxes." },
    ]);
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split("\n").filter(Boolean));
        done();
      },
    });
    const registry = await buildRegistry(loadConfig({ DSR_CONNECTORS_FILE: file, DSR_DATA_DIR: dir }), undefined, createLogger("info", {}, { destination: stream }));
    await registry.close();
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === "warn");
    expect(warnings).to.have.length(1);
    expect(warnings[0].connectors).to.deep.equal(["fax-archive"]);
    expect(warnings[0].msg).to.match(/^no processing location is recorded for these connectors: set processingLocation/);
  });

  it("refuses a file that is not JSON, naming the file", async () => {
    const dir = tempDir();
    const file = path.join(dir, "connectors.json");
    fs.writeFileSync(file, "{ connectors: [");
    const problems = await problemsOf(file);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.contain(file);
  });
});

describeEachDatabase("connectors file in a running service", (db) => {
  let t: TestService;
  let accountsDb: TestDatabase;
  let accounts: AccountDb;
  const saved = process.env.DSR_TEST_ACCOUNTS_URL;

  beforeEach(async () => {
    accountsDb = db().kind === "sqlite" ? await createSqliteDatabase() : await createMariadbDatabase();
    accounts = await AccountDb.create(accountsDb);
    process.env.DSR_TEST_ACCOUNTS_URL = accountsDb.url;
    const file = writeFile(tempDir(), [
      { type: "sql", options: accountDbConfig(), env: { url: "DSR_TEST_ACCOUNTS_URL" } },
      { type: "manual", name: "paper-files", categories: ["ACCOUNT"], supports: ["access"], instructions: "Search the archive boxes by name.", processingLocation: "IN" },
    ]);
    t = await new TestService(db(), { ...FAST, DSR_CONNECTORS_FILE: file }, null).start();
  });
  afterEach(async () => {
    await t?.stop();
    await accounts?.close();
    await accountsDb?.drop();
    if (saved === undefined) delete process.env.DSR_TEST_ACCOUNTS_URL;
    else process.env.DSR_TEST_ACCOUNTS_URL = saved;
  });

  it("shows where each system processes data, as the file records it, and marks the unrecorded one outside the primary location", async () => {
    const { connectors } = await t.ok(`{ connectors { name processingLocation outsidePrimaryLocation } }`);
    expect(connectors).to.have.deep.members([
      { name: "account-db", processingLocation: null, outsidePrimaryLocation: true },
      { name: "paper-files", processingLocation: "IN", outsidePrimaryLocation: false },
    ]);
  });

  it("shows the file's connectors with a live check, and carries an access request through the SQL connector", async () => {
    const { connectors } = await t.ok(`{ connectors { name version supports provides categories manual health { ok message } } }`);
    const byName = Object.fromEntries(connectors.map((c: any) => [c.name, c]));
    expect(Object.keys(byName).sort()).to.deep.equal(["account-db", "paper-files"]);
    expect(byName["account-db"].health.ok, byName["account-db"].health.message).to.equal(true);
    expect(byName["account-db"].provides).to.include("paymentCustomerId");
    expect(byName["paper-files"].manual).to.equal(true);

    const r = await submit(t, { type: "ACCESS", subject: { email: ADA.email }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const collect = await t.waitFor(async () => {
      const { request } = await t.ok(`query($id: ID!) { request(id: $id) { tasks { connector step status outcome { records } } } }`, { id: r.id });
      return request.tasks.find((x: any) => x.connector === "account-db" && x.step === "COLLECT" && x.status === "SUCCEEDED");
    }, "account-db collect");
    expect(collect.outcome.records).to.equal(ADA_RECORDS);
  });
});
