import { spawn } from "node:child_process";
import path from "node:path";
import { expect } from "chai";
import { createSqliteDatabase, TestDatabase } from "./support/databases";
import { GraphQLResponse, SUBMIT, TestService } from "./support/harness";
import { dsrAgainst } from "./support/auditTools";
import { writeAlone } from "../src/db/transaction";

// better-sqlite3 ships no type declarations here; this is the part of its API the test uses.
interface Statement { all(): unknown[]; get(): unknown }
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require("better-sqlite3") as new (file: string, options?: { readonly?: boolean }) => { prepare(sql: string): Statement; close(): void };

/**
 * Another process holds the embedded SQLite file's write lock (an operator's `sqlite3` shell, a backup,
 * another `dsr` process mid-write) while the service is asked to write. better-sqlite3 is synchronous:
 * the file's busy timeout is a sleep on the event loop's thread, so the service must wait for the lock
 * without it (Invariant 6), then either store the write whole or refuse it (CONFLICT, retryable) having
 * stored nothing (Invariant 4). Checked on the file's own rows, read by a connection of the test's.
 */
describe("the embedded SQLite file write-locked by another process", () => {
  let db: TestDatabase;
  let t: TestService;
  beforeEach(async () => {
    db = await createSqliteDatabase();
    t = await new TestService(db).start();
  });
  afterEach(async () => {
    await t?.stop();
    await db?.drop();
  });

  const file = () => db.url.slice("sqlite:".length);
  /** The file's own rows, read by a connection of the test's (not the service's). */
  const stored = () => {
    const reader = new Database(file(), { readonly: true });
    try {
      const requests = (reader.prepare("SELECT id FROM requests ORDER BY receivedAt, id").all() as Array<{ id: string }>).map((r) => r.id);
      const events = (reader.prepare("SELECT COUNT(*) AS n FROM audit_events").get() as { n: number }).n;
      const tokens = (reader.prepare("SELECT name FROM api_tokens ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
      return { requests, events, tokens };
    } finally {
      reader.close();
    }
  };

  /** A process that takes the write lock (BEGIN IMMEDIATE), holds it `holdMs`, then commits nothing and exits. */
  const lockHolder = (holdMs: number) => {
    const script = `const db = new (require("better-sqlite3"))(process.argv[1]); db.exec("BEGIN IMMEDIATE"); process.stdout.write("locked\\n");
      setTimeout(() => { db.exec("COMMIT"); db.close(); process.stdout.write("released\\n"); }, Number(process.argv[2]));`;
    const child = spawn(process.execPath, ["-e", script, file(), String(holdMs)], { cwd: path.resolve(__dirname, "..", ".."), stdio: ["ignore", "pipe", "inherit"] });
    const said = (word: string) => new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => ((out += c), out.includes(word) && resolve(performance.now())));
      child.once("exit", () => (out.includes(word) ? undefined : reject(new Error(`lock holder exited before it said ${word}`))));
    });
    return { locked: said("locked"), released: said("released") };
  };

  /**
   * Asks /healthz again and again until stop(), and returns the longest the service went without
   * answering (between answers, from the start and until the stop), in ms.
   */
  const silence = () => {
    let running = true;
    let last = performance.now();
    let longest = 0;
    const health = t.url.replace(/\/graphql$/, "/healthz");
    const loop = (async () => {
      while (running) {
        await fetch(health).then((r) => r.text());
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    return async () => {
      const stoppedAt = performance.now();
      running = false;
      await loop;
      return Math.round(Math.max(longest, stoppedAt - last));
    };
  };

  const input = (email: string) => ({ input: { type: "ACCESS", subject: { email }, identityVerified: true, verificationEvidence: "signed-in session" } });

  it("keeps answering while it waits for the lock, then stores the request whole once the lock is released", async () => {
    const before = stored();
    const holder = lockHolder(2500);
    await holder.locked;
    const probe = silence();
    const answer = t.gql(SUBMIT, input("ada.lovelace@example.com"));
    await holder.released;
    const result = await answer;
    // The lock was held 2.5 s: a service sleeping on it answers nothing for that long.
    expect(await probe(), "longest the service did not answer /healthz while the lock was held (ms)").to.be.below(1000);
    expect(result.errors, JSON.stringify(result.errors)).to.equal(undefined);
    const id = result.data.submitRequest.id;
    const after = stored();
    expect(after.requests).to.deep.equal([...before.requests, id]);
    expect(after.events).to.be.above(before.events);
  });

  it("refuses with CONFLICT (retryable) and stores nothing when the lock outlasts its wait, answering meanwhile", async () => {
    const before = stored();
    const holder = lockHolder(7000);
    await holder.locked;
    const probe = silence();
    const result = await t.gql(SUBMIT, input("grace.hopper@example.com"));
    const answeredAt = performance.now();
    await holder.released;
    expect(await probe(), "longest the service did not answer /healthz while the lock was held (ms)").to.be.below(1000);
    expect(result.data?.submitRequest ?? null).to.equal(null);
    expect(result.errors?.[0].extensions).to.deep.include({ code: "CONFLICT", retryable: true });
    expect(result.errors?.[0].message).to.not.match(/grace|hopper|SQLITE/i);
    expect(answeredAt).to.be.below(await holder.released);
    expect(stored()).to.deep.equal(before);
    // Sent again once the lock is gone, the same operation is stored.
    const again = await t.gql(SUBMIT, input("grace.hopper@example.com"));
    expect(again.errors, JSON.stringify(again.errors)).to.equal(undefined);
    expect(stored().requests).to.deep.equal([...before.requests, again.data.submitRequest.id]);
  });

  it("takes requests while dsr commands write the same file from their own processes: every write stored, every answer true", async () => {
    const before = stored();
    const names = ["operator-0", "operator-1"];
    let running = true;
    const commands = Promise.all([
      ...names.map((name) => dsrAgainst(t, ["token", "create", "--role", "AUDITOR", "--name", name], { DSR_MIGRATE_ON_START: "true" })),
      dsrAgainst(t, ["export", "purge"], { DSR_MIGRATE_ON_START: "true" }),
    ]).finally(() => (running = false));
    // Requests keep coming, two at a time, for as long as any command runs.
    const answers: GraphQLResponse[] = [];
    const client = async (n: number) => {
      for (let i = 0; running; i++) answers.push(await t.gql(SUBMIT, input(`person${n}.${i}@example.com`)));
    };
    await Promise.all([client(0), client(1)]);
    const ran = await commands;
    console.log(`      ${answers.length} requests sent while ${ran.length} dsr commands ran`);
    const refused = answers.filter((a) => a.errors).map((a) => a.errors![0].extensions);
    expect(refused, "requests refused while the commands ran").to.deep.equal([]);
    expect(ran.map((c) => c.code), ran.map((c) => c.stderr).join("")).to.deep.equal(ran.map(() => 0));
    for (const [i, name] of names.entries()) expect(ran[i].stderr).to.include(`(${name}); it is shown only now`);
    const after = stored();
    const ids = answers.map((a) => a.data.submitRequest.id);
    expect([...after.requests].sort()).to.deep.equal([...before.requests, ...ids].sort());
    expect(after.tokens).to.deep.equal([...before.tokens, ...names].sort());
    const verified = await dsrAgainst(t, ["audit", "verify", "--full"]);
    expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
  });

  it("waits off the event loop with a lone write too (a lease's heartbeat, a roster's claim), and stores it once the lock is released", async () => {
    const id = (await t.ok(SUBMIT, input("ada.lovelace@example.com"))).submitRequest.id;
    const holder = lockHolder(2000);
    await holder.locked;
    const probe = silence();
    const written = writeAlone(t.ds, "UPDATE requests SET extensionReason = ? WHERE id = ?", ["written alone", id]);
    await holder.released;
    expect(await written).to.equal(1);
    expect(await probe(), "longest the service did not answer /healthz while the lock was held (ms)").to.be.below(1000);
    const reader = new Database(file(), { readonly: true });
    try {
      expect(reader.prepare(`SELECT extensionReason FROM requests WHERE id = '${id}'`).get()).to.deep.equal({ extensionReason: "written alone" });
    } finally {
      reader.close();
    }
  });
});
