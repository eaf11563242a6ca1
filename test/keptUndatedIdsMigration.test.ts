import { expect } from "chai";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { DataSource } from "typeorm";
import type { DataKeys } from "../src/export/keys";
import { MIGRATIONS } from "../src/migrations";
import { keptUndatedPages } from "../src/orchestrator/keptUndatedIds";
import { describeEachDatabase, tempDir } from "./support/databases";
import { masterKeys, migrated, migrationRefusal } from "./support/migrated";

const BEFORE = MIGRATIONS.findIndex((m) => new m().name === "KeptUndatedIds1767800000000");
const REQUEST = "00000000-0000-4000-8000-0000000000f3";
const ERASE = "00000000-0000-4000-8000-0000000000f4";
/** Another deletion's, stored after the first test's undo. */
const LATER = "00000000-0000-4000-8000-0000000000f5";
const LATER_ERASE = "00000000-0000-4000-8000-0000000000f6";
/** One more, upgraded by `dsr migrate`. */
const UPGRADED = "00000000-0000-4000-8000-0000000000f7";
const UPGRADED_ERASE = "00000000-0000-4000-8000-0000000000f8";
const BIN = path.resolve(__dirname, "../../bin/dsr.js");
const ACCOUNTS = ["ada@lovelace.example", "ada.l@lovelace.example"];

/**
 * The KeptUndatedIds migration on a database used before it: a deletion's ERASE kept the ids of its
 * undated kept records in its result, in the clear (here addresses). They move into kept_undated_ids,
 * encrypted, where the purge reads them; those of a category whose exception is closed go (their
 * purpose ended); no id is left in the task row. down() puts them back as they were.
 */
describeEachDatabase("KeptUndatedIds migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  /** An ERASE of the schema before, whose result holds `result` (its kept ids in the clear), and its exceptions by category. */
  async function seedErase(requestId: string, eraseId: string, result: object, exceptions: Record<string, "OPEN" | "CLOSED">): Promise<void> {
    const at = ds.options.type === "better-sqlite3" ? "2026-01-02 03:04:05.000" : new Date("2026-01-02T03:04:05Z");
    await ds.query(
      `INSERT INTO tasks (id, requestId, connector, step, status, attempts, maxAttempts, runAfter, leaseToken, result, idempotencyKey, createdAt, updatedAt, waitingFor) VALUES (?, ?, 'accounts', 'ERASE', 'SUCCEEDED', 1, 5, ?, 0, ?, ?, ?, ?, 0)`,
      [eraseId, requestId, at, JSON.stringify(result), `key-${eraseId}`, at, at],
    );
    for (const [category, status] of Object.entries(exceptions)) {
      await ds.query(
        `INSERT INTO retention_exceptions (id, requestId, taskId, connector, category, recordType, recordCount, legalBasis, holdId, redactedFields, retainUntil, status, createdAt, closedAt) VALUES (?, ?, ?, 'accounts', ?, 'account', 2, 'hold', NULL, NULL, NULL, ?, ?, NULL)`,
        [`${eraseId.slice(-4)}-${category}`, requestId, eraseId, category, status, at],
      );
    }
  }

  it("moves the kept ids of open exceptions into the table, encrypted, drops the others, and is undone", async () => {
    expect(BEFORE, "the migration is registered").to.be.greaterThan(0);
    const keys = masterKeys();
    ds = await migrated(db(), BEFORE);
    const result = { erased: 3, kept: 3, keptUndated: [{ category: "ACCOUNT", type: "account", ids: ACCOUNTS }, { category: "SUPPORT", type: "user", ids: ["zd-user-ada"] }] };
    await seedErase(REQUEST, ERASE, result, { ACCOUNT: "OPEN", SUPPORT: "CLOSED" });
    await ds.destroy();

    ds = await migrated(db(), BEFORE + 1, keys);
    const rows = await ds.query(`SELECT requestId, connector, taskId, category, recordType, records, payload FROM kept_undated_ids`);
    expect(rows.map((r: any) => [r.requestId, r.connector, r.taskId, r.category, r.recordType, Number(r.records)])).to.deep.equal([[REQUEST, "accounts", ERASE, "ACCOUNT", "account", 2]]);
    expect(Buffer.from(rows[0].payload).toString("latin1")).to.not.include("lovelace");
    const text = String((await ds.query(`SELECT result FROM tasks WHERE id = ?`, [ERASE]))[0].result);
    expect(text, "no id left in the task row").to.not.match(/lovelace|zd-user-ada/);
    expect(JSON.parse(text)).to.deep.equal({ erased: 3, kept: 3, keptUndatedIds: 2 });
    // What the purge reads back.
    const pages = await keptUndatedPages(ds.manager, keys, { requestId: REQUEST, connector: "accounts" });
    expect(pages).to.deep.equal([ACCOUNTS.map((id) => ({ category: "ACCOUNT", type: "account", id }))]);

    await ds.undoLastMigration();
    expect(JSON.parse(String((await ds.query(`SELECT result FROM tasks WHERE id = ?`, [ERASE]))[0].result))).to.deep.equal({ erased: 3, kept: 3, keptUndated: [{ category: "ACCOUNT", type: "account", ids: ACCOUNTS }] });
    expect(await ds.createQueryRunner().hasTable("kept_undated_ids")).to.equal(false);
  });

  it("stops, naming why and making nothing, when ids are to be encrypted and no keys were lent", async () => {
    ds = await migrated(db(), BEFORE);
    await seedErase(LATER, LATER_ERASE, { erased: 0, keptUndated: [{ category: "ACCOUNT", type: "account", ids: ACCOUNTS }] }, { ACCOUNT: "OPEN" });
    await ds.destroy();
    expect((await migrationRefusal(db(), BEFORE + 1))?.message).to.match(/encrypts personal data/);
    // Nothing made that a run with keys would trip over (a CREATE TABLE commits at once on MySQL).
    ds = await migrated(db(), BEFORE);
    expect(await ds.createQueryRunner().hasTable("kept_undated_ids")).to.equal(false);
  });

  it("is lent the configured keys by `dsr migrate`, which the purge then reads the ids with", async function () {
    this.timeout(60_000);
    ds = await migrated(db(), BEFORE);
    await seedErase(UPGRADED, UPGRADED_ERASE, { erased: 0, keptUndated: [{ category: "ACCOUNT", type: "account", ids: ACCOUNTS }] }, { ACCOUNT: "OPEN" });
    await ds.destroy();

    const master = randomBytes(32);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, DATABASE_URL: db().url, DSR_DATA_DIR: tempDir(), DSR_LOG_LEVEL: "warn", DSR_EXPORT_MASTER_KEY: master.toString("base64") };
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "migrate"], { env });
    expect(stdout).to.include("KeptUndatedIds1767800000000");

    ds = await migrated(db(), BEFORE + 1);
    expect(await keptUndatedPages(ds.manager, masterKeys(master), { requestId: UPGRADED, connector: "accounts" })).to.deep.equal([ACCOUNTS.map((id) => ({ category: "ACCOUNT", type: "account", id }))]);
    expect(String((await ds.query(`SELECT result FROM tasks WHERE id = ?`, [UPGRADED_ERASE]))[0].result)).to.not.include("lovelace");
  });
});
