import type { ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { expect } from "chai";
import mysql from "mysql2/promise";
import { isWake, wakeDatagram } from "../src/orchestrator/wake";
import { tempDir, TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";
import { mariadbOrSkip, WorkerProcesses } from "./support/workerProcesses";

const APPROVE = `mutation($id: ID!) { approveRequest(id: $id) { id } }`;

describe("wake datagrams", () => {
  it("verifies only datagrams signed with the secret, of this format, within a minute of now", () => {
    const now = 1_800_000_000_000;
    expect(isWake("s3cret", wakeDatagram("s3cret", now), now)).to.equal(true);
    expect(isWake("s3cret", wakeDatagram("s3cret", now - 59_000), now)).to.equal(true);
    expect(isWake("s3cret", wakeDatagram("other", now), now), "another secret").to.equal(false);
    expect(isWake("s3cret", wakeDatagram("s3cret", now - 61_000), now), "too old").to.equal(false);
    const good = wakeDatagram("s3cret", now).toString("latin1");
    for (const bad of [good.replace("dsr-wake/1", "dsr-wake/2"), `${good} extra`, good.slice(0, -1), good.replace(/ \d+ /, ` ${now + 1} `), "", "x".repeat(4000)]) {
      expect(isWake("s3cret", Buffer.from(bad, "latin1"), now), bad.slice(0, 40)).to.equal(false);
    }
  });
});

/**
 * Wake-ups across processes, with real `dsr worker` processes that poll once a minute: an approval
 * made in the serving process starts at once in the worker (not at its next poll), a forged wake does
 * nothing, and a worker's row in wake_endpoints goes when it stops.
 */
describe("wake-ups across processes [mariadb]", function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let dir: string;
  let t: TestService | undefined;
  const workers = new WorkerProcesses(() => ({ DATABASE_URL: db.url, CRASH_EFFECTS_URL: db.url, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir }));

  before(async function () {
    db = await mariadbOrSkip(this);
    dir = tempDir("dsr-wake-");
    const effects = await mysql.createConnection({ uri: db.url });
    await effects.query("CREATE TABLE crash_effects (idempotencyKey VARCHAR(100) PRIMARY KEY, calls INT NOT NULL)");
    await effects.end();
    const connectors = ["accounts", "tickets"].map((name) => ({ type: "module", module: path.resolve(__dirname, "support", "crashConnector.js"), options: { name, delayMs: 5 }, env: { databaseUrl: "CRASH_EFFECTS_URL" } }));
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors }));
    process.env.CRASH_EFFECTS_URL = db.url;
  });
  afterEach(async () => {
    workers.killAll();
    await t?.stop();
    t = undefined;
  });
  after(async () => {
    await db?.drop();
    delete process.env.CRASH_EFFECTS_URL;
  });

  /** The serving process: no worker of its own, so every task runs in a `dsr worker` process. */
  const serve = async (env: Record<string, string> = {}) =>
    (t = await new TestService(db, { DSR_DATA_DIR: dir, DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_WORKER_CONCURRENCY: "0", ...env }, null).start());

  /** A `dsr worker` process that looks for work once a minute; resolves once it is listed in wake_endpoints. */
  async function startWorker(env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
    const before = new Set((await t!.ds.query(`SELECT workerId FROM wake_endpoints`)).map((r: any) => r.workerId));
    const child = workers.start(2, { DSR_LOG_LEVEL: "info", DSR_WORKER_POLL_MS: "60000", DSR_TASK_LEASE_MS: "30000", ...env }, ["ignore", "pipe", "inherit"]);
    // Its log says when it runs (and whether it listens): `worker started`, with wakePort.
    const started = await new Promise<{ wakePort: number | null }>((resolve, reject) => {
      const lines = readline.createInterface({ input: child.stdout! });
      lines.on("line", (line) => {
        if (line.includes('"worker started"')) resolve(JSON.parse(line));
      });
      child.once("exit", (code) => reject(new Error(`dsr worker exited (${code}) before it started`)));
    });
    if (env.DSR_WAKE_ENABLED === "false") {
      expect(started.wakePort).to.equal(null);
      return { child, port: 0 };
    }
    const row = await t!.waitFor(
      async () => (await t!.ds.query(`SELECT workerId, host, port FROM wake_endpoints`)).find((r: any) => !before.has(r.workerId) && String(r.workerId).includes(`:${child.pid}:`)),
      "the worker listed in wake_endpoints",
      30_000,
    );
    expect(row.host).to.equal(env.DSR_WAKE_ADVERTISE_HOST ?? "127.0.0.1");
    return { child, port: Number(row.port) };
  }

  const approved = async () => {
    const { submitRequest } = await t!.ok(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, {
      input: { type: "DELETION", subject: { email: `wake-${Date.now()}@example.com` }, identityVerified: true, verificationEvidence: "wake test" },
    });
    await t!.ok(APPROVE, { id: submitRequest.id });
    return submitRequest.id as string;
  };
  const claimed = async (id: string) => Number((await t!.ds.query(`SELECT COUNT(*) AS n FROM tasks WHERE requestId = ? AND attempts > 0`, [id]))[0].n);
  const status = async (id: string) => (await t!.ds.query(`SELECT status FROM requests WHERE id = ?`, [id]))[0].status as string;
  const completed = (id: string, withinMs: number) => t!.waitFor(async () => ((await status(id)) === "COMPLETED" ? true : undefined), `request ${id} completed within ${withinMs} ms`, withinMs);

  it("starts an approval made in the serving process at once in a worker process that polls once a minute", async () => {
    await serve();
    // Listening on every address, and listed under the name the others reach it by.
    await startWorker({ DSR_WAKE_HOST: "0.0.0.0", DSR_WAKE_ADVERTISE_HOST: "localhost" });
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const id = await approved();
      await completed(id, 15_000);
      expect(Date.now() - started, "approval to COMPLETED").to.be.lessThan(15_000);
    }
    // What the worker did it did on the effects table: each request's erasures ran once per connector.
    const [effects] = await (await mysql.createConnection({ uri: db.url })).query("SELECT COUNT(*) AS n FROM crash_effects");
    expect(Number((effects as any)[0].n)).to.equal(6);
  });

  it("leaves the work for the next poll without a wake, drops a forged wake, and acts on one signed with the secret", async () => {
    // The serving process sends no wakes: the approval waits for the worker's poll, a minute away.
    await serve({ DSR_WAKE_ENABLED: "false" });
    const { port } = await startWorker();
    const id = await approved();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await claimed(id), "claimed without a wake").to.equal(0);
    const socket = dgram.createSocket("udp4");
    const send = (datagram: Buffer) => new Promise<void>((resolve, reject) => socket.send(datagram, port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
    try {
      await send(wakeDatagram("not-the-service-secret"));
      await send(Buffer.from("wake up"));
      await new Promise((r) => setTimeout(r, 2000));
      expect(await claimed(id), "claimed after forged wakes").to.equal(0);
      await send(wakeDatagram(t!.service.services.secret));
      await completed(id, 15_000);
    } finally {
      socket.close();
    }
  });

  it("takes a worker off wake_endpoints when it stops, and a worker with wakes turned off never lists itself", async () => {
    await serve();
    const { child } = await startWorker();
    // Right after it started, its loop busy with its first look: the stop ends it now, not after the minute's sleep.
    const stopping = Date.now();
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
    expect(Date.now() - stopping, "SIGTERM to exit").to.be.lessThan(15_000);
    expect(await t!.ds.query(`SELECT workerId FROM wake_endpoints`)).to.deep.equal([]);
    await startWorker({ DSR_WAKE_ENABLED: "false" });
    expect(await t!.ds.query(`SELECT workerId FROM wake_endpoints`)).to.deep.equal([]);
  });
});
