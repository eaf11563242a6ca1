import { generateKeyPairSync } from "node:crypto";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { Writable } from "node:stream";
import { expect } from "chai";
import { loadConfig } from "../src/config/env";
import { INTROSPECTION_MESSAGE } from "../src/graphql/formatError";
import { createLogger } from "../src/logger";
import { startService } from "../src/server";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";

const BIN = path.resolve(__dirname, "../../bin/dsr.js");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `dsr <args>` with only the given DSR_ variables (none of the developer's). */
function dsr(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DSR_") && k !== "NODE_ENV" && k !== "DATABASE_URL" && k !== "PORT"));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tempDir(), env: { ...clean, DSR_DATA_DIR: tempDir(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("close", (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
  });
}

describe("operator messages", () => {
  it("gives a number that is not a number one message, without range limits", async () => {
    const run = await dsr(["migrate", "--check"], { PORT: "four thousand", DSR_RATE_LIMIT_BURST: "lots" });
    expect(run.code).to.equal(78);
    expect(run.stderr).to.equal("dsr: invalid configuration:\n  - PORT must be a whole number\n  - DSR_RATE_LIMIT_BURST must be a whole number\n");
  });

  it("names the line and column of a JSON syntax error in the connectors file", async () => {
    const dir = tempDir();
    const file = path.join(dir, "connectors.json");
    fs.writeFileSync(file, `{ "connectors": [\n  { "type": "module", "module": "./crm.js" }\n  { "type": "module", "module": "./billing.js" }\n] }\n`);
    const run = await dsr(["connectors", "check"], { DSR_CONNECTORS_FILE: file });
    expect(run.code).to.equal(78);
    expect(run.stderr).to.equal(`dsr: invalid connectors:\n  - DSR_CONNECTORS_FILE ${file}: not valid JSON: line 3, column 3: Expected ',' or ']' after array element\n`);
  });

  it("says in one line what to do about a missing connector module, without a require stack", async () => {
    const dir = tempDir();
    const file = path.join(dir, "connectors.json");
    fs.writeFileSync(file, JSON.stringify({ connectors: [{ type: "module", module: "./dist/crm.js" }] }));
    const run = await dsr(["connectors", "check"], { DSR_CONNECTORS_FILE: file });
    expect(run.code).to.equal(78);
    expect(run.stderr).to.equal(
      `dsr: invalid connectors:\n  - ${file} connectors[0]: module ${path.join(dir, "dist/crm.js")} does not exist; give the path of the compiled .js relative to the connectors file (for a .ts connector, run npx tsc -p . first)\n`,
    );
    expect(run.stderr).not.to.match(/Require stack|at Module/);
  });

  it("logs why a verification code could not reach the webhook (the connection refused), not just 'fetch failed'", async () => {
    // A port kept open until the service listens (else the service's own ephemeral port may be this very
    // one, just freed, and the webhook then reaches the service: HTTP 404), then closed before the call.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const closed = (server.address() as net.AddressInfo).port;
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(...String(chunk).split("\n").filter(Boolean)), done()) });
    const db = await createSqliteDatabase();
    const config = loadConfig({
      NODE_ENV: "test",
      PORT: "0",
      DSR_HOST: "127.0.0.1",
      DATABASE_URL: db.url,
      DSR_DATA_DIR: tempDir(),
      DSR_NOTIFIER: "webhook",
      DSR_NOTIFIER_URL: `http://127.0.0.1:${closed}/notify`,
      DSR_NOTIFIER_SECRET: "test-notifier-secret-0123456789",
      DSR_WORKER_CONCURRENCY: "0",
      DSR_BOOTSTRAP_ADMIN_TOKEN: "operator-messages-admin-token-0123",
    });
    const service = await startService({ config, connectors: [], logger: createLogger("info", {}, { destination: stream }) });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      const response = await fetch(service.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer operator-messages-admin-token-0123" },
        body: JSON.stringify({ query: `mutation { submitRequest(input: { type: ACCESS, subject: { email: "ada.lovelace@example.com" } }) { id } }` }),
      });
      expect(((await response.json()) as { data: unknown }).data).to.have.nested.property("submitRequest.id");
      const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "verification code could not be delivered");
      expect(failed, lines.join("\n")).to.not.equal(undefined);
      expect(failed.err).to.equal(`notifier webhook http://127.0.0.1:${closed} could not be reached: fetch failed: connect ECONNREFUSED 127.0.0.1:${closed}; check DSR_NOTIFIER_URL and that the mailer is up`);
    } finally {
      await service.stop();
      await db.drop();
    }
  });
});

describe("operator messages: the service", () => {
  let db: TestDatabase;
  afterEach(async () => {
    await db?.drop();
  });

  it("turns the rate limit off with DSR_RATE_LIMIT_BURST=0, as the README says", async () => {
    db = await createSqliteDatabase();
    const t = await new TestService(db, { DSR_RATE_LIMIT_PER_SECOND: "1", DSR_RATE_LIMIT_BURST: "0" }).start();
    try {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => t.gql(`{ viewer { role } }`).then((r) => r.status)));
      expect(statuses.filter((s) => s !== 200)).to.deep.equal([]);
    } finally {
      await t.stop();
    }
  });

  it("refuses introspection in production saying where the schema is, not how to reconfigure Apollo", async () => {
    db = await createSqliteDatabase();
    const t = await new TestService(db, { NODE_ENV: "production", DSR_AUDIT_SIGNING_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(), DSR_PUBLIC_URL: "https://dsr.example.com", DSR_SECRET: "production-secret-for-the-messages-test-0123", DSR_EXPORT_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") }).start();
    try {
      const res = await t.gql(`{ __schema { types { name } } }`);
      expect(res.errors!.map((e) => [e.extensions.code, e.message])).to.deep.equal([["BAD_USER_INPUT", INTROSPECTION_MESSAGE]]);
      expect(JSON.stringify(res)).not.to.match(/ApolloServer|introspection: true/);
    } finally {
      await t.stop();
    }
  });
});
