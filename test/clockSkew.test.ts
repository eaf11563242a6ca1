import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { expect } from "chai";
import mysql from "mysql2/promise";
import pino from "pino";
import { ConnectorError } from "../src/connectors/sdk";
import { clockProblem, ClockWatch, skewBoundMs } from "../src/db/clockSkew";
import { beginErasureUnit } from "../src/orchestrator/holdFence";
import { REQUIRE_MYSQL, tempDir, TestDatabase } from "./support/databases";
import { bigAuthLog, BIG_EVENTS } from "./support/bigAuthLog";
import { submit, TEST_START, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { mariadbOrSkip, WorkerProcesses } from "./support/workerProcesses";

const BIN = path.resolve(__dirname, "..", "..", "bin", "dsr.js");
/** Debian's libfaketime (package faketime, which .ci/run installs): a process whose clock is off, read from a file it rereads. */
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const ADMIN_TOKEN = "clock-skew-admin-token-0123456789";
const ADA = "ada.lovelace@example.com";

/** The environment that runs a process on the offset in `offsetFile`, reread at every call (its monotonic timers are left alone). */
const fakedClock = (offsetFile: string) => ({ LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: "1", FAKETIME_DONT_FAKE_MONOTONIC: "1" });

/** A suite that runs processes under libfaketime: skipped without it, failed instead under CI (DSR_TEST_REQUIRE_MYSQL). */
function faketimeOrSkip(suite: Mocha.Context): void {
  if (fs.existsSync(LIBFAKETIME)) return;
  if (REQUIRE_MYSQL) throw new Error(`${LIBFAKETIME} is missing: install Debian's faketime package (.ci/run does)`);
  suite.skip();
}

describe("clock skew readings", () => {
  it("holds a process to DSR_MAX_CLOCK_SKEW_MS, and to half a lease when that is less", () => {
    expect(skewBoundMs({ DSR_MAX_CLOCK_SKEW_MS: 2_000, DSR_TASK_LEASE_MS: 30_000 })).to.equal(2_000);
    expect(skewBoundMs({ DSR_MAX_CLOCK_SKEW_MS: 2_000, DSR_TASK_LEASE_MS: 1_500 })).to.equal(750);
  });

  it("counts only a difference beyond the bound and the read's own uncertainty, and says which way", () => {
    expect(clockProblem({ skewMs: 1_900, roundTripMs: 2 }, 2_000)).to.equal(null);
    expect(clockProblem({ skewMs: -2_300, roundTripMs: 800 }, 2_000), "within half the round trip").to.equal(null);
    expect(clockProblem({ skewMs: -90_000, roundTripMs: 2 }, 2_000)).to.match(/^this host's clock is 90\.0 s ahead of the database's \(at most 2000 ms allowed\)/);
    expect(clockProblem({ skewMs: 61_234, roundTripMs: 2 }, 2_000)).to.match(/^this host's clock is 61\.2 s behind the database's/);
  });
});

/**
 * Service processes on one MariaDB whose host clock is off, made with libfaketime: erasure units, hold
 * placements' marks and callback claims carry times written on one host and compared on another, so a
 * process past DSR_MAX_CLOCK_SKEW_MS neither starts, nor places holds, nor claims work, until its clock
 * is back. The clock is read from a file each process rereads, which the test rewrites.
 */
describe("service processes whose clock is off [mariadb]", function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: string;
  let t: TestService;
  let offsetFile: string;
  const children = new Set<ChildProcess>();
  const workers = new WorkerProcesses(() => ({ DATABASE_URL: db.url, CRASH_EFFECTS_URL: db.url, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir, ...faked() }));

  const faked = () => fakedClock(offsetFile);
  const setOffset = (offset: string) => fs.writeFileSync(offsetFile, `${offset}\n`);

  before(async function () {
    faketimeOrSkip(this);
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-clock-");
    offsetFile = path.join(dir, "faketime");
    const effects = await mysql.createConnection({ uri: db.url });
    await effects.query("CREATE TABLE crash_effects (idempotencyKey VARCHAR(100) PRIMARY KEY, calls INT NOT NULL)");
    await effects.end();
    const connectors = [{ type: "module", module: path.resolve(__dirname, "support", "crashConnector.js"), options: { name: "accounts", delayMs: 5 }, env: { databaseUrl: "CRASH_EFFECTS_URL" } }];
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors }));
    process.env.CRASH_EFFECTS_URL = db.url;
    // The test's own service (no worker: tasks run in the `dsr worker` processes) made the schema.
    t = await new TestService(db, { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0" }, null).start();
  });
  afterEach(() => {
    workers.killAll();
    for (const child of children) child.kill("SIGKILL");
  });
  after(async () => {
    await t?.stop();
    await db?.drop();
    delete process.env.CRASH_EFFECTS_URL;
  });

  /** Starts `dsr serve` on the offset file, stdout piped (its log). */
  function serve(env: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [BIN, "serve"], {
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "test",
        PORT: "0",
        DSR_HOST: "127.0.0.1",
        DATABASE_URL: db.url,
        CRASH_EFFECTS_URL: db.url,
        DSR_DATA_DIR: dir,
        DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"),
        DSR_WORKER_CONCURRENCY: "0",
        DSR_MIGRATE_ON_START: "false",
        DSR_BOOTSTRAP_ADMIN_TOKEN: ADMIN_TOKEN,
        DSR_LOG_LEVEL: "info",
        DSR_CLOCK_CHECK_MS: "1000",
        ...faked(),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    child.once("exit", () => children.delete(child));
    return child;
  }

  /** Everything a child writes on a stream, until it exits. */
  const output = (stream: NodeJS.ReadableStream) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    return () => Buffer.concat(chunks).toString("utf8");
  };

  /** The URL a `dsr serve` logs once it listens. */
  const listening = (child: ChildProcess) =>
    new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line.includes('"dsr service listening"')) resolve(new URL(JSON.parse(line).url).origin);
      });
      child.once("exit", (code) => reject(new Error(`dsr serve exited (${code}) before it listened`)));
    });

  const gql = async (base: string, query: string, variables: Record<string, unknown> = {}) =>
    (await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ query, variables }) })).json() as Promise<any>;
  const PLACE = `mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["ACCOUNT"], reason: "Litigation", caseReference: "CASE-7" }) { id status } }`;
  const holds = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM legal_holds`))[0].n);

  it("refuses to start `dsr worker` (clock ahead) and `dsr serve` (behind) past DSR_MAX_CLOCK_SKEW_MS, exit 78, having written nothing", async () => {
    setOffset("+90s");
    const worker = workers.start(2, {}, ["ignore", "ignore", "pipe"]);
    const workerErr = output(worker.stderr!);
    const [workerCode] = await once(worker, "exit");
    expect(workerCode).to.equal(78);
    expect(workerErr()).to.match(/^dsr: refusing to start: this host's clock is 9\d\.\d s ahead of the database's \(at most 750 ms allowed\): hold placements and erasures compare times/);

    setOffset("-90s");
    const server = serve();
    const serverErr = output(server.stderr!);
    const [serverCode] = await once(server, "exit");
    expect(serverCode).to.equal(78);
    expect(serverErr()).to.match(/^dsr: refusing to start: this host's clock is 9\d\.\d s behind the database's/);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM wake_endpoints`))[0].n), "neither listed itself").to.equal(0);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM api_tokens WHERE name = 'bootstrap admin'`))[0].n), "no bootstrap token written").to.equal(0);

    // A bound wide enough for the difference: both start.
    setOffset("+1s");
    const ok = serve({ DSR_MAX_CLOCK_SKEW_MS: "5000" });
    await listening(ok);
  });

  it("refuses hold placements (CONFLICT, retryable) and answers /readyz 503 while a running process's clock is off, and places them once it is back", async () => {
    setOffset("+0");
    const server = serve();
    const base = await listening(server);
    expect((await fetch(`${base}/readyz`)).status).to.equal(200);

    setOffset("+90s");
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).to.equal(503);
    expect(await ready.json()).to.deep.equal({ status: "unavailable", reason: "clock skew" });
    const refused = await gql(base, PLACE);
    expect(refused.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(refused.errors?.[0]?.extensions?.retryable).to.equal(true);
    expect(refused.errors?.[0]?.message).to.match(/^The hold was not placed: this host's clock is 9\d\.\d s ahead of the database's .*Nothing changed/);
    expect(refused.errors?.[0]?.message).not.to.contain(ADA);
    expect(await holds(), "no hold written").to.equal(0);

    setOffset("+0");
    expect((await fetch(`${base}/readyz`)).status).to.equal(200);
    const placed = await gql(base, PLACE);
    expect(placed.errors, JSON.stringify(placed.errors)).to.equal(undefined);
    expect(placed.data.placeLegalHold.status).to.equal("ACTIVE");
    expect(await holds()).to.equal(1);
    await t.ds.query(`DELETE FROM legal_holds`);
  });

  it("starts no unit of erasure while the process's clock is off (a retryable error: its task is retried), and starts one once it is back", async () => {
    // This process's watch, reading a clock the test sets (the real one is the database's own host's).
    let skewMs = 90_000;
    const watch = new ClockWatch(t.ds, 2_000, pino({ level: "silent" }), async () => ({ skewMs, roundTripMs: 1 }));
    await watch.check();
    watch.start(60_000);
    const owner = { subjectEmail: ADA, taskId: "task-clock", requestId: "request-clock", connector: "accounts" };
    const units = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM erasure_units WHERE taskId = 'task-clock'`))[0].n);
    try {
      const refused = await beginErasureUnit(t.service.services, owner, ["ACCOUNT"], 10_000).then(
        () => expect.fail("a unit started"),
        (error: ConnectorError) => error,
      );
      expect(refused).to.be.instanceOf(ConnectorError);
      expect(refused.retryable).to.equal(true);
      expect(refused.userMessage).to.match(/^The erasure paused: this host's clock is 90\.0 s behind the database's/);
      expect(await units(), "no unit recorded").to.equal(0);
      skewMs = 10;
      await watch.check();
      const started = await beginErasureUnit(t.service.services, owner, ["ACCOUNT"], 10_000);
      expect(started.allowed).to.deep.equal(["ACCOUNT"]);
      expect(await units()).to.equal(1);
    } finally {
      watch.stop();
      await t.ds.query(`DELETE FROM erasure_units WHERE taskId = 'task-clock'`);
    }
  });

  it("claims nothing while a running worker's clock is off, and runs the work once it is back", async () => {
    setOffset("+0");
    const worker = workers.start(2, { DSR_LOG_LEVEL: "info", DSR_CLOCK_CHECK_MS: "1000", DSR_WORKER_POLL_MS: "50" }, ["ignore", "pipe", "inherit"]);
    const log = output(worker.stdout!);
    await new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: worker.stdout! }).on("line", (line) => line.includes('"worker started"') && resolve());
      worker.once("exit", (code) => reject(new Error(`dsr worker exited (${code}) before it started`)));
    });
    setOffset("+90s");
    // Its next reading (every second) sees the difference.
    await t.waitFor(async () => (log().includes("clock skew: this host's clock is") ? true : undefined), "the worker logged the skew", 10_000);
    const r = await submit(t, { type: "ACCESS", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const started = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE requestId = ? AND startedAt IS NOT NULL`, [r.id]))[0].n);
    expect(await started(), "no task claimed in 1.5 s (the worker polls every 50 ms)").to.equal(0);

    setOffset("+0");
    const done = await t.waitFor(async () => {
      const x = (await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request;
      return x.status === "COMPLETED" ? x : undefined;
    }, "the request completed once the clock was back", 20_000);
    expect(done.status).to.equal("COMPLETED");
    expect(log()).to.include("this host's clock agrees with the database's again");
  });
});

/**
 * A worker host's wall clock stepped back (as NTP steps a clock that ran ahead) while a big collect
 * runs. Leases are timed on the database's clock, and a task keeps its lease by heartbeats paced on
 * elapsed time: paced on the wall clock, they stopped for as long as the step, the lease ran out and
 * the attempt was discarded as "lease lost". Paced on the monotonic clock, the collect goes on.
 */
describe("a worker whose wall clock steps back mid-collect [mariadb]", function () {
  this.timeout(240_000);
  let db: TestDatabase;
  let t: TestService;
  let dir: string;
  let offsetFile: string;
  const masterKey = randomBytes(32).toString("base64");
  const processes = new WorkerProcesses(() => ({
    DATABASE_URL: db.url,
    DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"),
    DSR_DATA_DIR: dir,
    DSR_EXPORT_MASTER_KEY: masterKey,
    ...fakedClock(offsetFile),
  }));

  before(async function () {
    faketimeOrSkip(this);
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-clock-step-");
    offsetFile = path.join(dir, "faketime");
    fs.writeFileSync(offsetFile, "+0\n");
    const { file } = await bigAuthLog();
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "auth-log", options: { store: "sql", url: `sqlite:${file}` } }] }));
    t = await new TestService(db, { DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir, DSR_EXPORT_MASTER_KEY: masterKey }, null).start();
  });
  after(async () => {
    processes.killAll();
    await t?.stop();
    await db?.drop();
  });

  it("keeps the collect's lease through the step: one attempt, every event exported", async () => {
    const { ada } = await bigAuthLog();
    const id = (await submit(t, { subject: { email: ada.email, userId: ada.userId }, identityVerified: true, verificationEvidence: "the caller checked the user id is hers" })).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    // A lease of 600 ms, beaten every 150 ms; the step (1.8 s, inside DSR_MAX_CLOCK_SKEW_MS) is three leases long.
    processes.start(2, { DSR_TASK_LEASE_MS: "600" });
    const staged = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE requestId = ?`, [id]))[0].n);
    await t.waitFor(async () => ((await staged()) >= 1 ? true : undefined), "the collect under way", 120_000);
    fs.writeFileSync(offsetFile, "-1.8s\n");
    const done = await t.waitFor(async () => {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status tasks { step status attempts outcome { records } } export { records } } }`, { id })).request;
      return r.status === "COMPLETED" || r.status === "FAILED" ? r : undefined;
    }, "request ended", 180_000);
    expect(done.status).to.equal("COMPLETED");
    const collect = done.tasks.find((x: any) => x.step === "COLLECT");
    expect(collect.attempts, "no lease lost").to.equal(1);
    expect(done.export.records).to.equal(BIG_EVENTS);
  });
});

/**
 * A worker decides by its own clock when kept records are due for their purge: one whose clock is off
 * must not decide it (a clock a year ahead would purge what the law keeps a year early). Its watch
 * here reads a clock the test sets, in the test's own process.
 */
describe("a worker whose clock is off schedules no purge [mariadb]", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let t: TestService;
  before(async function () {
    db = await mariadbOrSkip(this);
  });
  after(async () => {
    await t?.stop();
    await db?.drop();
  });

  it("leaves a kept set that has come due alone while the clock is off, and purges it once the clock is back", async () => {
    const DAY = 86_400_000;
    // A charge of three years ago: kept seven years (an exception OPEN), due four years on.
    const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] }).seedDated(ADA, [new Date(TEST_START.getTime() - 3 * 365 * DAY)]);
    t = await new TestService(db, { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "400" }, [payments]).start();
    const r = await submit(t, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const exceptions = async () => (await t.ok(`query($id: ID!) { request(id: $id) { status retentionExceptions { status } } }`, { id: r.id })).request;
    await t.waitFor(async () => ((await exceptions()).status === "COMPLETED" ? true : undefined), "deletion completed");
    expect((await exceptions()).retentionExceptions).to.deep.equal([{ status: "OPEN" }]);

    let skewMs = 90_000;
    const watch = new ClockWatch(t.ds, 200, pino({ level: "silent" }), async () => ({ skewMs, roundTripMs: 1 }));
    await watch.check();
    watch.start(60_000);
    try {
      t.clock.advance(4 * 365 * DAY + 5 * DAY);
      // Sweeps every 200 ms (half the lease): a second is five of them.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const purges = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE requestId = ? AND step = 'PURGE'`, [r.id]))[0].n);
      expect(await purges(), "no purge scheduled by a skewed clock").to.equal(0);
      expect(payments.data.get(ADA)).to.have.length(1);

      skewMs = 10;
      await watch.check();
      await t.waitFor(async () => ((await exceptions()).retentionExceptions[0].status === "CLOSED" ? true : undefined), "the kept set purged once the clock is back", 20_000);
      expect(await purges()).to.equal(1);
      expect(payments.data.get(ADA)).to.equal(undefined);
    } finally {
      watch.stop();
    }
  });
});
