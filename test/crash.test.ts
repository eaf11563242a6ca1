import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { expect } from "chai";
import mysql from "mysql2/promise";
import { tempDir, TestDatabase } from "./support/databases";
import { TaskStep } from "../src/domain/tasks";
import { TaskRow } from "../src/entities";
import { ZipReader } from "../src/export/zipReader";
import { idempotencyKey } from "../src/orchestrator/sql/insertPlan";
import { download, exportLink } from "./export/support";
import { BIG_EVENTS, bigAuthLog } from "./support/bigAuthLog";
import { submit, TestService } from "./support/harness";
import { mariadbOrSkip, WorkerProcesses } from "./support/workerProcesses";

const REQUESTS = 200;
/** `dsr worker` processes claiming at once from the one database (each runs 4 tasks at a time). */
const WORKERS = 4;
const CONNECTORS = ["accounts", "payments", "tickets", "authlog"];

describe("crash recovery [mariadb]", function () {
  this.timeout(780_000);
  let db: TestDatabase;
  let t: TestService;
  let dir: string;
  const workers = new WorkerProcesses(() => ({ DATABASE_URL: db.url, CRASH_EFFECTS_URL: db.url, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir, DSR_LOG_LEVEL: process.env.DSR_CRASH_LOG_LEVEL ?? "error" }));

  before(async function () {
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-crash-");
    const effects = await mysql.createConnection({ uri: db.url });
    await effects.query("CREATE TABLE crash_effects (idempotencyKey VARCHAR(100) PRIMARY KEY, calls INT NOT NULL)");
    await effects.end();
    const module = path.resolve(__dirname, "support", "crashConnector.js");
    const connectors = CONNECTORS.map((name) => ({
      type: "module",
      module,
      options: { name, delayMs: 25, ...(name === "accounts" ? { provides: ["paymentCustomerId"] } : {}), ...(name === "payments" ? { needs: ["paymentCustomerId"] } : {}) },
      env: { databaseUrl: "CRASH_EFFECTS_URL" },
    }));
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors }, null, 2));
    process.env.CRASH_EFFECTS_URL = db.url;
    // 200 submissions and approvals in a burst from one token: a load test, not a client to throttle.
    // The workers share the service's data folder: its audit signing key and checkpoint storage.
    t = await new TestService(db, { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0", DSR_RATE_LIMIT_PER_SECOND: "0" }, null).start();
  });

  after(async () => {
    workers.killAll();
    await t?.stop();
    await db?.drop();
    delete process.env.CRASH_EFFECTS_URL;
  });

  const startWorker = () => workers.start(4, { DSR_TASK_MAX_ATTEMPTS: "25" });

  it("loses no request and repeats no side effect while workers are SIGKILLed at random", async () => {
    for (let i = 0; i < REQUESTS; i++) {
      const r = await t.ok(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, {
        input: { type: "DELETION", subject: { email: `person${i}@example.com` }, identityVerified: true, verificationEvidence: "crash test" },
      });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.submitRequest.id });
    }
    for (let i = 0; i < WORKERS; i++) startWorker();
    let kills = 0;
    const openCount = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM requests WHERE status NOT IN ('COMPLETED', 'FAILED')`))[0].n);
    // Generous: a correctness test, not a speed one (the 2-core CI box runs other suites alongside).
    const deadline = Date.now() + 600_000;
    while ((await openCount()) > 0) {
      if (Date.now() > deadline) {
        const left = await t.ds.query(`SELECT step, status, COUNT(*) AS n FROM tasks WHERE status NOT IN ('SUCCEEDED') GROUP BY step, status`);
        throw new Error(`requests still open after 600 s (${kills} kills); tasks left: ${JSON.stringify(left)}`);
      }
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 500));
      // Victims hold leases right now (worker ids carry the pid): a kill always leaves tasks to take back.
      const holders = (await t.ds.query(`SELECT DISTINCT lockedBy FROM tasks WHERE status = 'RUNNING'`)).map((r: any) => Number(String(r.lockedBy).split(":")[1]));
      const victims = [...workers.running].filter((w) => holders.includes(w.pid!));
      const victim = victims[Math.floor(Math.random() * victims.length)];
      if (victim && kills < 40) {
        victim.kill("SIGKILL");
        kills += 1;
      }
      while (workers.running.size < WORKERS) startWorker();
    }
    for (const w of workers.running) w.kill("SIGTERM");

    const statuses = await t.ds.query(`SELECT status, COUNT(*) AS n FROM requests GROUP BY status`);
    expect(statuses.map((s: any) => [s.status, Number(s.n)])).to.deep.equal([["COMPLETED", REQUESTS]]);
    const tasks = await t.ds.query(`SELECT step, status, COUNT(*) AS n FROM tasks GROUP BY step, status ORDER BY step`);
    expect(tasks.map((s: any) => [s.step, s.status, Number(s.n)])).to.deep.equal([
      ["COLLECT", "SUCCEEDED", REQUESTS * CONNECTORS.length],
      ["ERASE", "SUCCEEDED", REQUESTS * CONNECTORS.length],
      ["RESOLVE", "SUCCEEDED", REQUESTS],
    ]);
    // Every erasure reached the remote system under exactly one key, the task's own: retries reused it.
    // An erasure that ran before the identity source's has a closing pass, under a key of its own.
    const erases = await t.ds.getRepository(TaskRow).findBy({ step: TaskStep.ERASE });
    const keys = erases
      .flatMap((e) => (e.result?.closingPass ? [e.idempotencyKey, idempotencyKey(e.requestId, e.connector, TaskStep.ERASE)] : [e.idempotencyKey]))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const effects = await t.ds.query(`SELECT idempotencyKey, calls FROM crash_effects ORDER BY idempotencyKey`);
    expect(effects.map((e: any) => e.idempotencyKey)).to.deep.equal(keys);
    const repeated = effects.filter((e: any) => Number(e.calls) > 1).length;
    const expired = Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'task.lease_expired'`))[0].n);
    console.log(`      ${kills} workers killed; ${expired} leases taken back; ${repeated} erasures asked again and applied once`);
    expect(kills).to.be.at.least(5);
    // A lease may end on its own between the look and the kill: most kills, not all, leave one to take back.
    expect(expired, "kills left leases to take back").to.be.at.least(Math.ceil(kills / 2));
    const chain = (await t.ok(`{ verifyAuditTrail { ok checkedEvents } }`)).verifyAuditTrail;
    expect(chain.ok).to.equal(true);
  });
});

