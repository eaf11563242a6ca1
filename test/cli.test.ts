import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import mysql from "mysql2/promise";
import { MIGRATIONS } from "../src/migrations";
import { listeningPort } from "./support/listening";
import { createMariadbDatabase, MYSQL_URL, REQUIRE_MYSQL, tempDir, TestDatabase } from "./support/databases";

/** The real `dsr` binary (this file runs from dist/test/). */
const BIN = path.resolve(__dirname, "../../bin/dsr.js");
/** What `dsr migrate` prints on a fresh database: every migration, oldest (ServiceCore1764000000000) first. */
const APPLIED = `applied: ${MIGRATIONS.map((migration) => new migration().name).join(", ")}\n`;
const VIEWER = "{ viewer { role name } }";

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Result extends Exit {
  stdout: string;
  stderr: string;
}

interface TokenView {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
}

/** Every child started by a test; afterEach kills whatever is still running so mocha never hangs. */
const children = new Set<ChildProcess>();
/** Scratch folder of the current test: the working directory of every child, DSR_DATA_DIR is `<work>/data`. */
let work = "";
let dataDir = "";

/** SIGKILLs a child that is still running and waits (briefly) until it is gone. */
async function kill(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await Promise.race([gone, sleep(2000)]);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The environment of a child: the caller's, minus anything that configures the service (so a developer's own
 * DSR_ variables, NODE_ENV or DATABASE_URL cannot leak in), plus a scratch data dir and quiet logs.
 * NODE_ENV stays unset (development), as in a real deployment: NODE_ENV=test changes how Apollo handles signals.
 */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("DSR_") || key === "NODE_ENV" || key === "PORT" || key === "DATABASE_URL") continue;
    env[key] = value;
  }
  return { ...env, DSR_DATA_DIR: dataDir, DSR_LOG_LEVEL: "warn", ...extra };
}

function start(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  return child;
}

/** Runs `dsr <args>` to completion. */
function dsr(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = start(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`dsr ${args.join(" ")} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `dsr <args>` and fails the test unless it exits 0. */
async function dsrOk(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const result = await dsr(args, env);
  expect(result.code, `dsr ${args.join(" ")} failed: ${result.stderr}`).to.equal(0);
  return result;
}

async function listTokens(env: Record<string, string> = {}): Promise<TokenView[]> {
  const { stdout } = await dsrOk(["token", "list", "--json"], env);
  return JSON.parse(stdout) as TokenView[];
}

async function createToken(role: string, name: string, env: Record<string, string> = {}): Promise<string> {
  return (await dsrOk(["token", "create", "--role", role, "--name", name], env)).stdout.trim();
}

/** A running `dsr serve`. */
class Served {
  stdout = "";
  stderr = "";
  exit?: Exit;
  readonly exited: Promise<Exit>;

  /** Known once the service logged where it listens. */
  port = 0;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (this.stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  url(route: string): string {
    return `http://127.0.0.1:${this.port}${route}`;
  }

  async graphql(query: string, token: string): Promise<{ status: number; body: any }> {
    const response = await fetch(this.url("/graphql"), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, body: await response.json() };
  }

  /** Sends `signal` and waits for the process to end; SIGKILLs it and fails when it takes longer than `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<Exit & { ms: number }> {
    const sent = Date.now();
    this.child.kill(signal);
    const exit = await Promise.race([this.exited, sleep(timeoutMs).then(() => undefined)]);
    if (!exit) {
      await kill(this.child);
      throw new Error(`dsr serve did not exit within ${timeoutMs} ms of ${signal}; stderr: ${this.stderr}`);
    }
    children.delete(this.child);
    return { ...exit, ms: Date.now() - sent };
  }
}

/**
 * Starts `dsr serve` on a port the system picks (PORT=0), learns which from its "listening" log line, and waits
 * until GET /healthz answers 200. Picking a free port first and handing it over races other processes on the machine.
 */
async function serve(env: Record<string, string> = {}): Promise<Served> {
  const served = new Served(start(["serve"], { PORT: "0", DSR_HOST: "127.0.0.1", DSR_LOG_LEVEL: "info", ...env }));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (served.exit) throw new Error(`dsr serve exited (${JSON.stringify(served.exit)}) before it answered /healthz; stderr: ${served.stderr}`);
    served.port ||= listeningPort(served.stdout) ?? 0;
    if (served.port) {
      const response = await fetch(served.url("/healthz")).catch(() => undefined);
      if (response?.status === 200) return served;
    }
    if (Date.now() > deadline) throw new Error(`dsr serve did not answer /healthz within 15 s; stderr: ${served.stderr}`);
    await sleep(100);
  }
}

