import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import mysql from "mysql2/promise";
import { Client } from "pg";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { Manifest } from "../../src/export/format";
import { ZipReader } from "../../src/export/zipReader";
import { dsr } from "../support/cliBinary";
import { createMariadbDatabase, createPostgresDatabase, describeEachDatabase, REQUIRE_MYSQL, tempDir, TestDatabase } from "../support/databases";
import { TlsMariadb } from "../support/tlsMariadb";
import { TestService } from "../support/harness";
import { ADA_EMAIL, completedRequest, exportLink, FAST } from "./support";

const GRACE = "grace.hopper@example.com";
/** Integers past 2^53 inside JSON documents: JSON.parse rounds each to another number. */
const BIG = "12345678901234567891";
const BIG_53 = "9007199254740993";
const NEGATIVE = "-9223372036854775808";

/** An ISO 8601 instant as the export writes it from a database's text with microseconds: three fraction digits at least, no zeros past them. */
const isoDigits = (text: string | null) => text && text.replace(/\.(\d{3}\d*?)0*Z$/, ".$1Z");

/** Downloads a request's export with `dsr export download` into `dir`, checks it with `dsr export verify --portability`; returns the archive. */
async function downloadedAndVerified(t: TestService, id: string, dir: string): Promise<string> {
  const file = path.join(dir, `${id}.zip`);
  const got = await dsr(["export", "download", (await exportLink(t, id)).url, "--out", file]);
  expect(got.code, got.stderr).to.equal(0);
  const verified = await dsr(["export", "verify", file, "--portability"]);
  expect(verified.code, verified.stdout + verified.stderr).to.equal(0);
  return file;
}

/** A PORTABILITY request's visits (data/auth_logs.json), downloaded and verified with the CLI. */
async function exportedVisits(t: TestService, dir: string): Promise<any[]> {
  const zip = ZipReader.open(await downloadedAndVerified(t, await completedRequest(t, "PORTABILITY"), dir));
  try {
    return JSON.parse(await zip.text("data/auth_logs.json"));
  } finally {
    zip.close();
  }
}

/** A system's `visits` table, found by email, dated by `seen`, as the connector `name`. */
const visitsConnector = (name: string, exportColumns: string[], url: string) =>
  createSqlConnector(
    { name, version: "1.0.0", tables: [{ table: "visits", identityColumn: "email", identityKind: "email", category: "AUTH_LOGS", recordType: "visit", primaryKey: "id", exportColumns, recordedAtColumn: "seen", erase: { strategy: "DELETE" } }] },
    { url, timeoutMs: 5000 },
  );

/**
 * JSON columns and zoneless dates past year 9999 or before year 1, in a PostgreSQL and a MariaDB system,
 * exported by a service on India's time, downloaded and verified with the CLI, and compared with what
 * each system computes from its own rows. Before: the integers in JSON came out rounded
 * (12345678901234567891 as 12345678901234567000), TIMESTAMP 10000-01-01 00:00 as 9999-12-31T18:30Z,
 * DATE 0044-03-15 BC as -000043-03-14T18:06:32Z, and microseconds cut to milliseconds (PostgreSQL's
 * TIMESTAMP(6) and timestamptz, MariaDB's DATETIME(6): 01:30:00.123456 as 01:30:00.123Z).
 */