describe("crash recovery during a big collect [mariadb]", function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let t: TestService;
  let dir: string;
  let worker: ChildProcess | null = null;
  // Shared by the service and the workers: the workers stage and export, the service serves the download.
  const masterKey = randomBytes(32).toString("base64");

  before(async function () {
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-crash-big-");
    const { file } = await bigAuthLog();
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "auth-log", options: { store: "sql", url: `sqlite:${file}` } }] }));
    t = await new TestService(db, { DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir, DSR_EXPORT_MASTER_KEY: masterKey }, null).start();
  });

  after(async () => {
    worker?.kill("SIGKILL");
    await t?.stop();
    await db?.drop();
  });

  const processes = new WorkerProcesses(() => ({ DATABASE_URL: db.url, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir, DSR_EXPORT_MASTER_KEY: masterKey }));
  const startWorker = () => processes.start(2);

  it("discards the killed worker's partial collect and exports every event exactly once", async () => {
    const { ada } = await bigAuthLog();
    const id = (await submit(t, { subject: { email: ada.email, userId: ada.userId }, identityVerified: true, verificationEvidence: "the caller checked the user id is hers" })).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    worker = startWorker();
    const staged = async () => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE requestId = ?`, [id]))[0].n);
    // Killed in the middle of the collect: some batches of its first attempt are stored, not all.
    await t.waitFor(async () => ((await staged()) >= 2 ? true : undefined), "a partial collect", 120_000);
    worker.kill("SIGKILL");
    const partial = await staged();
    worker = startWorker();
    const done = await t.waitFor(async () => {
      const r = (await t.ok(`query($id: ID!) { request(id: $id) { status tasks { step status attempts outcome { records } } export { records } } }`, { id })).request;
      return r.status === "COMPLETED" || r.status === "FAILED" ? r : undefined;
    }, "request COMPLETED", 240_000);
    expect(done.status).to.equal("COMPLETED");
    const collect = done.tasks.find((x: any) => x.step === "COLLECT");
    expect(collect.attempts).to.be.at.least(2);
    expect(collect.outcome.records).to.equal(BIG_EVENTS);
    expect(done.export.records).to.equal(BIG_EVENTS);
    // The archive itself: every event once, none of the killed attempt's twice.
    const got = await download((await exportLink(t, id)).url);
    const zip = ZipReader.open(got.file!);
    const ids = new Set<string>();
    let lines = 0;
    for await (const line of readline.createInterface({ input: zip.stream("data/auth_logs.jsonl") })) {
      lines += 1;
      ids.add((JSON.parse(line) as { id: string }).id);
    }
    zip.close();
    expect([lines, ids.size]).to.deep.equal([BIG_EVENTS, BIG_EVENTS]);
    expect([await staged(), Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_keys`))[0].n)]).to.deep.equal([0, 0]);
    console.log(`      killed with ${partial} batches staged; collect attempts ${collect.attempts}; ${lines} events exported once each`);
  });
});