const lines = (text: string) => text.split("\n").filter((line) => line.length > 0);

describe("dsr (command line)", function () {
  this.timeout(30_000);

  beforeEach(() => {
    work = tempDir("dsr-cli-");
    dataDir = path.join(work, "data");
  });

  afterEach(async () => {
    await Promise.all([...children].map((child) => kill(child)));
    fs.rmSync(work, { recursive: true, force: true });
  });

  describe("usage", () => {
    it("lists serve, migrate, token and schema under --help, exiting 0", async () => {
      const result = await dsr(["--help"]);
      expect(result.code).to.equal(0);
      expect(result.stdout).to.match(/^Usage: dsr /);
      for (const command of ["serve", "migrate", "token", "schema"]) expect(result.stdout).to.match(new RegExp(`^\\s+${command}\\b`, "m"));
      expect(result.stderr).to.equal("");
    });

    it("exits 2 with the usage on stderr when the command is unknown", async () => {
      const result = await dsr(["frobnicate"]);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include("unknown command 'frobnicate'");
      expect(result.stderr).to.include("Usage: dsr");
      expect(result.stdout).to.equal("");
    });

    it("exits 2 with the usage on stderr when no command is given", async () => {
      for (const args of [[], ["token"]]) {
        const result = await dsr(args);
        expect(result.code, `dsr ${args.join(" ")}`).to.equal(2);
        expect(result.stderr).to.include("Usage: dsr");
        expect(result.stdout).to.equal("");
      }
    });
  });

  describe("dsr migrate [sqlite]", () => {
    it("applies the service migration to a fresh data dir, then finds the schema up to date", async () => {
      const first = await dsrOk(["migrate"]);
      expect(first.stdout).to.match(/^applied: ServiceCore1764000000000(, |\n)/);
      expect(first.stdout).to.equal(APPLIED);
      expect(fs.existsSync(path.join(dataDir, "dsr.sqlite"))).to.equal(true);
      const second = await dsrOk(["migrate"]);
      expect(second.stdout).to.equal("schema is up to date\n");
    });

    it("exits 1 with --check while migrations are pending and 0 once they are applied, changing nothing", async () => {
      const pending = await dsr(["migrate", "--check"]);
      expect(pending.code).to.equal(1);
      expect(pending.stdout).to.equal("migrations are pending\n");
      // Only a report: no data folder, no database file (a mistyped path would otherwise become an empty database).
      expect(fs.existsSync(dataDir)).to.equal(false);
      expect(pending.stderr).to.equal(`dsr: there is no database at ${path.join(dataDir, "dsr.sqlite")} yet (\`dsr migrate\` creates it)\n`);
      expect((await dsrOk(["migrate"])).stdout).to.equal(APPLIED);
      const upToDate = await dsr(["migrate", "--check"]);
      expect(upToDate.code).to.equal(0);
      expect(upToDate.stdout).to.equal("schema is up to date\n");
    });
  });

  describe("dsr audit [sqlite]", () => {
    it("refuses to verify or purge where there is no installation (exit 78), instead of creating one and calling its trail intact or its purge done", async function () {
      this.timeout(90_000);
      // `export purge` in the wrong folder (a cron job's working directory) made a database, an export
      // key and a secret there, and said "purged 0 export(s), ..." with exit 0, every night.
      for (const command of [["audit", "verify"], ["audit", "checkpoint"], ["token", "list"], ["token", "revoke", "00000000-0000-4000-8000-000000000000"], ["export", "purge"]]) {
        const result = await dsr(command);
        expect(result.code, result.stdout + result.stderr).to.equal(78);
        expect(result.stdout).to.equal("");
        expect(lines(result.stderr)).to.deep.equal([
          "dsr: invalid configuration:",
          `  - there is no database at ${path.join(dataDir, "dsr.sqlite")}: run the command with the service's DSR_DATA_DIR or DATABASE_URL`,
        ]);
        expect(fs.existsSync(dataDir), "no database, no signing key").to.equal(false);
      }
      await dsrOk(["migrate"]);
      expect((await dsrOk(["audit", "verify"])).stdout).to.match(/^The audit trail is intact/);
    });
  });

  describe("dsr [mariadb]", () => {
    let db: TestDatabase | undefined;
    before(async function () {
      try {
        db = await createMariadbDatabase();
      } catch (error) {
        if (REQUIRE_MYSQL) throw new Error(`MariaDB at ${MYSQL_URL} is required (DSR_TEST_REQUIRE_MYSQL) but unreachable: ${(error as Error).message}`);
        console.warn(`      (skipping MariaDB CLI tests: ${(error as Error).message}; set DSR_TEST_REQUIRE_MYSQL=1 to fail instead)`);
        this.skip();
      }
    });
    after(async () => {
      await db?.drop();
    });

    it("applies the service migration once, then finds the schema up to date", async () => {
      const env = { DATABASE_URL: db!.url };
      const pending = await dsr(["migrate", "--check"], env);
      expect(pending.code).to.equal(1);
      expect(pending.stdout).to.equal("migrations are pending\n");
      // --check wrote nothing, not even TypeORM's migrations table.
      const tables = await mysql.createConnection({ uri: db!.url }).then(async (c) => (await c.query("SHOW TABLES").finally(() => c.end()))[0] as unknown[]);
      expect(tables).to.deep.equal([]);
      expect(pending.stderr).to.equal(`pending: ${MIGRATIONS.map((m) => m.name).join(", ")}\n`);
      expect((await dsrOk(["migrate"], env)).stdout).to.equal(APPLIED);
      expect((await dsrOk(["migrate"], env)).stdout).to.equal("schema is up to date\n");
      const check = await dsr(["migrate", "--check"], env);
      expect(check.code).to.equal(0);
      expect(check.stdout).to.equal("schema is up to date\n");
      expect(fs.existsSync(dataDir)).to.equal(false);
    });

    it("serves a CLI-created token and exits 0 within 10 s of SIGTERM, closing the connection pool", async () => {
      const env = { DATABASE_URL: db!.url };
      const token = await createToken("AUDITOR", "mariadb auditor", env);
      const served = await serve({ ...env, DSR_LOG_LEVEL: "info" });
      const readyz = await fetch(served.url("/readyz"));
      expect(await readyz.json()).to.deep.equal({ status: "ready", database: "mysql" });
      expect((await served.graphql(VIEWER, token)).body).to.deep.equal({ data: { viewer: { role: "AUDITOR", name: "mariadb auditor" } } });
      const exit = await served.stop("SIGTERM");
      expect(exit).to.include({ code: 0, signal: null });
      expect(exit.ms).to.be.below(10_000);
      expect(served.stdout).to.include('"msg":"dsr service stopped"');
    });
  });

  describe("dsr token", () => {
    it("prints only the new token on stdout when creating one", async () => {
      const result = await dsrOk(["token", "create", "--role", "ADMIN", "--name", "alice"]);
      expect(result.stdout).to.match(/^dsr_[A-Za-z0-9_-]{43}\n$/);
      const token = result.stdout.trim();
      expect(result.stderr).to.match(/^created ADMIN token [0-9a-f-]{36} \(alice\); it is shown only now:\n$/);
      expect(result.stderr).not.to.include(token);
    });

    it("lists a token by id, role, name and 12-character prefix, never the token itself", async () => {
      const token = await createToken("ADMIN", "alice");
      const json = await dsrOk(["token", "list", "--json"]);
      const tokens = JSON.parse(json.stdout) as TokenView[];
      expect(tokens).to.have.length(1);
      expect(tokens[0]).to.deep.include({ role: "ADMIN", name: "alice", prefix: token.slice(0, 12), revokedAt: null });
      expect(tokens[0].id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(Number.isNaN(Date.parse(tokens[0].createdAt))).to.equal(false);
      expect(json.stdout).not.to.include(token);
      const text = await dsrOk(["token", "list"]);
      expect(text.stdout).to.include(tokens[0].id);
      expect(text.stdout).to.include("active");
      expect(text.stdout).not.to.include(token);
    });

    it("shows a token as revoked after `dsr token revoke <id>`", async () => {
      await createToken("PRIVACY_OFFICER", "bob");
      const [before] = await listTokens();
      const revoke = await dsrOk(["token", "revoke", before.id]);
      expect(revoke.stdout).to.equal(`revoked PRIVACY_OFFICER token ${before.id} (bob)\n`);
      const [after] = await listTokens();
      expect(after.id).to.equal(before.id);
      expect(after.revokedAt).to.be.a("string");
      expect(Date.parse(after.revokedAt!)).to.be.at.least(Date.parse(before.createdAt));
    });

    it("exits 4 with one line on stderr, and no stack trace, when revoking an unknown id", async () => {
      const id = "00000000-0000-4000-8000-000000000000";
      await dsrOk(["migrate"]);
      const result = await dsr(["token", "revoke", id]);
      expect(result.code).to.equal(4);
      expect(lines(result.stderr)).to.have.length(1);
      expect(result.stderr).to.match(/^dsr: /);
      expect(result.stderr).to.include(id);
      expect(result.stdout).to.equal("");
    });

    it("exits 2 and creates nothing when --name would take more than its one line of `token list` (a forged row)", async function () {
      // Seven CLI processes, about 2 s each alone: beside other suites they outlasted the default 30 s.
      this.timeout(120_000);
      await createToken("AUDITOR", "auditor");
      const forged = "ops\n00000000-0000-4000-8000-000000000000  ADMIN            dsr_AAAAAAAA…  active  bootstrap admin";
      for (const name of [forged, "ops\rrevoked", "ops\u2028admin", "ops\u202Enimda"]) {
        const result = await dsr(["token", "create", "--role", "ADMIN", "--name", name]);
        expect(result.code, JSON.stringify(name)).to.equal(2);
        expect(result.stdout).to.equal("");
        expect(lines(result.stderr)).to.deep.equal(["dsr: name may not contain invisible characters (control characters, zero-width characters, text-direction marks such as U+202E) or broken characters; letters of any script are fine"]);
      }
      expect((await listTokens()).map((t) => t.name)).to.deep.equal(["auditor"]);
      expect(lines((await dsrOk(["token", "list"])).stdout)).to.have.length(1);
    });

    it("exits 2 and creates nothing when --role is not a role", async () => {
      const result = await dsr(["token", "create", "--role", "NOPE", "--name", "mallory"]);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.include("'NOPE' is invalid");
      expect(result.stdout).to.equal("");
      expect(fs.existsSync(dataDir), "not even a database").to.equal(false);
    });
  });

  describe("dsr serve", () => {
    it("accepts a token created by the CLI as ADMIN and answers 401 UNAUTHENTICATED once it is revoked", async () => {
      const served = await serve();
      const readyz = await fetch(served.url("/readyz"));
      expect(readyz.status).to.equal(200);
      expect(await readyz.json()).to.include({ status: "ready" });

      const token = await createToken("ADMIN", "alice");
      const allowed = await served.graphql(VIEWER, token);
      expect(allowed.status).to.equal(200);
      expect(allowed.body).to.deep.equal({ data: { viewer: { role: "ADMIN", name: "alice" } } });

      const [row] = await listTokens();
      await dsrOk(["token", "revoke", row.id]);
      const refused = await served.graphql(VIEWER, token);
      expect(refused.status).to.equal(401);
      expect(refused.body.data).to.equal(undefined);
      expect(refused.body.errors).to.have.length(1);
      expect(refused.body.errors[0].extensions.code).to.equal("UNAUTHENTICATED");
    });

    it("exits 0 within 10 s of SIGTERM, after closing the database", async () => {
      const served = await serve({ DSR_LOG_LEVEL: "info" });
      expect((await fetch(served.url("/healthz"))).status).to.equal(200);
      const exit = await served.stop("SIGTERM");
      expect(exit).to.include({ code: 0, signal: null });
      expect(exit.ms).to.be.below(10_000);
      expect(served.stdout).to.include('"msg":"shutting down"');
      expect(served.stdout).to.include('"msg":"dsr service stopped"');
      expect(served.stderr).to.equal("");
      let refused = false;
      await fetch(served.url("/healthz")).catch(() => (refused = true));
      expect(refused, "the port still answers after exit").to.equal(true);
    });

    it("registers DSR_BOOTSTRAP_ADMIN_TOKEN as an ADMIN token once, not again on restart", async () => {
      const bootstrap = "bootstrap-admin-token-0123456789abcdefgh";
      expect(bootstrap).to.have.length(40);
      for (let run = 1; run <= 2; run++) {
        const served = await serve({ DSR_BOOTSTRAP_ADMIN_TOKEN: bootstrap });
        const answer = await served.graphql(VIEWER, bootstrap);
        expect(answer.status, `run ${run}`).to.equal(200);
        expect(answer.body, `run ${run}`).to.deep.equal({ data: { viewer: { role: "ADMIN", name: "bootstrap admin" } } });
        expect(await served.stop("SIGTERM"), `run ${run}`).to.include({ code: 0 });
      }
      const tokens = await listTokens();
      expect(tokens).to.have.length(1);
      expect(tokens[0]).to.deep.include({ role: "ADMIN", name: "bootstrap admin", prefix: bootstrap.slice(0, 12), revokedAt: null });
    });

    it("refuses to run a worker process beside the sample workspace, which lives inside dsr serve", async () => {
      const result = await dsr(["worker"], {});
      expect(result.code).to.equal(78);
      expect(result.stderr).to.equal("dsr: worker processes need DSR_CONNECTORS_FILE: the sample workspace runs inside `dsr serve` only (set DSR_SAMPLE_WORKSPACE=false or give a connectors file)\n");
      expect(fs.existsSync(path.join(dataDir, "sample")), "no second set of stand-ins was seeded").to.equal(false);
    });

    it("exits 78 naming DATABASE_URL, without its password, when the URL cannot be read (a port that is not a number, a # in the password)", async () => {
      for (const url of ["mysql://dsr:Hunter2pw@127.0.0.1:notaport/dsr", "mysql://dsr:Hunter2#pw@127.0.0.1:3306/dsr"]) {
        const result = await dsr(["serve"], { DATABASE_URL: url });
        expect(result.code, result.stderr).to.equal(78);
        expect(lines(result.stderr)).to.deep.equal([
          "dsr: invalid configuration:",
          "  - DATABASE_URL cannot be read as a URL: check that the port is a number, and that the user name and password are percent-encoded (an @, :, /, ? or # in them written %40, %3A, %2F, %3F, %23)",
        ]);
        expect(result.stderr).to.not.include("Hunter2");
        expect(fs.existsSync(dataDir)).to.equal(false);
      }
    });

    it("stops with the reason, not a hang at full CPU, when DSR_DATA_DIR cannot be created", async function () {
      // The kernel answers ENOENT to a new folder in /proc, on which Node's recursive mkdir loops for ever.
      if (!fs.existsSync("/proc/self")) this.skip();
      for (const [folder, reason] of [
        ["/proc/dsr-no-such-folder", "cannot create the folder /proc/dsr-no-such-folder (ENOENT)"],
        [path.join(work, "file", "data"), `cannot create the folder ${path.join(work, "file", "data")}: ${path.join(work, "file")} is a file, not a folder`],
      ]) {
        fs.writeFileSync(path.join(work, "file"), "");
        const started = Date.now();
        const result = await dsr(["serve"], { DSR_DATA_DIR: folder, DSR_SAMPLE_WORKSPACE: "false", PORT: "0" }, 15_000);
        expect(result.code, result.stderr).to.equal(1);
        expect(lines(result.stderr)).to.deep.equal([`dsr: ${reason}`]);
        expect(Date.now() - started).to.be.below(10_000);
      }
    });

    it("exits 78 naming every bad setting, and touches nothing, when the configuration is invalid", async () => {
      const result = await dsr(["serve"], { PORT: "abc", DSR_LOG_LEVEL: "loud" });
      expect(result.code).to.equal(78);
      expect(result.stderr).to.match(/^dsr: invalid configuration:\n/);
      expect(result.stderr).to.match(/^ {2}- PORT /m);
      expect(result.stderr).to.match(/^ {2}- DSR_LOG_LEVEL /m);
      expect(result.stderr).not.to.match(/^\s+at /m);
      expect(result.stdout).to.equal("");
      expect(fs.existsSync(dataDir)).to.equal(false);
    });
  });
});
