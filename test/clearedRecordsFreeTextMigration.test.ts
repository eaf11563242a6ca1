import fs from "node:fs";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { MIGRATIONS } from "../src/migrations";
import { purgeExpiredRecords } from "../src/orchestrator/recordRetention";
import { describeEachDatabase } from "./support/databases";
import { migrated } from "./support/migrated";
import { columnsHolding, needlesIn } from "./support/residue";

const BEFORE = MIGRATIONS.findIndex((m) => new m().name === "ClearedRecordsFreeText1769400000000");
const CLEARED = "00000000-0000-4000-8000-0000000000f1";
const KEPT = "00000000-0000-4000-8000-0000000000f2";
const CLEARED_HOLD = "10000000-0000-4000-8000-0000000000f1";
const KEPT_HOLD = "10000000-0000-4000-8000-0000000000f2";
const NEEDLES = ["Marchbanks", "1990-01-01", "P1234567X", "Vandersloot", "Pemberton"];

/**
 * An installation whose record purge ran under an earlier version: those records lost their subject but
 * kept what people wrote on them, and are never due for the purge again (subjectRemovedAt is set). The
 * migration clears that text; records still keeping their subject keep theirs until their own purge.
 */
describeEachDatabase("ClearedRecordsFreeText migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  it("clears the free text of records an earlier purge cleared, and leaves the rest for their own", async () => {
    expect(BEFORE, "the migration is registered").to.be.greaterThan(0);
    ds = await migrated(db(), BEFORE);
    const at = (iso: string) => (ds.options.type === "better-sqlite3" ? iso.replace("T", " ").replace("Z", "") : new Date(iso));
    const request = (id: string, email: string | null, removedAt: string | null) =>
      ds.query(
        `INSERT INTO requests (id, type, status, source, subjectEmail, receivedAt, dueAt, extendedDays, extensionReason, statusReason, verificationMethod, verificationEvidence, verificationAttempts, submittedBy, updatedAt, version, concernsMinor, closedAt, subjectRemovedAt)
         VALUES (?, 'ACCESS', 'REJECTED', 'ADMIN', ?, ?, ?, 10, 'waiting on the scan of passport P1234567X', 'caller was Quentin Marchbanks', 'TRUSTED_CALLER', 'confirmed DOB 1990-01-01', 0, 'token', ?, 1, 0, ?, ?)`,
        [id, email, at("2023-01-01T00:00:00Z"), at("2023-02-10T00:00:00Z"), at("2023-01-02T00:00:00Z"), at("2023-01-02T00:00:00Z"), removedAt && at(removedAt)],
      );
    await request(CLEARED, null, "2025-01-03T00:00:00Z");
    await request(KEPT, "ada@example.com", null);
    const hold = (id: string, email: string | null, removedAt: string | null) =>
      ds.query(
        `INSERT INTO legal_holds (id, subjectEmail, categories, reason, caseReference, status, placedBy, placedAt, releasedBy, releasedAt, releaseReason, subjectRemovedAt)
         VALUES (?, ?, '', 'litigation with Hortensia Vandersloot', 'CASE-1', 'RELEASED', 'officer', ?, 'officer', ?, 'settled through counsel Ignatius Pemberton', ?)`,
        [id, email, at("2023-01-01T00:00:00Z"), at("2023-02-01T00:00:00Z"), removedAt && at(removedAt)],
      );
    await hold(CLEARED_HOLD, null, "2025-02-02T00:00:00Z");
    await hold(KEPT_HOLD, "ada@example.com", null);
    await ds.destroy();

    ds = await migrated(db(), BEFORE + 1);
    const requests = await ds.query(`SELECT id, verificationEvidence, statusReason, extensionReason, extendedDays, status FROM requests ORDER BY id`);
    expect(requests.map((r: any) => ({ ...r, extendedDays: Number(r.extendedDays) }))).to.deep.equal([
      { id: CLEARED, verificationEvidence: null, statusReason: null, extensionReason: null, extendedDays: 10, status: "REJECTED" },
      { id: KEPT, verificationEvidence: "confirmed DOB 1990-01-01", statusReason: "caller was Quentin Marchbanks", extensionReason: "waiting on the scan of passport P1234567X", extendedDays: 10, status: "REJECTED" },
    ]);
    expect(await ds.query(`SELECT id, reason, releaseReason, caseReference FROM legal_holds ORDER BY id`)).to.deep.equal([
      { id: CLEARED_HOLD, reason: "", releaseReason: null, caseReference: "CASE-1" },
      { id: KEPT_HOLD, reason: "litigation with Hortensia Vandersloot", releaseReason: "settled through counsel Ignatius Pemberton", caseReference: "CASE-1" },
    ]);

    // The records still keeping their subject lose it, and their text, at their own purge.
    const now = new Date("2026-06-01T00:00:00Z");
    expect(await purgeExpiredRecords({ ds, clock: { now: () => now } as never, config: { DSR_REQUEST_RECORD_RETENTION_DAYS: 730 } as never, secret: "free-text-migration-secret-0123456789" })).to.deep.equal({ requests: 1, holds: 1 });
    expect(await columnsHolding(ds, NEEDLES)).to.deep.equal([]);
    if (ds.options.type === "better-sqlite3") {
      await ds.query("PRAGMA wal_checkpoint(TRUNCATE)");
      const file = db().url.slice("sqlite:".length);
      expect(needlesIn(fs.readFileSync(file), NEEDLES), "the SQLite file").to.deep.equal([]);
    }
  });
});
