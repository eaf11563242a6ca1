import { expect } from "chai";
import { DataSource } from "typeorm";
import { migrated } from "./support/migrated";
import { MIGRATIONS } from "../src/migrations";
import { purgeExpiredRecords } from "../src/orchestrator/recordRetention";
import { describeEachDatabase } from "./support/databases";

const BEFORE = MIGRATIONS.findIndex((m) => new m().name === "RequestRecordRetention1765600000000");
const SECRET = "record-retention-migration-secret-0123456789";
const ENDED = "00000000-0000-4000-8000-0000000000e1";
const OPEN = "00000000-0000-4000-8000-0000000000e2";
const HOLD = "10000000-0000-4000-8000-000000000001";

/**
 * The RequestRecordRetention migration on a database used before it: its requests and holds keep every
 * value, the subject's email may then be removed (NULL) while its matching stays byte-wise, and the
 * records an installation kept for years become due for the purge at once.
 */
describeEachDatabase("RequestRecordRetention migration", (db) => {
  let ds: DataSource;
  afterEach(async () => {
    if (ds?.isInitialized) await ds.destroy();
  });

  it("keeps every request and hold as it was, lets the purge clear those past the period, and is undone only while no record lost its subject", async () => {
    ds = await migrated(db(), BEFORE);
    const at = (iso: string) => (ds.options.type === "better-sqlite3" ? iso.replace("T", " ").replace("Z", "") : new Date(iso));
    const request = (id: string, status: string, email: string, closedAt: string | null, key: string | null) =>
      ds.query(
        `INSERT INTO requests (id, type, status, source, subjectEmail, subjectEmailAsTyped, subjectPhone, corrections, receivedAt, dueAt, extendedDays, verificationAttempts, submittedBy, updatedAt, version, concernsMinor, closedAt, idempotencyKey)
         VALUES (?, 'CORRECTION', ?, 'ADMIN', ?, ?, '+442079460123', ?, ?, ?, 0, 0, 'token', ?, 0, 0, ?, ?)`,
        [id, status, email, email.toUpperCase(), JSON.stringify([{ field: "name", value: "Countess of Lovelace" }]), at("2023-01-01T00:00:00Z"), at("2023-01-20T00:00:00Z"), at("2023-01-02T00:00:00Z"), closedAt && at(closedAt), key],
      );
    await request(ENDED, "REJECTED", "ada@example.com", "2023-01-02T00:00:00Z", "key-1");
    await request(OPEN, "PENDING_APPROVAL", "josé@example.com", null, "key-2");
    await ds.query(
      `INSERT INTO legal_holds (id, subjectEmail, categories, reason, caseReference, status, placedBy, placedAt, releasedBy, releasedAt, releaseReason) VALUES (?, 'ada@example.com', '', 'dispute', 'CASE-1', 'RELEASED', 'officer', ?, 'officer', ?, 'settled')`,
      [HOLD, at("2023-01-01T00:00:00Z"), at("2023-02-01T00:00:00Z")],
    );
    await ds.destroy();

    ds = await migrated(db(), BEFORE + 1);
    const rows = await ds.query(`SELECT id, subjectEmail, subjectEmailAsTyped, subjectPhone, subjectRemovedAt, subjectReference, idempotencyKey FROM requests ORDER BY id`);
    expect(rows).to.deep.equal([
      { id: ENDED, subjectEmail: "ada@example.com", subjectEmailAsTyped: "ADA@EXAMPLE.COM", subjectPhone: "+442079460123", subjectRemovedAt: null, subjectReference: null, idempotencyKey: "key-1" },
      { id: OPEN, subjectEmail: "josé@example.com", subjectEmailAsTyped: "JOSÉ@EXAMPLE.COM", subjectPhone: "+442079460123", subjectRemovedAt: null, subjectReference: null, idempotencyKey: "key-2" },
    ]);
    expect(await ds.query(`SELECT subjectEmail, subjectRemovedAt FROM legal_holds`)).to.deep.equal([{ subjectEmail: "ada@example.com", subjectRemovedAt: null }]);
    // Still matched byte for byte (josé@ and jose@ are two people), still one request per idempotency key.
    expect(await ds.query(`SELECT id FROM requests WHERE subjectEmail = 'jose@example.com'`)).to.deep.equal([]);
    let duplicate: unknown;
    await request("00000000-0000-4000-8000-0000000000e3", "CANCELLED", "grace@example.com", null, "key-1").catch((e: unknown) => (duplicate = e));
    expect(duplicate, "the idempotency key stays unique").to.be.instanceOf(Error);

    // Three years on, the rejected correction and the released hold are past 730 days; the open request is not.
    const now = new Date("2026-06-01T00:00:00Z");
    const done = await purgeExpiredRecords({ ds, clock: { now: () => now } as never, config: { DSR_REQUEST_RECORD_RETENTION_DAYS: 730 } as never, secret: SECRET });
    expect(done).to.deep.equal({ requests: 1, holds: 1 });
    const after = await ds.query(`SELECT id, subjectEmail, subjectEmailAsTyped, subjectPhone, corrections, subjectReference FROM requests ORDER BY id`);
    expect(after[0]).to.include({ subjectEmail: null, subjectEmailAsTyped: null, subjectPhone: null, corrections: null });
    expect(after[0].subjectReference).to.match(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(after[1].subjectEmail).to.equal("josé@example.com");
    expect(await ds.query(`SELECT subjectEmail FROM legal_holds`)).to.deep.equal([{ subjectEmail: null }]);

    // Down refuses while a record has lost its subject (the older code reads one on every row), changing nothing.
    let refused: Error | undefined;
    await ds.undoLastMigration().catch((e: Error) => (refused = e));
    expect(refused?.message).to.match(/no longer hold their subject's email/);
    expect((await ds.query(`SELECT subjectRemovedAt FROM legal_holds`))[0].subjectRemovedAt).to.not.equal(null);
  });

  it("is undone on a database where every record still holds its subject", async () => {
    ds = await migrated(db(), BEFORE + 1);
    for (const table of ["legal_holds", "requests", "audit_events", "audit_stream_heads"]) await ds.query(`DELETE FROM ${table}`);
    await ds.query(
      `INSERT INTO legal_holds (id, subjectEmail, categories, reason, caseReference, status, placedBy, placedAt) VALUES (?, 'ada@example.com', '', 'dispute', 'CASE-1', 'ACTIVE', 'officer', '2026-01-01 00:00:00.000')`,
      [HOLD],
    );
    await ds.undoLastMigration();
    expect(await ds.query(`SELECT subjectEmail FROM legal_holds`)).to.deep.equal([{ subjectEmail: "ada@example.com" }]);
    let notNull: unknown;
    await ds.query(`UPDATE legal_holds SET subjectEmail = NULL`).catch((e: unknown) => (notNull = e));
    expect(notNull, "NOT NULL again").to.be.instanceOf(Error);
  });
});
