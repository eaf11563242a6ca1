import { ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import mysql from "mysql2/promise";
import { checkpointName, CHECKPOINT_PREFIX } from "../src/audit/checkpointStore";
import { seededRandom } from "../src/sample/people";
import { dsrAgainst } from "./support/auditTools";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

// better-sqlite3 ships no type declarations here; this is the part of its API the test uses.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require("better-sqlite3") as new (file: string) => { exec(sql: string): void; close(): void };

const BIN = path.resolve(__dirname, "..", "..", "bin", "dsr.js");
/** DSR_TEST_AUDIT_SEED replays a run of the random kills (the seed is in the test's failure message). */
const SEED = Number(process.env.DSR_TEST_AUDIT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const VERIFY = `query($full: Boolean) { verifyAuditTrail(full: $full) { ok latestCheckpoint checkedCheckpoints unsealedEvents problems { kind description } } }`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeEachDatabase("audit checkpoints when the checkpointer is killed", (db) => {
  let t: TestService;
  const children = new Set<ChildProcess>();
  beforeEach(async () => {
    t = await new TestService(db()).start();
  });
  afterEach(async () => {
    for (const c of children) c.kill("SIGKILL");
    await t.stop();
  });

  const fileOf = (n: number) => path.join(t.service.services.config.dataDir, CHECKPOINT_PREFIX, checkpointName(n));

  /** `dsr audit checkpoint` in its own process, to be killed. */
  function checkpointer(): ChildProcess {
    const env = { PATH: process.env.PATH, DATABASE_URL: t.service.services.config.DATABASE_URL, DSR_DATA_DIR: t.service.services.config.dataDir, DSR_LOG_LEVEL: "error", DSR_MIGRATE_ON_START: "false" };
    const child = spawn(process.execPath, [BIN, "audit", "checkpoint"], { env, stdio: "ignore" });
    children.add(child);
    child.once("exit", () => children.delete(child));
    return child;
  }

  /** SIGKILLs the child if it is still running; true when it was. */
  async function kill(child: ChildProcess): Promise<boolean> {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await gone;
    return true;
  }

  /**
   * Holds the database's write lock where the checkpointer records its checkpoint, so a child is caught
   * after it stored the file and before it recorded it: the moment a crash is worst.
   */
  async function blockRecording(): Promise<() => Promise<void>> {
    if (db().kind === "sqlite") {
      const file = db().url.slice("sqlite:".length);
      const conn = new Database(file);
      conn.exec("BEGIN IMMEDIATE");
      return async () => {
        conn.exec("ROLLBACK");
        conn.close();
      };
    }
    const conn = await mysql.createConnection({ uri: db().url });
    await conn.query("BEGIN");
    await conn.query(`INSERT INTO audit_checkpoints (number, sha256, sealedAt, streams, events) VALUES (1, 'placeholder', NOW(3), 0, 0)`);
    return async () => {
      await conn.query("ROLLBACK");
      await conn.end();
    };
  }

  async function history(requests: number): Promise<void> {
    for (let i = 0; i < requests; i++) await submit(t, { subject: { email: `crash${i}@example.com` } });
  }

  async function expectIntact(latest: number): Promise<void> {
    const v = (await t.ok(VERIFY, { full: true })).verifyAuditTrail;
    expect(v, JSON.stringify(v.problems)).to.deep.include({ ok: true, latestCheckpoint: latest, checkedCheckpoints: latest, unsealedEvents: 0 });
    const cli = await dsrAgainst(t, ["audit", "verify", "--full"]);
    expect(cli.code, cli.stdout + cli.stderr).to.equal(0);
  }

  it("takes in a checkpoint whose writer was killed after storing it and before recording it, and links the next one to it", async function () {
    this.timeout(120_000);
    await history(20);
    const release = await blockRecording();
    const child = checkpointer();
    try {
      await t.waitFor(async () => (fs.existsSync(fileOf(1)) ? true : undefined), "checkpoint 1 in storage", 60_000);
      await kill(child);
    } finally {
      await release();
    }
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_checkpoints`))[0].n)).to.equal(0);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_stream_heads WHERE unsealed = 1`))[0].n)).to.equal(21);

    await history(1);
    const next = await dsrAgainst(t, ["audit", "checkpoint"]);
    expect(next.stdout).to.match(/sealed checkpoint 2: 1 event\(s\) in 1 trail\(s\) \(took in checkpoint 1/);
    await expectIntact(2);
  });

  it(`ends with consistent checkpoints and an intact trail after checkpointers are killed at random moments (seed ${SEED})`, async function () {
    this.timeout(240_000);
    const random = seededRandom(SEED);
    let kills = 0;
    try {
      for (let round = 0; round < 8; round++) {
        await history(3);
        const child = checkpointer();
        await sleep(200 + random() * 1800);
        if (await kill(child)) kills += 1;
      }
      const last = await dsrAgainst(t, ["audit", "checkpoint"]);
      expect(last.code, last.stderr).to.equal(0);
      const stored = fs.readdirSync(path.dirname(fileOf(1))).filter((f) => f.endsWith(".json")).length;
      const recorded = Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_checkpoints`))[0].n);
      expect(recorded).to.equal(stored);
      await expectIntact(stored);
      console.log(`      ${kills} of 8 checkpointers killed while running; ${stored} checkpoints in the end`);
    } catch (error) {
      (error as Error).message = `seed ${SEED} (replay: DSR_TEST_AUDIT_SEED=${SEED}): ${(error as Error).message}`;
      throw error;
    }
  });
});