describeEachDatabase("export of a SQL system's JSON columns, dates past 9999 or BC, and microseconds", (db) => {
  let crmDb: TestDatabase;
  let shopDb: TestDatabase;
  let crm: SqlConnector;
  let shop: SqlConnector;
  let t: TestService;
  const zone = process.env.TZ;
  let dir: string;

  before(async function () {
    this.timeout(60_000);
    process.env.TZ = "Asia/Kolkata";
    dir = tempDir();
    crmDb = await createPostgresDatabase();
    const pg = new Client({ connectionString: crmDb.url });
    await pg.connect();
    await pg.query(`CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT NOT NULL, doc JSONB, raw JSON, far TIMESTAMP, born DATE, seen TIMESTAMP NOT NULL, fine TIMESTAMP(6), finetz TIMESTAMPTZ(6))`);
    const insert = `INSERT INTO customers VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
    await pg.query(insert, ["c-1", ADA_EMAIL, `{"ref": ${BIG}, "list": [${BIG_53}, 1.5, "x"], "deep": {"min": ${NEGATIVE}}}`, `{"ref": ${BIG_53}}`, "10000-01-01 00:00:00", "0044-03-15 BC", "10000-06-01 12:00:00", "2024-03-31 01:30:00.123456", "1969-07-20 20:17:40.000001+00"]);
    await pg.query(insert, ["c-2", ADA_EMAIL, `{"ref": 7}`, `[]`, "1815-12-10 10:11:12.5", "1969-12-31", "0001-01-01 00:00:00 BC", "1900-01-01 00:00:00.5", null]);
    await pg.query(insert, ["c-3", GRACE, `{"ref": ${BIG}}`, `{}`, "2024-01-01 00:00:00", "1906-12-09", "2024-01-01 00:00:00", null, null]);
    await pg.end();
    shopDb = await createMariadbDatabase();
    const my = await mysql.createConnection(shopDb.url);
    await my.query(`CREATE TABLE orders (id VARCHAR(10) PRIMARY KEY, email VARCHAR(200) NOT NULL, details JSON, placed DATETIME(6) NOT NULL)`);
    await my.query(`INSERT INTO orders VALUES ('o-1', ?, ?, '1815-12-10 10:11:12.000001'), ('o-2', ?, '{"total": 3}', '9999-12-31 23:59:59.999999'), ('o-3', ?, ?, '2024-01-01 00:00:00')`, [
      ADA_EMAIL,
      `{"total": ${BIG}, "lines": [{"sku": ${BIG_53}}], "min": ${NEGATIVE}}`,
      ADA_EMAIL,
      GRACE,
      `{"total": ${BIG}}`,
    ]);
    await my.end();
    crm = createSqlConnector(
      { name: "crm", version: "1.0.0", tables: [{ table: "customers", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "customer", primaryKey: "id", exportColumns: ["doc", "raw", "far", "born", "fine", "finetz"], recordedAtColumn: "seen", erase: { strategy: "DELETE" } }] },
      { url: crmDb.url, timeoutMs: 5000 },
    );
    shop = createSqlConnector(
      { name: "shop", version: "1.0.0", tables: [{ table: "orders", identityColumn: "email", identityKind: "email", category: "PAYMENTS", recordType: "order", primaryKey: "id", exportColumns: ["details", "placed"], recordedAtColumn: "placed", erase: { strategy: "DELETE" } }] },
      { url: shopDb.url, timeoutMs: 5000 },
    );
    t = await new TestService(db(), FAST, [crm, shop]).start();
  });
  after(async () => {
    await t?.stop();
    await crm?.close();
    await shop?.close();
    await crmDb?.drop();
    await shopDb?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it("hands over every value as the systems hold it: JSON integers to the digit, dates at the instant the system computes", async function () {
    this.timeout(120_000);
    // The zone took effect: otherwise this test could not tell a local reading from a UTC one.
    expect(new Date(2024, 0, 1).getTimezoneOffset()).to.equal(-330);
    const file = await downloadedAndVerified(t, await completedRequest(t, "PORTABILITY"), dir);

    const zip = ZipReader.open(file);
    let manifest: Manifest;
    let account: any[];
    let payments: any[];
    try {
      manifest = JSON.parse(await zip.text("manifest.json"));
      account = JSON.parse(await zip.text("data/account.json"));
      payments = JSON.parse(await zip.text("data/payments.json"));
    } finally {
      zip.close();
    }

    // PostgreSQL's own reading of its rows: JSON numbers as text, instants as epoch milliseconds.
    const pg = new Client({ connectionString: crmDb.url });
    await pg.connect();
    const customers = (
      await pg.query(
        `SELECT id, doc->>'ref' AS ref, doc->'list'->>0 AS first, doc->'deep'->>'min' AS min, raw::text AS raw,
                (extract(epoch FROM far) * 1000)::text AS far, (extract(epoch FROM born::timestamp) * 1000)::text AS born,
                (extract(epoch FROM seen) * 1000)::text AS seen,
                to_char(fine, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS fine, to_char(finetz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS finetz
           FROM customers WHERE email = $1 ORDER BY id`,
        [ADA_EMAIL],
      )
    ).rows;
    await pg.end();
    expect(account.map((r) => r.id)).to.deep.equal(customers.map((c) => c.id));
    for (const [i, c] of customers.entries()) {
      const r = account[i];
      expect(String(r.data.doc.ref), c.id).to.equal(c.ref);
      if (c.first !== null) expect([String(r.data.doc.list[0]), r.data.doc.list.slice(1), String(r.data.doc.deep.min)], c.id).to.deep.equal([c.first, [1.5, "x"], c.min]);
      expect(JSON.stringify(r.data.raw).replace(/"(\d+)"/g, "$1"), c.id).to.equal(c.raw.replace(/\s/g, ""));
      expect([Date.parse(r.data.far), Date.parse(r.data.born), Date.parse(r.recordedAt)], c.id).to.deep.equal([Number(c.far), Number(c.born), Number(c.seen)]);
      // To the microsecond, as the system writes it (ISO 8601 keeps three digits at least, and no zeros past them).
      expect([r.data.fine, r.data.finetz], c.id).to.deep.equal([c.fine, c.finetz].map(isoDigits));
    }
    expect(account[0].data.far).to.equal("+010000-01-01T00:00:00.000Z");
    expect(account[0].data.born).to.equal("-000043-03-15T00:00:00.000Z");

    // MariaDB's own reading: JSON_EXTRACT's text, and the instant as epoch microseconds and as text.
    // The JSON values and big integers as MariaDB writes them, not as JSON.parse and doubles read them.
    const my = await mysql.createConnection({ uri: shopDb.url, jsonStrings: true, supportBigNumbers: true, bigNumberStrings: true });
    const [orders] = (await my.query(
      `SELECT id, JSON_EXTRACT(details, '$.total') AS total, JSON_EXTRACT(details, '$.lines[0].sku') AS sku, JSON_EXTRACT(details, '$.min') AS min, TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', placed) AS placed, DATE_FORMAT(placed, '%Y-%m-%dT%H:%i:%s.%fZ') AS exact
         FROM orders WHERE email = ? ORDER BY id`,
      [ADA_EMAIL],
    )) as [any[], unknown];
    await my.end();
    expect(payments.map((r) => r.id)).to.deep.equal(orders.map((o) => o.id));
    for (const [i, o] of orders.entries()) {
      const r = payments[i];
      expect([String(r.data.details.total), r.data.details.lines && String(r.data.details.lines[0].sku), r.data.details.min && String(r.data.details.min)], o.id).to.deep.equal([
        String(o.total),
        o.sku === null ? undefined : String(o.sku),
        o.min === null ? undefined : String(o.min),
      ]);
      const us = BigInt(o.placed);
      expect(Date.parse(r.recordedAt), o.id).to.equal(Number(us / 1000n - (us % 1000n < 0n ? 1n : 0n)));
      expect(r.data.placed, o.id).to.equal(isoDigits(o.exact));
    }
    expect(payments[0].data.details).to.deep.equal({ total: BIG, lines: [{ sku: BIG_53 }], min: NEGATIVE });

    // Nothing of Grace's, and the counts are the systems' own.
    expect(JSON.stringify([account, payments])).not.to.include("c-3").and.not.to.include("o-3");
    expect(manifest.connectors.map((c) => [c.name, c.status, c.records])).to.deep.equal([
      ["crm", "SUCCEEDED", customers.length],
      ["shop", "SUCCEEDED", orders.length],
    ]);
  });
});

/**
 * A MariaDB system whose server runs on India's time (`--default-time-zone=+05:30`, as a server on
 * SYSTEM time in India does): it hands TIMESTAMP values over in the session's zone, and the connector
 * read them as UTC. Before: a visit at 10:00 UTC was exported, and dated for retention, as 15:30Z.
 */
describeEachDatabase("export of a MariaDB system's TIMESTAMP columns, its server not on UTC", (db) => {
  let server: TlsMariadb | undefined;
  let visits: SqlConnector;
  let t: TestService;
  let dir: string;

  before(async function () {
    this.timeout(90_000);
    if (!TlsMariadb.available()) {
      if (REQUIRE_MYSQL) throw new Error("mariadbd and mariadb-install-db are required (DSR_TEST_REQUIRE_MYSQL): install mariadb-server");
      this.skip();
    }
    dir = tempDir();
    server = await TlsMariadb.start(["--default-time-zone=+05:30"]);
    const my = await mysql.createConnection({ host: "localhost", port: server.port, user: "root", database: "dsr", ssl: { ca: fs.readFileSync(server.caFile, "utf8") } });
    // Written on UTC, so the rows hold these instants whatever the server's zone.
    await my.query(`SET time_zone = '+00:00'`);
    await my.query(`CREATE TABLE visits (id VARCHAR(10) PRIMARY KEY, email VARCHAR(200) NOT NULL, seen TIMESTAMP(3) NOT NULL, last TIMESTAMP NULL)`);
    await my.query(`INSERT INTO visits VALUES ('v-1', ?, '2024-01-01 10:00:00.250', '2024-03-31 01:30:00'), ('v-2', ?, '1970-01-01 00:00:01', NULL), ('v-3', ?, '2024-01-01 10:00:00', NULL)`, [ADA_EMAIL, ADA_EMAIL, GRACE]);
    await my.end();
    visits = visitsConnector("visits", ["seen", "last"], server.url("localhost", `ssl-mode=VERIFY_IDENTITY&ssl-ca=${server.caFile}`));
    t = await new TestService(db(), FAST, [visits]).start();
  });
  after(async () => {
    await t?.stop();
    await visits?.close();
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("exports each TIMESTAMP at the instant the server holds (UNIX_TIMESTAMP), in the data and as recordedAt", async function () {
    this.timeout(120_000);
    const records = await exportedVisits(t, dir);
    const my = await mysql.createConnection({ host: "localhost", port: server!.port, user: "root", database: "dsr", ssl: { ca: fs.readFileSync(server!.caFile, "utf8") } });
    const [rows] = (await my.query(`SELECT id, UNIX_TIMESTAMP(seen) * 1000 AS seen, UNIX_TIMESTAMP(last) * 1000 AS last FROM visits WHERE email = ? ORDER BY id`, [ADA_EMAIL])) as [any[], unknown];
    await my.end();
    expect(rows.map((r) => r.id)).to.deep.equal(["v-1", "v-2"]);
    expect(records.map((r) => [r.id, Date.parse(r.recordedAt), Date.parse(r.data.seen), r.data.last === null ? null : Date.parse(r.data.last)])).to.deep.equal(
      rows.map((r) => [r.id, Number(r.seen), Number(r.seen), r.last === null ? null : Number(r.last)]),
    );
    expect(records[0].data.seen).to.equal("2024-01-01T10:00:00.250Z");
  });
});

/**
 * A PostgreSQL system whose database shows dates the European way (`DateStyle` `SQL, DMY`) and intervals
 * the SQL standard's way, with `infinity` in its date columns. pg reads dates as ISO text only. Before:
 * DATE and TIMESTAMP 2024-03-05 were exported (and dated for retention) as 3 May, a `timestamptz` as
 * null, an interval as `{}`, and `infinity` and `-infinity` as null (the system holds a value there).
 */
describeEachDatabase("export of a PostgreSQL system's dates and intervals, whatever its DateStyle", (db) => {
  let crmDb: TestDatabase;
  let crm: SqlConnector;
  let t: TestService;
  let dir: string;

  before(async function () {
    this.timeout(60_000);
    dir = tempDir();
    crmDb = await createPostgresDatabase();
    const pg = new Client({ connectionString: crmDb.url });
    await pg.connect();
    const name = new URL(crmDb.url).pathname.slice(1);
    await pg.query(`ALTER DATABASE "${name}" SET DateStyle = 'SQL, DMY'`);
    await pg.query(`ALTER DATABASE "${name}" SET IntervalStyle = 'sql_standard'`);
    await pg.query(`CREATE TABLE visits (id TEXT PRIMARY KEY, email TEXT NOT NULL, seen TIMESTAMPTZ, day DATE, at TIMESTAMP, span INTERVAL)`);
    await pg.query(`INSERT INTO visits VALUES ('v-1', $1, '2024-03-05 10:00:00+00', '2024-03-05', '2024-03-05 10:00:00', '1 year 2 mons 3 days 04:05:06.789'),
      ('v-2', $1, '2024-12-01 00:00:00+00', '-infinity', 'infinity', '-1 year -2 mons +3 days -04:05:06'), ('v-3', $1, 'infinity', NULL, NULL, NULL), ('v-4', $2, '2024-01-01 00:00:00+00', NULL, NULL, NULL)`, [ADA_EMAIL, GRACE]);
    await pg.end();
    crm = visitsConnector("crm", ["seen", "day", "at", "span"], crmDb.url);
    t = await new TestService(db(), FAST, [crm]).start();
  });
  after(async () => {
    await t?.stop();
    await crm?.close();
    await crmDb?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hands each date over at its day, infinity as PostgreSQL writes it, and each interval as ISO 8601", async function () {
    this.timeout(120_000);
    const records = await exportedVisits(t, dir);
    // PostgreSQL's own writing of its rows, in a session of ours on ISO styles.
    const pg = new Client({ connectionString: crmDb.url });
    await pg.connect();
    await pg.query(`SET DateStyle = 'ISO'`);
    await pg.query(`SET IntervalStyle = 'iso_8601'`);
    const rows = (
      await pg.query(
        `SELECT id, CASE WHEN isfinite(seen) THEN (extract(epoch FROM seen) * 1000)::text ELSE seen::text END AS seen, day::text AS day,
                CASE WHEN isfinite(at) THEN (extract(epoch FROM at) * 1000)::text ELSE at::text END AS at, span::text AS span
           FROM visits WHERE email = $1 ORDER BY id`,
        [ADA_EMAIL],
      )
    ).rows;
    await pg.end();
    const instant = (v: string | null) => (v === null || /infinity/.test(v) ? v : Date.parse(v));
    const held = (v: string | null) => (v === null || /infinity/.test(v) ? v : Number(v));
    expect(records.map((r) => [r.id, instant(r.data.seen), r.data.day && r.data.day.replace(/T00:00:00\.000Z$/, ""), instant(r.data.at), r.data.span])).to.deep.equal(
      rows.map((r) => [r.id, held(r.seen), r.day, held(r.at), r.span]),
    );
    expect(records[0].data).to.deep.equal({ seen: "2024-03-05T10:00:00.000Z", day: "2024-03-05T00:00:00.000Z", at: "2024-03-05T10:00:00.000Z", span: "P1Y2M3DT4H5M6.789S" });
    expect(records[1].data).to.deep.include({ day: "-infinity", at: "infinity" });
    // Dated for retention where the system dates it; `infinity` is no instant to count from: undated.
    expect(records.map((r) => r.recordedAt ?? null)).to.deep.equal(["2024-03-05T10:00:00.000Z", "2024-12-01T00:00:00.000Z", null]);
  });
});

/**
 * A MariaDB system that stores dates naming no day (a server without NO_ZERO_DATE / NO_ZERO_IN_DATE, as
 * many older ones run). Before: DATE `0000-00-00` was exported as 1899-11-30 and `2024-00-00` as
 * 2023-11-30, and a DATETIME zero date in the recordedAtColumn failed the person's whole collect.
 */
describeEachDatabase("export of a MariaDB system's zero dates", (db) => {
  let shopDb: TestDatabase;
  let visits: SqlConnector;
  let t: TestService;
  let dir: string;

  before(async function () {
    this.timeout(60_000);
    dir = tempDir();
    shopDb = await createMariadbDatabase();
    const my = await mysql.createConnection(shopDb.url);
    await my.query(`SET SESSION sql_mode = ''`);
    await my.query(`CREATE TABLE visits (id VARCHAR(10) PRIMARY KEY, email VARCHAR(200) NOT NULL, seen DATETIME NOT NULL, day DATE)`);
    await my.query(`INSERT INTO visits VALUES ('v-1', ?, '0000-00-00 00:00:00', '2024-00-00'), ('v-2', ?, '2024-03-05 10:00:00', '0000-00-00'), ('v-3', ?, '0000-00-00 00:00:00', NULL)`, [ADA_EMAIL, ADA_EMAIL, GRACE]);
    await my.end();
    visits = visitsConnector("visits", ["seen", "day"], shopDb.url);
    t = await new TestService(db(), FAST, [visits]).start();
  });
  after(async () => {
    await t?.stop();
    await visits?.close();
    await shopDb?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("hands a date that names no day over as the server holds it, and leaves its record undated", async function () {
    this.timeout(120_000);
    const records = await exportedVisits(t, dir);
    const my = await mysql.createConnection(shopDb.url);
    const [rows] = (await my.query(`SELECT id, CAST(seen AS CHAR) AS seen, CAST(day AS CHAR) AS day FROM visits WHERE email = ? ORDER BY id`, [ADA_EMAIL])) as [any[], unknown];
    await my.end();
    expect(rows.map((r) => [r.id, r.seen, r.day])).to.deep.equal([
      ["v-1", "0000-00-00 00:00:00", "2024-00-00"],
      ["v-2", "2024-03-05 10:00:00", "0000-00-00"],
    ]);
    expect(records.map((r) => [r.id, r.data.seen, r.data.day, r.recordedAt ?? null])).to.deep.equal([
      ["v-1", "0000-00-00 00:00:00", "2024-00-00", null],
      ["v-2", "2024-03-05T10:00:00.000Z", "0000-00-00", "2024-03-05T10:00:00.000Z"],
    ]);
  });
});
