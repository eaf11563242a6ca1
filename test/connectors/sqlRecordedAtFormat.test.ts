import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { configProblems, createSqlConnector, SqlConnector, SqlConnectorConfig } from "../../src/connectors/sql";
import type { RecordedAtFormat } from "../../src/connectors/recordedAt";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { dsr } from "../support/cliBinary";
import { describeEachSqlDialect, tempDir } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status lastError }
  retentionExceptions { category recordType recordCount } } }`;
const DAY = 86_400_000;
/** An instant as a julian day, as SQLite's julianday() computes it. */
const julianDay = (at: Date) => at.getTime() / DAY + 2440587.5;

/** A shop's payments, dated by `paid` as a julian day: PAYMENTS, which the default rule keeps 7 years. */
function payments(format?: RecordedAtFormat): SqlConnectorConfig {
  return {
    name: "shop-db",
    version: "1.0.0",
    tables: [
      {
        table: "rt_payments",
        identityColumn: "email",
        identityKind: "email",
        category: "PAYMENTS",
        recordType: "payment",
        primaryKey: "id",
        exportColumns: ["amount", "paid"],
        recordedAtColumn: "paid",
        ...(format ? { recordedAtFormat: format } : {}),
        erase: { strategy: "DELETE" },
      },
    ],
  };
}

/**
 * A recordedAtColumn of numbers: SQLite's julianday() REAL, a YYYYMMDD integer, epoch microseconds and
 * nanoseconds. Before: every number below 1e11 was read as epoch seconds and any other as milliseconds,
 * so a payment of 90 days ago (julian day 2461011.9) was dated 1970-01-29 and its DELETION erased it,
 * though the tax rule keeps it 7 years; 20241203 was dated 1970-08-23, microseconds tens of millennia
 * ahead. Now the table says its recordedAtFormat, and without one such a number fails the task.
 */
describeEachSqlDialect("SQL connector: a recordedAtColumn of numbers is read as its recordedAtFormat says, never guessed", (db) => {
  const suite = sqlSuiteHooks(db, ["rt_payments", "rt_days", "rt_micros", "rt_nanos"]);
  const { query } = suite;
  let connector: SqlConnector | undefined;
  let t: TestService | undefined;
  const real = () => (db().kind === "sqlite" ? "REAL" : "DOUBLE PRECISION");
  const big = () => (db().kind === "sqlite" ? "INTEGER" : "BIGINT");
  const rows = async () => (await query(`SELECT id, email FROM rt_payments ORDER BY id`)).map((r) => [Number(r.id), r.email]);

  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector?.close();
    connector = undefined;
  });

  /** Ada's payment of 90 days ago and one of 10 years ago, Grace's of 90 days ago, dated by the database's julian day (SQLite's julianday(); elsewhere the same number). */
  const seeded = async (format?: RecordedAtFormat) => {
    await query(`DROP TABLE IF EXISTS rt_payments`);
    await query(`CREATE TABLE rt_payments (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, amount INTEGER NOT NULL, paid ${real()} NOT NULL)`);
    connector = createSqlConnector(payments(format), { url: db().url, timeoutMs: 5000 });
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const now = t.clock.now().getTime();
    const paid = [new Date(now - 90 * DAY), new Date(now - 3650 * DAY), new Date(now - 90 * DAY)];
    const value = db().kind === "sqlite" ? "julianday(?)" : "?";
    const given = (at: Date) => (db().kind === "sqlite" ? at.toISOString() : julianDay(at));
    await query(`INSERT INTO rt_payments (id, email, amount, paid) VALUES (1, ?, 1200, ${value}), (2, ?, 900, ${value}), (3, ?, 500, ${value})`, [ADA, given(paid[0]), ADA, given(paid[1]), GRACE, given(paid[2])]);
    return (await query(`SELECT paid FROM rt_payments WHERE id = 1`))[0].paid;
  };

  it("keeps the payment a julian day dates within the 7 years, erases the older one, with recordedAtFormat julianDay", async function () {
    this.timeout(60_000);
    const held = await seeded("julianDay");
    expect(Number(held)).to.be.greaterThan(2_460_000);
    const deletion = await runVerified(t!, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(await rows()).to.deep.equal([
      [1, ADA],
      [3, GRACE],
    ]);
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordType, e.recordCount])).to.deep.equal([["PAYMENTS", "payment", 1]]);
  });

  it("fails the deletion naming the table and column, never the value, and erases nothing, when the table gives no recordedAtFormat", async function () {
    this.timeout(60_000);
    const held = await seeded();
    const deletion = await runVerified(t!, SHOW, "DELETION", ADA);
    expect(await rows()).to.deep.equal([
      [1, ADA],
      [2, ADA],
      [3, GRACE],
    ]);
    expect(deletion.status).to.equal("FAILED");
    const errors = deletion.tasks.map((x: any) => x.lastError ?? "").join(" ");
    expect(errors).to.include("shop-db: table rt_payments has a number whose unit cannot be told").and.include("in paid; fix recordedAtColumn or recordedAtFormat");
    expect(errors).not.to.include(String(Math.trunc(Number(held))));
    // The check says so before any deletion reads the table.
    const check = await connector!.check(testContext());
    expect(check.ok).to.equal(false);
    expect(check.message).to.include("table rt_payments has a number whose unit cannot be told").and.include("in paid");
  });

  it("dates a YYYYMMDD, epoch microseconds and epoch nanoseconds (past 2^53) as they say", async function () {
    this.timeout(60_000);
    for (const table of ["rt_days", "rt_micros", "rt_nanos"]) {
      await query(`DROP TABLE IF EXISTS ${table}`);
      await query(`CREATE TABLE ${table} (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, at ${big()} NOT NULL)`);
    }
    await query(`INSERT INTO rt_days VALUES (1, ?, 20241203), (2, ?, 19991231), (3, ?, 20240101)`, [ADA, ADA, GRACE]);
    await query(`INSERT INTO rt_micros VALUES (1, ?, 1733221230123456), (2, ?, -1), (3, ?, 0)`, [ADA, ADA, GRACE]);
    await query(`INSERT INTO rt_nanos VALUES (1, ?, 1733221230123456789), (2, ?, 946684799999999999), (3, ?, 0)`, [ADA, ADA, GRACE]);
    const table = (name: string, format: RecordedAtFormat) => ({
      table: name,
      identityColumn: "email",
      identityKind: "email",
      category: "PAYMENTS",
      recordType: name,
      primaryKey: "id",
      exportColumns: ["at"],
      recordedAtColumn: "at",
      recordedAtFormat: format,
      erase: { strategy: "DELETE" as const },
    });
    connector = createSqlConnector(
      { name: "ledger-db", version: "1.0.0", tables: [table("rt_days", "yyyymmdd"), table("rt_micros", "epochMicroseconds"), table("rt_nanos", "epochNanoseconds")] },
      { url: db().url, timeoutMs: 5000 },
    );
    expect((await connector.check(testContext())).ok).to.equal(true);
    const records = await collectAll(connector, { email: ADA });
    expect(records.map((r) => [r.type, r.id, r.recordedAt?.toISOString()]).sort()).to.deep.equal(
      [
        ["rt_days", "1", "2024-12-03T00:00:00.000Z"],
        ["rt_days", "2", "1999-12-31T00:00:00.000Z"],
        ["rt_micros", "1", "2024-12-03T10:20:30.123Z"],
        ["rt_micros", "2", "1969-12-31T23:59:59.999Z"],
        ["rt_nanos", "1", "2024-12-03T10:20:30.123Z"],
        ["rt_nanos", "2", "1999-12-31T23:59:59.999Z"],
      ].sort(),
    );
  });
});

describe("SQL connector: recordedAtFormat in the configuration and in `dsr connectors check`", () => {
  it("refuses an unknown format or one without recordedAtColumn, naming the table and not echoing the value", () => {
    const wrong = payments();
    (wrong.tables[0] as any).recordedAtFormat = "julian-days-since-4713";
    const orphan = payments("epochSeconds");
    delete orphan.tables[0].recordedAtColumn;
    const problems = [...configProblems(wrong), ...configProblems(orphan)];
    expect(problems).to.deep.equal([
      "tables[0] (rt_payments): recordedAtFormat must be one of datetime, epochSeconds, epochMilliseconds, epochMicroseconds, epochNanoseconds, julianDay, yyyymmdd (how recordedAtColumn writes its dates)",
      "tables[0] (rt_payments): recordedAtFormat is given without recordedAtColumn, whose dates it describes",
    ]);
    expect(problems.join(" ")).not.to.include("4713");
  });

  it("lists a bad recordedAtFormat as invalid connectors, and fails the check of a table of julian days given no format", async function () {
    this.timeout(60_000);
    const dir = tempDir();
    try {
      const file = path.join(dir, "shop.sqlite");
      const seed = new DataSource({ type: "better-sqlite3", database: file });
      await seed.initialize();
      await seed.query(`CREATE TABLE rt_payments (id INTEGER PRIMARY KEY, email TEXT NOT NULL, amount INTEGER, paid REAL NOT NULL)`);
      await seed.query(`INSERT INTO rt_payments VALUES (1, ?, 1200, julianday('2025-12-02'))`, [ADA]);
      await seed.destroy();
      const run = (config: object) => {
        fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "sql", options: { url: "sqlite:shop.sqlite", ...config } }] }));
        return dsr(["connectors", "check"], { DSR_CONNECTORS_FILE: path.join(dir, "connectors.json"), DSR_DATA_DIR: dir });
      };
      const wrong = payments();
      (wrong.tables[0] as any).recordedAtFormat = "julian";
      const invalid = await run(wrong);
      expect(invalid.code).to.equal(78);
      expect(invalid.stderr).to.include("tables[0] (rt_payments): recordedAtFormat must be one of datetime, epochSeconds");
      const unsaid = await run(payments());
      expect(unsaid.code, unsaid.stderr).to.equal(1);
      expect(unsaid.stdout.replace(/\s*│\s*/g, " ").replace(/\s+/g, " ")).to.include("table rt_payments has a number whose unit cannot be told");
      const said = await run(payments("julianDay"));
      expect(said.code, said.stdout + said.stderr).to.equal(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
