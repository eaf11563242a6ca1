import { expect } from "chai";
import { Client } from "pg";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { ZipReader } from "../../src/export/zipReader";
import { createPostgresDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ADA_EMAIL, completedRequest, download, exportLink, FAST } from "./support";

/**
 * A PostgreSQL system's DATE and TIMESTAMP (without time zone) columns, exported by a service whose
 * machine runs on India's time (the policy's primary processing location): node-postgres reads both as
 * local time, so a birth date came out as the day before and a timestamp 5 h 30 min early, where the
 * MySQL and SQLite readers take them as UTC.
 */
describeEachDatabase("export of a PostgreSQL system's dates on a machine not on UTC", (db) => {
  let crmDb: TestDatabase;
  let sql: SqlConnector;
  let t: TestService;
  const zone = process.env.TZ;

  before(async function () {
    this.timeout(60_000);
    process.env.TZ = "Asia/Kolkata";
    crmDb = await createPostgresDatabase();
    const client = new Client({ connectionString: crmDb.url });
    await client.connect();
    await client.query(`CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT, born_on DATE, created_at TIMESTAMP NOT NULL)`);
    await client.query(`INSERT INTO customers VALUES ('c-1', $1, 'Ada Lovelace', '1990-05-17', '2024-01-01 10:00:00')`, [ADA_EMAIL]);
    await client.end();
    sql = createSqlConnector(
      {
        name: "crm",
        version: "1.0.0",
        tables: [{ table: "customers", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "customer", primaryKey: "id", exportColumns: ["name", "born_on", "created_at"], recordedAtColumn: "created_at", erase: { strategy: "DELETE" } }],
      },
      { url: crmDb.url, timeoutMs: 5000 },
    );
    t = await new TestService(db(), FAST, [sql]).start();
  });
  after(async () => {
    await t?.stop();
    await sql?.close();
    await crmDb?.drop();
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it("exports a DATE as that day and a TIMESTAMP as UTC, whatever the machine's time zone", async function () {
    this.timeout(60_000);
    // The zone took effect: otherwise this test could not tell.
    expect(new Date(2024, 0, 1).getTimezoneOffset()).to.equal(-330);
    const id = await completedRequest(t);
    const got = await download((await exportLink(t, id)).url);
    const zip = ZipReader.open(got.file!);
    try {
      const [customer] = JSON.parse(await zip.text("data/account.json"));
      expect(customer.data).to.deep.equal({ name: "Ada Lovelace", born_on: "1990-05-17T00:00:00.000Z", created_at: "2024-01-01T10:00:00.000Z" });
      expect(customer.recordedAt).to.equal("2024-01-01T10:00:00.000Z");
    } finally {
      zip.close();
    }
  });
});
