import { expect } from "chai";
import type { Connector } from "../../src/connectors/sdk";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { createMariadbDatabase, createSqliteDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { testDataSource } from "./support/accountDb";
import type { DataSource } from "typeorm";

const DAY = 86_400_000;
const ADA = "ada.lovelace@example.com";
/** Another address of Ada's, which she gave one of her orders in the shop between the plan and the erasure. */
const ADA_ELSEWHERE = "ada@lovelace.example";
const GRACE = "grace.hopper@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status lastError outcome { erased kept residual } }
  deletionOutcome { connector category plannedToKeep erased kept matchesPlan differences { kind records reason } }
  retentionExceptions { connector category recordType recordCount retainUntil status }
  residualRecords { connector recordType records } } }`;

const DDL = {
  sqlite: `CREATE TABLE orders (id VARCHAR(32) PRIMARY KEY, billing_email VARCHAR(320), billing_name VARCHAR(200), amount_cents INTEGER NOT NULL, placed_at TEXT NOT NULL)`,
  mariadb: `CREATE TABLE orders (id VARCHAR(32) NOT NULL PRIMARY KEY, billing_email VARCHAR(320) NULL, billing_name VARCHAR(200) NULL, amount_cents INT NOT NULL, placed_at DATETIME(3) NOT NULL, KEY orders_email (billing_email)) ENGINE=InnoDB`,
};

/**
 * A shop's orders, found by their billing address and kept 7 years for the tax authorities (PAYMENTS).
 * The survey plans to keep Ada's 3 recent orders; before the erasure she gives one of them another
 * address of hers in the shop. Collecting by the request's address after the erasure no longer finds
 * that order: the check said kept 2, "1 record of the plan was no longer there", recorded an exception
 * for 2, and the request COMPLETED, while the order was still in the table with her name, and no purge
 * would ever come for it.
 */
describeEachDatabase("a deletion counts a kept record its identities no longer reach by the id its plan found", (db) => {
  let t: TestService | undefined;
  let shopDb: TestDatabase | undefined;
  /** The test's own connection to the shop's database. */
  let own: DataSource | undefined;
  let connector: SqlConnector | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector?.close();
    if (own?.isInitialized) await own.destroy();
    await shopDb?.drop();
    shopDb = own = connector = undefined;
  });

  const start = async () => {
    shopDb = db().kind === "mariadb" ? await createMariadbDatabase() : await createSqliteDatabase();
    own = testDataSource(shopDb);
    await own.initialize();
    const query = (sql: string, params: unknown[] = []) => own!.query(sql, params);
    const at = (iso: string) => (shopDb!.kind === "sqlite" ? iso : new Date(iso));
    await query(DDL[shopDb.kind as "sqlite" | "mariadb"]);
    const rows: [string, string, string, number, string][] = [
      ["o_ada_1", ADA, "Ada Lovelace", 1200, "2018-01-15T00:00:00.000Z"],
      ["o_ada_2", ADA, "Ada Lovelace", 1300, "2023-01-15T00:00:00.000Z"],
      ["o_grace_1", GRACE, "Grace Hopper", 800, "2024-01-15T00:00:00.000Z"],
      ["o_ada_3", ADA, "Ada Lovelace", 1400, "2024-01-15T00:00:00.000Z"],
      ["o_ada_4", ADA, "Ada Lovelace", 1500, "2025-01-15T00:00:00.000Z"],
    ];
    for (const [id, email, name, cents, placed] of rows) await query(`INSERT INTO orders (id, billing_email, billing_name, amount_cents, placed_at) VALUES (?, ?, ?, ?, ?)`, [id, email, name, cents, at(placed)]);
    connector = createSqlConnector(
      {
        name: "shop-db",
        version: "1.0.0",
        tables: [
          {
            table: "orders",
            identityColumn: "billing_email",
            identityKind: "email",
            category: "PAYMENTS",
            recordType: "order",
            primaryKey: "id",
            exportColumns: ["billing_email", "billing_name", "amount_cents", "placed_at"],
            recordedAtColumn: "placed_at",
            erase: { strategy: "ANONYMIZE", columns: { billing_email: "", billing_name: null }, keep: ["amount_cents", "placed_at"] },
          },
        ],
      },
      { url: shopDb.url, timeoutMs: 5000 },
    );
    // The shop at work: between the plan and the erasure, Ada gives one of her kept orders another address of hers.
    let moved = false;
    const real = connector;
    const shopAtWork: Connector = {
      ...real,
      spec: real.spec,
      async erase(ids, instruction, ctx) {
        if (!moved) {
          moved = true;
          await query(`UPDATE orders SET billing_email = ? WHERE id = 'o_ada_3'`, [ADA_ELSEWHERE]);
        }
        return real.erase(ids, instruction, ctx);
      },
    };
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_TASK_MAX_ATTEMPTS: "2" }, [shopAtWork]).start();
    const orders = async () => (await query(`SELECT id, billing_email, billing_name FROM orders ORDER BY id`)) as { id: string; billing_email: string | null; billing_name: string | null }[];
    return { t, orders };
  };

  const deleteAda = async (s: TestService) => {
    s.clock.advance(1000);
    const r = await submit(s, { type: "DELETION", subject: { email: ADA }, identityVerified: true, verificationEvidence: "signed-in session" });
    await s.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return s.waitFor(async () => {
      const { request } = await s.ok(SHOW, { id: r.id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "request ended", 30_000);
  };

  it("counts the 3 orders it keeps, the moved one among them, and records an exception for 3", async () => {
    const { t: s, orders } = await start();
    const done = await deleteAda(s);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // The shop's own rows: the old order is anonymised; the 3 recent ones (one under her other address) and Grace's stay whole.
    expect(await orders()).to.deep.equal([
      { id: "o_ada_1", billing_email: "", billing_name: null },
      { id: "o_ada_2", billing_email: ADA, billing_name: "Ada Lovelace" },
      { id: "o_ada_3", billing_email: ADA_ELSEWHERE, billing_name: "Ada Lovelace" },
      { id: "o_ada_4", billing_email: ADA, billing_name: "Ada Lovelace" },
      { id: "o_grace_1", billing_email: GRACE, billing_name: "Grace Hopper" },
    ]);
    // Before: kept 2, FEWER_RECORDS 1 ("no longer there when erasure ran"), an exception for 2.
    const line = done.deletionOutcome.find((l: any) => l.category === "PAYMENTS");
    expect(line, JSON.stringify(done.deletionOutcome)).to.deep.include({ plannedToKeep: 3, erased: 1, kept: 3, matchesPlan: true, differences: [] });
    expect(done.retentionExceptions.map((e: any) => [e.connector, e.category, e.recordType, e.recordCount, e.status, e.retainUntil.slice(0, 10)])).to.deep.equal([["shop-db", "PAYMENTS", "order", 3, "OPEN", "2032-01-15"]]);
  });

  it("purges when the period ends: the 2 orders under the address it was given, and names the moved one residual, Grace's untouched", async () => {
    const { t: s, orders } = await start();
    const done = await deleteAda(s);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // Past 2032-01-15 (the test clock starts 2026-03-02).
    s.clock.advance(6 * 365 * DAY);
    const purged = await s.purgeEnded(SHOW, done.id);
    const purge = purged.tasks.find((x: any) => x.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    // The shop's own rows: the orders under the address the deletion was given are anonymised; the one
    // under her other address is no longer the deletion's to decide (the purge erases a kept record by
    // id only while it still holds the identity it was found by): left, and named.
    expect(await orders()).to.deep.equal([
      { id: "o_ada_1", billing_email: "", billing_name: null },
      { id: "o_ada_2", billing_email: "", billing_name: null },
      { id: "o_ada_3", billing_email: ADA_ELSEWHERE, billing_name: "Ada Lovelace" },
      { id: "o_ada_4", billing_email: "", billing_name: null },
      { id: "o_grace_1", billing_email: GRACE, billing_name: "Grace Hopper" },
    ]);
    expect(purge.outcome).to.deep.include({ erased: 2, residual: 1 });
    const after = (await s.ok(SHOW, { id: done.id })).request;
    expect(after.retentionExceptions.map((e: any) => e.status)).to.deep.equal(["CLOSED"]);
    expect(after.residualRecords.map((r: any) => [r.connector, r.recordType, r.records])).to.deep.include(["shop-db", "order", 1]);
  });
});
