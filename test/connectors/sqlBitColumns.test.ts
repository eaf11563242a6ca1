import { expect } from "chai";
import mysql from "mysql2/promise";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachOf } from "../support/databases";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";

/**
 * MySQL/MariaDB BIT columns. mysql2 hands a BIT over as a Buffer, and the person received its bytes in
 * base64: BIT(1) b'1' as "AQ==", BIT(10) b'1010000001' as "AoE=". Now a BIT of up to 53 bits is its
 * number, a wider one its bits as text, as wide as the column (a double cannot hold 64 bits exactly).
 */
describeEachOf(["mariadb"], "SQL connector: BIT columns exported as the server holds them", (db) => {
  let connector: SqlConnector;

  before(async () => {
    const my = await mysql.createConnection(db().url);
    await my.query(`DROP TABLE IF EXISTS rt_flags`);
    await my.query(`CREATE TABLE rt_flags (id INT PRIMARY KEY, email VARCHAR(320) NOT NULL, active BIT(1), mask BIT(10), wide BIT(64))`);
    await my.query(
      `INSERT INTO rt_flags VALUES (1, ?, b'1', b'1010000001', b'1111111111111111111111111111111111111111111111111111111111111111'),
         (2, ?, b'0', b'0000000011', b'101'), (3, ?, NULL, NULL, NULL), (4, ?, b'1', b'1', b'1')`,
      [ADA, ADA, ADA, GRACE],
    );
    await my.end();
    connector = createSqlConnector(
      {
        name: "flags-db",
        version: "1.0.0",
        tables: [{ table: "rt_flags", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "flag", primaryKey: "id", exportColumns: ["active", "mask", "wide"], erase: { strategy: "DELETE" } }],
      },
      { url: db().url, timeoutMs: 5000 },
    );
  });
  // The scratch database, table and all, is dropped by describeEachOf.
  after(async () => {
    await connector?.close();
  });

  it("hands BIT(1) and BIT(10) over as numbers and BIT(64) as its 64 bits, each as the server reads its own rows", async () => {
    const records = await collectAll(connector, { email: ADA });
    // MariaDB's own reading: each value as an unsigned integer (in text: 64 bits pass 2^53) and the wide one in binary.
    const my = await mysql.createConnection({ uri: db().url, supportBigNumbers: true, bigNumberStrings: true });
    const [rows] = (await my.query(`SELECT id, CAST(active AS UNSIGNED) AS active, CAST(mask AS UNSIGNED) AS mask, LPAD(BIN(wide), 64, '0') AS wide FROM rt_flags WHERE email = ? ORDER BY id`, [ADA])) as [any[], unknown];
    await my.end();
    const held = (v: unknown) => (v === null ? null : Number(v));
    expect(records.map((r) => [r.id, r.data]).sort()).to.deep.equal(rows.map((r) => [String(r.id), { active: held(r.active), mask: held(r.mask), wide: r.wide }]).sort());
    expect(records.find((r) => r.id === "1")!.data).to.deep.equal({ active: 1, mask: 641, wide: "1".repeat(64) });
  });
});
