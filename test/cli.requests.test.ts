import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { dsr } from "./support/cliBinary";

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("dsr request (the binary against a running service)", () => {
  let db: TestDatabase;
  let t: TestService;
  const crm = new ScriptedConnector({ name: "crm" }).seed("ada.lovelace@example.com", 2);
  const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seed("ada.lovelace@example.com", 1);
  let remote: Record<string, string>;
  before(async () => {
    db = await createSqliteDatabase();
    t = await new TestService(db, { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "20" }, [crm, tickets]).start();
    remote = { DSR_URL: t.url, DSR_TOKEN: t.tokens[Role.ADMIN] };
  });
  after(async () => {
    await t.stop();
    await db.drop();
  });

  it("submits, lists and shows a request", async () => {
    const submitted = await dsr(["request", "submit", "--type", "ACCESS", "--email", "grace.hopper@example.com"], remote);
    expect(submitted.code, submitted.stderr).to.equal(0);
    const id = submitted.stdout.trim();
    expect(id).to.match(/^[0-9a-f-]{36}$/);
    expect(submitted.stderr).to.match(/submitted: PENDING_VERIFICATION/);
    const list = await dsr(["request", "list", "--status", "PENDING_VERIFICATION", "--json"], remote);
    expect(list.code, list.stderr).to.equal(0);
    expect(JSON.parse(list.stdout).map((r: { id: string }) => r.id)).to.include(id);
    const table = await dsr(["request", "list"], remote);
    expect(table.stdout).to.include(id).and.to.match(/ACCESS/);
    const shown = await dsr(["request", "show", id], remote);
    expect(shown.code).to.equal(0);
    expect(shown.stdout).to.match(new RegExp(`${id}  ACCESS  PENDING_VERIFICATION`));
    expect(shown.stdout).to.match(/no tasks yet/);
  });

  it("watches a request to its end: a progress bar while it runs, then a summary of its tasks", async () => {
    crm.delayMs = 300;
    tickets.notSearched = [{ category: "SUPPORT", type: "ticket", reason: "tickets filed by phone are found by phone only" }];
    const submitted = await dsr(["request", "submit", "--type", "ACCESS", "--email", "ada.lovelace@example.com", "--verified", "settings session"], remote);
    const id = submitted.stdout.trim();
    let watchingStarted: () => void;
    const started = new Promise<void>((resolve) => (watchingStarted = resolve));
    const watching = dsr(["request", "watch", id, "--interval", "100"], remote, tempDir(), (text) => text.includes("PENDING_APPROVAL") && watchingStarted());
    await started;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    const watched = await watching;
    expect(watched.code, watched.stderr).to.equal(0);
    // Two collects and the export that merges them.
    expect(watched.stderr, watched.stderr).to.match(/0\/3 tasks \| IN_PROGRESS/);
    expect(watched.stderr, watched.stderr).to.match(/3\/3 tasks \| COMPLETED/);
    expect(watched.stdout).to.match(new RegExp(`${id}  ACCESS  COMPLETED`));
    for (const row of [/crm\s+│\s+COLLECT\s+│\s+SUCCEEDED/, /tickets\s+│\s+COLLECT\s+│\s+SUCCEEDED/]) expect(watched.stdout).to.match(row);
    // What a connector could not search for closes the summary, as `show` prints it too.
    const notSearched = "  tickets ticket (SUPPORT): tickets filed by phone are found by phone only\n";
    expect(watched.stdout).to.include(`not searched (may hold the subject's data; see the request's notSearched):\n${notSearched}`);
    expect((await dsr(["request", "show", id], remote)).stdout).to.include(notSearched);
  });

  it("fails with one line and a meaningful exit code", async () => {
    const missing = await dsr(["request", "show", "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc"], remote);
    expect(missing.code).to.equal(4);
    expect(missing.stderr).to.equal("dsr: Request 6f1c2d7e-5b8a-4c3d-9e0f-123456789abc does not exist\n");
    const noToken = await dsr(["request", "list"], { DSR_URL: t.url });
    expect(noToken.code).to.equal(2);
    expect(noToken.stderr).to.match(/^dsr: a token is needed/);
    const forbidden = await dsr(["request", "list"], { DSR_URL: t.url, DSR_TOKEN: t.tokens[Role.SERVICE] });
    expect(forbidden.code).to.equal(1);
    expect(forbidden.stderr.split("\n").filter(Boolean)).to.have.length(1);
    const closed = `http://127.0.0.1:${await closedPort()}/graphql`;
    const unreachable = await dsr(["request", "list", "--url", closed, "--token", "x"]);
    expect(unreachable.code).to.equal(1);
    expect(unreachable.stderr).to.equal(`dsr: cannot reach the service at ${closed} (ECONNREFUSED)\n`);
  });
});

describe("dsr connectors check / connector new", () => {
  it("prints each connector's check and exits 1 when one fails", async () => {
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, "probe.js"),
      `exports.createConnector = (o) => ({ spec: { name: o.name, version: "1.0.0", supports: ["access"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },
        check: async () => ({ ok: o.ok === true, message: o.ok ? "reachable" : "credentials refused" }), async *collect() {} });`,
    );
    const file = (entries: object[]) => (fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: entries })), { DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir });
    const good = { type: "module", module: "./probe.js", options: { name: "crm", ok: true } };
    const healthy = await dsr(["connectors", "check"], file([good]));
    expect(healthy.code, healthy.stderr).to.equal(0);
    expect(healthy.stdout).to.match(/crm\s+│\s+1\.0\.0\s+│\s+yes\s+│\s+reachable/);
    const broken = await dsr(["connectors", "check"], file([good, { type: "module", module: "./probe.js", options: { name: "billing", ok: false } }]));
    expect(broken.code).to.equal(1);
    expect(broken.stdout).to.match(/billing\s+│\s+1\.0\.0\s+│\s+NO\s+│\s+credentials refused/);
  });

  it("scaffolds a connector and its conformance test, and refuses to overwrite or a bad name", async () => {
    const cwd = tempDir();
    const made = await dsr(["connector", "new", "crm-eu", "--dir", "integrations"], {}, cwd);
    expect(made.code, made.stderr).to.equal(0);
    const module = fs.readFileSync(path.join(cwd, "integrations/crm-eu.ts"), "utf8");
    const test = fs.readFileSync(path.join(cwd, "integrations/crm-eu.test.ts"), "utf8");
    expect(module).to.include(`name: "crm-eu"`).and.to.include("export function createConnector").and.to.include("ConnectorConfigError");
    expect(test).to.include(`describeConnectorConformance("crm-eu"`).and.to.include(`from "./crm-eu"`);
    const sdk = /from "([^"]+)\/connectors\/sdk"/.exec(module)![1];
    expect(fs.existsSync(path.resolve(cwd, "integrations", `${sdk}/connectors/sdk.ts`)), "the import reaches the SDK").to.equal(true);
    const again = await dsr(["connector", "new", "crm-eu", "--dir", "integrations"], {}, cwd);
    expect(again.code).to.equal(2);
    expect(again.stderr).to.match(/already exists; nothing was written/);
    expect((await dsr(["connector", "new", "Bad Name"], {}, cwd)).code).to.equal(2);
  });
});
