import { pbkdf2, randomBytes } from "node:crypto";
import fs from "node:fs";
import { expect } from "chai";
import { ConnectorError, SubjectRecord } from "../../src/connectors/sdk";
import { exportTools } from "../../src/export/context";
import { purgeExpiredExports } from "../../src/export/purge";
import { BATCH_BYTES, IN_PLACE_BYTES, openBatch, sealBatch } from "../../src/export/staging";
import { existingStagingKey } from "../../src/export/stagingKeys";
import { describeEachDatabase, TestDatabase } from "../support/databases";
import { submitVerified, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, FAST } from "./support";

const GRACE_MINUTES = 30;
const MINUTE = 60_000;

/** Every file of an SQLite database (the main file, its WAL and shared memory), as bytes. */
function sqliteBytes(db: TestDatabase): Buffer {
  const file = db.url.slice("sqlite:".length);
  return Buffer.concat([file, `${file}-wal`, `${file}-shm`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f)));
}

describeEachDatabase("staged records", (db) => {
  // A string only the staged records hold: if it is anywhere in the database, personal data sits there in the clear.
  const marker = `staged-marker-${randomBytes(6).toString("hex")}`;
  let t: TestService;
  let accounts: ScriptedConnector;
  let tickets: ScriptedConnector;
  let requestId: string;

  const count = async (table: string) => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);
  const show = async (id: string) => (await t.ok(`query($id: ID!) { request(id: $id) { status statusReason tasks { id connector step status lastError } } }`, { id })).request;
  const until = (id: string, status: string) => t.waitFor(async () => ((await show(id)).status === status ? true : undefined), `request ${status}`, 30_000);

  before(async function () {
    this.timeout(120_000);
    accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"], supports: ["access"] });
    const records: SubjectRecord[] = Array.from({ length: 3000 }, (_, i) => ({
      category: "ACCOUNT",
      type: "login",
      id: `l-${i}`,
      recordedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
      data: { note: `${marker} ${i}`, device: "Pixel 8" },
    }));
    accounts.data.set(ADA_EMAIL, records);
    // The ticketing system refuses the collect for good: the request FAILS with the accounts' records staged.
    tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"], supports: ["access"] }).script("collect", { kind: "fatal" });
    t = await new TestService(db(), { ...FAST, DSR_STAGED_GRACE_MINUTES: String(GRACE_MINUTES) }, [accounts, tickets]).start();
    requestId = (await submitVerified(t)).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: requestId });
    await until(requestId, "FAILED");
  });
  after(async () => {
    await t?.stop();
  });

  it("holds a failed request's collected records only encrypted: the subject's data is nowhere in the database in the clear", async () => {
    expect(await count("staged_batches")).to.be.greaterThan(0);
    expect(await count("staged_keys")).to.equal(1);
    const rows: Array<{ taskId: string; attempt: number; category: string; seq: number; payload: Buffer }> = await t.ds.query(`SELECT taskId, attempt, category, seq, payload FROM staged_batches`);
    for (const r of rows) expect(Buffer.from(r.payload).includes(marker)).to.equal(false);
    if (db().kind === "sqlite") expect(sqliteBytes(db()).includes(marker), "the marker in the SQLite files").to.equal(false);
    else expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE payload LIKE ?`, [`%${marker}%`]))[0].n)).to.equal(0);
    // The records are there, sealed: the request's key opens them (so the checks above can fail).
    const key = (await existingStagingKey(t.ds, exportTools(t.service.services).keys, requestId))!;
    const opened = await openBatch(key, { requestId, ...rows[0], attempt: Number(rows[0].attempt), seq: Number(rows[0].seq) }, Buffer.from(rows[0].payload));
    expect(opened.toString("utf8")).to.include(marker);
    // Moved to another position (or request), a batch no longer opens.
    await openBatch(key, { requestId, ...rows[0], attempt: Number(rows[0].attempt), seq: Number(rows[0].seq) + 1 }, Buffer.from(rows[0].payload)).then(
      () => expect.fail("a moved batch opened"),
      (error: ConnectorError) => {
        expect(error.internalMessage).to.match(/failed authentication/);
        expect(error.retryable).to.equal(false);
      },
    );
  });

  it("keeps them through the grace for retries, then removes key and batches", async () => {
    t.clock.advance((GRACE_MINUTES - 1) * MINUTE);
    await purgeExpiredExports(t.service.services);
    expect(await count("staged_batches")).to.be.greaterThan(0);
    t.clock.advance(2 * MINUTE);
    const purged = await purgeExpiredExports(t.service.services);
    expect(purged.stagedRecords).to.be.greaterThan(0);
    expect(await count("staged_batches")).to.equal(0);
    expect(await count("staged_keys")).to.equal(0);
  });

  it("refuses a retry after the grace with CONFLICT (what it collected is gone), and nothing changes", async () => {
    const failed = (await show(requestId)).tasks.find((x: any) => x.connector === "tickets" && x.step === "COLLECT");
    const refused = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { id } }`, { id: failed.id });
    expect(refused.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(refused.errors?.[0]?.message).to.match(/what it collected and the records its survey planned to erase are removed.*submit a new request/);
    const after = await show(requestId);
    expect(after.status).to.equal("FAILED");
    expect(after.tasks.find((x: any) => x.id === failed.id).status).to.equal("FAILED");
    expect(await count("exports")).to.equal(0);
  });

  it("exports a new request's records exactly once, then removes its staged data at once", async () => {
    const id = (await submitVerified(t)).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    await until(id, "COMPLETED");
    const r = (await t.ok(`query($id: ID!) { request(id: $id) { export { records } tasks { connector outcome { records } } } }`, { id })).request;
    expect(r.export.records).to.equal(3000);
    expect(await count("staged_batches")).to.equal(0);
    // The failed request's retried COLLECT found nothing, so it made no new key either.
    expect(await count("staged_keys")).to.equal(0);
  });
});

