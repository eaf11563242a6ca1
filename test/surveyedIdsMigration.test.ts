import { expect } from "chai";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { promisify } from "node:util";
import { DataSource } from "typeorm";
import type { RecordRef } from "../src/connectors/sdk";
import type { DataKeys } from "../src/export/keys";
import { MIGRATIONS } from "../src/migrations";
import { surveyedPages } from "../src/orchestrator/surveyedIds";
import { describeEachDatabase, tempDir } from "./support/databases";
import { masterKeys, migrated, migrationRefusal } from "./support/migrated";

const BEFORE = MIGRATIONS.findIndex((m) => new m().name === "EncryptedSurveyedIds1768300000000");
const REQUEST = "00000000-0000-4000-8000-0000000000e1";
const LATER = "00000000-0000-4000-8000-0000000000e2";
const UPGRADED = "00000000-0000-4000-8000-0000000000e3";
const BIN = path.resolve(__dirname, "../../bin/dsr.js");
/** Her contacts, keyed by her addresses (ids that are personal data): 2,500 of them, three batches' worth. */
const CONTACTS = Array.from({ length: 2500 }, (_, i) => `ada+${String(i).padStart(4, "0")}@lovelace.example`);

async function allPages(ds: DataSource, keys: DataKeys, requestId: string): Promise<RecordRef[]> {
  const refs: RecordRef[] = [];
  for await (const page of surveyedPages(ds.manager, keys, { requestId, connector: "contacts" })) refs.push(...page);
  return refs;
}

/**
 * The EncryptedSurveyedIds migration on a database used before it: a deletion's survey stored one row
 * per record id in surveyed_records, in the clear (here addresses). The ids it planned to erase move into
 * surveyed_ids, encrypted, in batches the verification reads page by page; those it planned to keep go;
 * surveyed_records goes. down() puts them back.
 */
describeEachDatabase("EncryptedSurveyedIds migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  /** The survey's rows of the schema before: `erase` planned to be erased, `keep` kept. */
  async function seedSurvey(requestId: string, erase: readonly string[], keep: readonly string[]): Promise<void> {
    const rows = [...erase.map((id) => [id, "ERASE"]), ...keep.map((id) => [id, "KEEP"])];
    for (let i = 0; i < rows.length; i += 100) {
      const part = rows.slice(i, i + 100);
      await ds.query(
        `INSERT INTO surveyed_records (id, requestId, connector, category, recordType, recordId, disposition) VALUES ${part.map(() => "(?, ?, 'contacts', 'ACCOUNT', 'contact', ?, ?)").join(", ")}`,
        part.flatMap(([id, disposition], j) => [`${requestId.slice(-4)}-${String(i + j).padStart(6, "0")}`, requestId, id, disposition]),
      );
    }
  }

  it("encrypts the ids planned to be erased into batches, drops the others and the old table, and is undone", async function () {
    this.timeout(60_000);
    expect(BEFORE, "the migration is registered").to.be.greaterThan(0);
    const keys = masterKeys();
    ds = await migrated(db(), BEFORE);
    await seedSurvey(REQUEST, CONTACTS, ["kept.ada@lovelace.example"]);
    await ds.destroy();

    ds = await migrated(db(), BEFORE + 1, keys);
    expect(await ds.createQueryRunner().hasTable("surveyed_records")).to.equal(false);
    const rows = await ds.query(`SELECT requestId, connector, seq, records, payload FROM surveyed_ids ORDER BY seq`);
    expect(rows.map((r: any) => [r.requestId, r.connector, Number(r.seq), Number(r.records)])).to.deep.equal([
      [REQUEST, "contacts", 0, 1000],
      [REQUEST, "contacts", 1, 1000],
      [REQUEST, "contacts", 2, 500],
    ]);
    expect(rows.filter((r: any) => Buffer.from(r.payload).toString("latin1").toLowerCase().includes("lovelace")), "payloads holding an id in the clear").to.have.length(0);
    // What the verification reads back: every id planned to be erased, in order; none planned to be kept.
    expect(await allPages(ds, keys, REQUEST)).to.deep.equal(CONTACTS.map((id) => ({ category: "ACCOUNT", type: "contact", id })));

    await ds.undoLastMigration();
    const back = await ds.query(`SELECT recordId, disposition FROM surveyed_records WHERE requestId = ? ORDER BY recordId`, [REQUEST]);
    expect(back.map((r: any) => [r.recordId, r.disposition])).to.deep.equal(CONTACTS.map((id) => [id, "ERASE"]));
    expect(await ds.createQueryRunner().hasTable("surveyed_ids")).to.equal(false);
  });

  it("stops, naming why and making nothing, when ids are to be encrypted and no keys were lent", async () => {
    ds = await migrated(db(), BEFORE);
    await seedSurvey(LATER, CONTACTS.slice(0, 3), []);
    await ds.destroy();
    expect((await migrationRefusal(db(), BEFORE + 1))?.message).to.match(/encrypts personal data/);
    ds = await migrated(db(), BEFORE);
    expect(await ds.createQueryRunner().hasTable("surveyed_ids")).to.equal(false);
    expect(Number((await ds.query(`SELECT COUNT(*) AS n FROM surveyed_records WHERE requestId = ?`, [LATER]))[0].n), "the ids are still there").to.equal(3);
    await ds.query(`DELETE FROM surveyed_records WHERE requestId = ?`, [LATER]);
  });

  it("is lent the configured keys by `dsr migrate`, which the verification then reads the ids with", async function () {
    this.timeout(60_000);
    ds = await migrated(db(), BEFORE);
    await seedSurvey(UPGRADED, CONTACTS.slice(0, 2), []);
    await ds.destroy();

    const master = randomBytes(32);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, DATABASE_URL: db().url, DSR_DATA_DIR: tempDir(), DSR_LOG_LEVEL: "warn", DSR_EXPORT_MASTER_KEY: master.toString("base64") };
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, "migrate"], { env });
    expect(stdout).to.include("EncryptedSurveyedIds1768300000000");

    ds = await migrated(db(), BEFORE + 1);
    expect(await allPages(ds, masterKeys(master), UPGRADED)).to.deep.equal(CONTACTS.slice(0, 2).map((id) => ({ category: "ACCOUNT", type: "contact", id })));
  });
});
