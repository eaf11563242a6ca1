import { expect } from "chai";
import { DataSource } from "typeorm";
import { MIGRATIONS } from "../src/migrations";
import { describeEachDatabase } from "./support/databases";
import { migrated } from "./support/migrated";

const BEFORE = MIGRATIONS.findIndex((m) => new m().name === "PlannedResidue1765800000000");
const REQUEST = "00000000-0000-4000-8000-0000000000f1";

/**
 * The PlannedResidue migration on a database used before it: a deletion plan stored then foresaw no
 * residue, and reads so afterwards (0, no reason) with every other number as it was; down() gives the
 * old table back.
 */
describeEachDatabase("PlannedResidue migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  it("keeps each plan line as it was, foreseeing no residue, and is undone", async () => {
    expect(BEFORE, "the migration is registered").to.be.greaterThan(0);
    ds = await migrated(db(), BEFORE);
    const at = ds.options.type === "better-sqlite3" ? "2026-01-02 03:04:05.000" : new Date("2026-01-02T03:04:05Z");
    await ds.query(
      `INSERT INTO deletion_plan_items (id, requestId, connector, category, found, toErase, toKeep, keptBy, legalBasis, holdId, keepSince, retainUntil, computedAt) VALUES ('p1', ?, 'ticketing', 'SUPPORT', 44, 30, 14, 'RULE', 'dispute resolution', NULL, NULL, NULL, ?)`,
      [REQUEST, at],
    );
    await ds.destroy();

    ds = await migrated(db(), BEFORE + 1);
    const rows = await ds.query(`SELECT found, toErase, toKeep, keptBy, toLeaveResidual, residualReason FROM deletion_plan_items WHERE requestId = ?`, [REQUEST]);
    expect(rows.map((r: Record<string, unknown>) => ({ ...r, found: Number(r.found), toErase: Number(r.toErase), toKeep: Number(r.toKeep), toLeaveResidual: Number(r.toLeaveResidual) }))).to.deep.equal([
      { found: 44, toErase: 30, toKeep: 14, keptBy: "RULE", toLeaveResidual: 0, residualReason: null },
    ]);

    await ds.undoLastMigration();
    const columns = (await ds.createQueryRunner().getTable("deletion_plan_items"))!.columns.map((c) => c.name);
    expect(columns).to.not.include.members(["toLeaveResidual"]);
    expect(columns).to.not.include("residualReason");
    expect(Number((await ds.query(`SELECT toErase FROM deletion_plan_items WHERE requestId = ?`, [REQUEST]))[0].toErase)).to.equal(30);
  });
});