describeEachDatabase("surveyed record ids of a deletion that failed", (db) => {
  let t: TestService;
  after(async () => {
    await t?.stop();
  });

  it("keeps them through the grace for retries, then removes them with the staged records' purge", async function () {
    this.timeout(60_000);
    // A connector that can look records up keeps its survey's record ids for the verification pass; its
    // ERASE fails for good, so no completion removes them.
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(ADA_EMAIL, 5).script("erase", { kind: "fatal" });
    Object.assign(accounts, {
      async *lookup(refs: readonly { type: string; id: string }[]) {
        for (const r of accounts.data.get(ADA_EMAIL) ?? []) if (refs.some((x) => x.id === r.id)) yield r;
      },
    });
    t = await new TestService(db(), { ...FAST, DSR_STAGED_GRACE_MINUTES: String(GRACE_MINUTES) }, [accounts]).start();
    const id = (await submitVerified(t, { type: "DELETION" })).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id })).request.status === "FAILED" ? true : undefined), "the deletion FAILED", 30_000);
    // The 5 ids, in one encrypted batch.
    const surveyed = async () => Number((await t.ds.query(`SELECT COALESCE(SUM(records), 0) AS n FROM surveyed_ids WHERE requestId = ?`, [id]))[0].n);
    expect(await surveyed()).to.equal(5);
    t.clock.advance((GRACE_MINUTES - 1) * MINUTE);
    expect((await purgeExpiredExports(t.service.services)).surveyedRecords).to.equal(0);
    expect(await surveyed()).to.equal(5);
    t.clock.advance(2 * MINUTE);
    expect((await purgeExpiredExports(t.service.services)).surveyedRecords, "batches removed").to.equal(1);
    expect(await surveyed()).to.equal(0);
  });
});

