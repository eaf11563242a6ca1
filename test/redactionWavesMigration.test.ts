import { expect } from "chai";
import { DataSource } from "typeorm";
import { MIGRATIONS } from "../src/migrations";
import { describeEachDatabase } from "./support/databases";
import { migrated } from "./support/migrated";

const BEFORE = MIGRATIONS.findIndex((m) => new m().name === "RedactionWaves1765900000000");
const REQUEST = "00000000-0000-4000-8000-0000000000f2";
const JOBS = Array.from({ length: 60 }, (_, i) => `prj_${String(i).padStart(24, "0")}`).join(",");

/**
 * The RedactionWaves migration on a database used before it: a task polling redaction jobs keeps its
 * reference as it was, and afterwards takes one naming objects that wait for a job (far past the old
 * 2,000 characters); down() refuses while such a reference is there, and gives the old column back once
 * it is gone.
 */
describeEachDatabase("RedactionWaves migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  const insertTask = (id: string, step: string, reference: string) =>
    ds.query(
      `INSERT INTO tasks (id, requestId, connector, step, status, attempts, maxAttempts, runAfter, leaseToken, remoteReference, idempotencyKey, createdAt, updatedAt, waitingFor) VALUES (?, ?, 'payments', ?, 'REMOTE_PROCESSING', 1, 5, ?, 0, ?, ?, ?, ?, 0)`,
      [id, REQUEST, step, at(), reference, `key-${id}`, at(), at()],
    );
  const at = () => (ds.options.type === "better-sqlite3" ? "2026-01-02 03:04:05.000" : new Date("2026-01-02T03:04:05Z"));
  const referenceOf = async (id: string) => (await ds.query(`SELECT remoteReference FROM tasks WHERE id = ?`, [id]))[0].remoteReference;

  it("keeps a polling task's reference, takes a long one after, and is undone only without one", async () => {
    expect(BEFORE, "the migration is registered").to.be.greaterThan(0);
    ds = await migrated(db(), BEFORE);
    await insertTask("t1", "ERASE", JOBS);
    await ds.destroy();

    ds = await migrated(db(), BEFORE + 1);
    expect(await referenceOf("t1"), "the reference written before").to.equal(JOBS);
    const waiting = `${JOBS}|${Array.from({ length: 500 }, (_, i) => `charges=ch_${String(i).padStart(24, "0")}`).join(";")}`;
    expect(waiting.length).to.be.greaterThan(10_000);
    await insertTask("t2", "PURGE", waiting);
    expect(await referenceOf("t2"), "a reference with waiting objects, whole").to.equal(waiting);

    let refused: unknown;
    await ds.undoLastMigration().catch((e: unknown) => (refused = e));
    expect(String(refused)).to.match(/1 task\(s\) poll remote work whose reference is longer than 2000 characters/);
    expect(await referenceOf("t2"), "nothing cut").to.equal(waiting);

    await ds.query(`DELETE FROM tasks WHERE id = 't2'`);
    await ds.undoLastMigration();
    expect(await referenceOf("t1")).to.equal(JOBS);
    if (ds.options.type !== "better-sqlite3") {
      const [column] = await ds.query(`SELECT DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS length FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tasks' AND COLUMN_NAME = 'remoteReference'`);
      expect({ type: column.type, length: Number(column.length) }).to.deep.equal({ type: "varchar", length: 2000 });
    }
  });
});