describeEachDatabase("the staging key an approval makes", (db) => {
  let t: TestService;
  after(async () => {
    await t?.stop();
  });
  const keys = async (requestId: string) => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_keys WHERE requestId = ?`, [requestId]))[0].n);
  const until = (id: string, status: string) =>
    t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id })).request.status === status ? true : undefined), `request ${status}`, 30_000);

  it("is made only for a plan with an export, and removed after the grace even when nothing was staged under it", async function () {
    this.timeout(60_000);
    // Every collect fails for good before staging anything: the key made at approval guards no batch.
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"] }).seed(ADA_EMAIL, 5).script("collect", { kind: "fatal" });
    t = await new TestService(db(), { ...FAST, DSR_STAGED_GRACE_MINUTES: String(GRACE_MINUTES) }, [accounts]).start();
    const access = (await submitVerified(t)).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: access });
    // Made by the approval itself: the only COLLECT fails before it stages anything.
    expect(await keys(access)).to.equal(1);
    const deletion = (await submitVerified(t, { type: "DELETION", subject: { email: "grace.hopper@example.com" } })).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: deletion });
    expect(await keys(deletion)).to.equal(0);

    await until(access, "FAILED");
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE requestId = ?`, [access]))[0].n)).to.equal(0);
    expect(await keys(access)).to.equal(1);
    t.clock.advance((GRACE_MINUTES + 1) * MINUTE);
    await purgeExpiredExports(t.service.services);
    expect(await keys(access)).to.equal(0);
  });
});

describe("sealed batches, small and large", () => {
  const key = randomBytes(32);
  const position = { requestId: "r-1", taskId: "t-1", attempt: 1, category: "ACCOUNT", seq: 0 };
  // Empty, one record, a full batch, and one huge repetitive record (packed small, opened far larger):
  // the same bytes back, and bound to their position.
  for (const [label, lines] of [
    ["empty", Buffer.alloc(0)],
    ["one record", Buffer.from(`${JSON.stringify({ connector: "a", type: "row", id: "1", recordedAt: null, data: { n: 1 } })}\n`)],
    ["at the in-place bound", randomBytes(IN_PLACE_BYTES)],
    ["one byte over it", randomBytes(IN_PLACE_BYTES + 1)],
    ["a repetitive batch at the bound", Buffer.alloc(IN_PLACE_BYTES, "ab")],
    ["a full batch", randomBytes(BATCH_BYTES)],
    ["a huge repetitive record", Buffer.alloc(3 * 1024 * 1024, "a")],
  ] as const) {
    it(`opens ${label} to the same bytes, and refuses it at another position`, async () => {
      const sealed = await sealBatch(key, position, lines);
      expect((await openBatch(key, position, sealed)).equals(lines)).to.equal(true);
      await openBatch(key, { ...position, seq: 1 }, sealed).then(
        () => expect.fail("opened at another position"),
        (error: ConnectorError) => expect(error.internalMessage).to.match(/failed authentication/),
      );
    });
  }

  it("seals and opens a small batch without waiting on libuv's pool, and a full one on it", async function () {
    this.timeout(30_000);
    // Every thread of the pool busy for a while (pbkdf2 runs there): what needs the pool waits for them.
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    let busy = threads;
    const blockers = Array.from({ length: threads }, () => new Promise<void>((resolve, reject) => pbkdf2("pw", "salt", 400_000, 32, "sha256", (error) => (busy--, error ? reject(error) : resolve()))));
    try {
      const small = Buffer.from(`${JSON.stringify({ connector: "a", type: "row", id: "1", recordedAt: null, data: { n: 1 } })}\n`);
      const opened = await openBatch(key, position, await sealBatch(key, position, small));
      expect(opened.equals(small), "the small batch opened to its bytes").to.equal(true);
      expect(busy, "the small batch was sealed and opened while the pool was busy").to.equal(threads);
      await sealBatch(key, position, randomBytes(BATCH_BYTES));
      expect(busy, "the full batch waited for a thread of the pool").to.be.lessThan(threads);
    } finally {
      await Promise.all(blockers);
    }
  });
});
