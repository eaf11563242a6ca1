import { expect } from "chai";
import { ConnectorError, type Identities, type RosterEntry } from "../../src/connectors/sdk";
import { createSqlConnector, type SqlConnector, type SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import { sampleAccountDbConfig, seedAccountDb } from "../../src/sample/accountDb";
import { samplePeople } from "../../src/sample/people";
import { describeEachDatabase, describeEachSqlDialect } from "../support/databases";
import { AccountDb, accountDbConfig, testDataSource, ADA, ADA_RECORDS, BJORN, GRACE, ZOE } from "./support/accountDb";
import { spyOn } from "./support/statementSpy";

/** Two people a page: the walk crosses pages between two spellings of one address. */
const PAGE = 2;

/** The account database plus `devices`, found by user id with no foreign key, so rows can outlive their user. */
function rosterConfig(): SqlConnectorConfig {
  const config = accountDbConfig();
  config.tables.push({ table: "devices", identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", recordType: "device", primaryKey: "id", exportColumns: ["name"], erase: { strategy: "DELETE" } });
  return config;
}

/** Who collect is asked about for an entry: by its email when it has one (collect follows every user id of it), else by its ids. */
const subjectOf = (entry: RosterEntry): Identities => (entry.identities.email ? { email: entry.identities.email } : { email: "nobody@roster.invalid", ...entry.identities });

describeEachSqlDialect("SQL connector listSubjects", (db) => {
  let account: AccountDb;
  let connector: SqlConnector;

  beforeEach(async () => {
    account = await AccountDb.create(db());
    await account.rows(`DROP TABLE IF EXISTS devices`);
    await account.rows(`CREATE TABLE devices (id INTEGER NOT NULL PRIMARY KEY, user_id INTEGER NOT NULL, name VARCHAR(100))`);
    // A filler user, so Björn's two rows (7 and 10) fall on different pages of two.
    await account.rows(`INSERT INTO users (id, email, name, created_at) VALUES (8, 'filler@example.com', 'Filler', ?)`, [account.date(new Date("2024-01-01T00:00:00Z"))]);
    // Björn's address again, spelled with the Unicode domain: one person with two accounts (user ids 7 and 10).
    await account.rows(`INSERT INTO users (id, email, name, created_at) VALUES (10, 'bjorn@bücher.de', 'Björn Unicode', ?)`, [account.date(new Date("2024-02-01T00:00:00Z"))]);
    // Zoë's address in capitals, page 5 of the walk; MariaDB's _ci unique key refuses it as a duplicate of row 5.
    if (db().kind !== "mariadb") await account.rows(`INSERT INTO users (id, email, name, created_at) VALUES (9, 'ZOË.MIXED+DSR@EXAMPLE.COM', 'Zoë Shouted', ?)`, [account.date(new Date("2024-03-01T00:00:00Z"))]);
    await account.rows(`INSERT INTO sessions (id, user_id, ip, user_agent, created_at) VALUES (9001, 10, '192.0.2.1', 'Lynx', ?)`, [account.date(new Date("2024-02-02T00:00:00Z"))]);
    // Devices of Ada and Björn's second account, and of two user ids with no users row (orphans).
    const devices = [
      [1, 99, "Orphan phone"],
      [2, 1, "Ada's laptop"],
      [3, 99, "Orphan tablet"],
      [4, 98, "Orphan watch"],
      [5, 10, "Björn's phone"],
      [6, 99, "Orphan TV"],
      [7, 1, "Ada's phone"],
    ];
    for (const row of devices) await account.rows(`INSERT INTO devices (id, user_id, name) VALUES (?, ?, ?)`, row);
    connector = createSqlConnector(rosterConfig(), { dataSource: account.ds, chunkSize: PAGE });
  });
  afterEach(async () => {
    await connector.close();
    await account.close();
  });

  it("lists each person once, in matching form, with collect's count, walking pages of chunkSize rows", async () => {
    const statements = spyOn(account.ds);
    const ctx = testContext();
    const entries = await listAll(connector, ctx);
    expect(entries.map((e) => e.identities).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).to.deep.equal(
      [
        { email: ADA.email, userId: "1", paymentCustomerId: ADA.paymentCustomerId },
        { email: "alan.turing@example.com", userId: "3", paymentCustomerId: "cus_alan_0003" },
        // Two rows, two user ids: one person, carrying the lowest user id (7, not 10) and 10 in moreIdentities; user 10 is listed nowhere else.
        { email: BJORN.email, userId: "7" },
        { email: "filler@example.com", userId: "8" },
        { email: GRACE.email, userId: "2", paymentCustomerId: GRACE.paymentCustomerId },
        { email: "jose@example.de", userId: "6" },
        // An empty customer id is nobody's identity: Katherine carries none.
        { email: "katherine.johnson@example.com", userId: "4" },
        // Devices whose user has no users row: still personal data held, listed by the user id.
        { userId: "98" },
        { userId: "99" },
        // Stored mixed case (and, but on MariaDB, a second row in capitals): one person, in matching form.
        { email: ZOE.email, userId: "5" },
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    for (const entry of entries) {
      const collected = await collectAll(connector, subjectOf(entry));
      expect(entry.records, JSON.stringify(entry.identities)).to.equal(collected.length);
    }
    const count = (ids: Partial<Record<string, string>>) => entries.find((e) => Object.entries(ids).every(([k, v]) => e.identities[k] === v))?.records;
    expect(count({ email: ADA.email })).to.equal(ADA_RECORDS + 2, "Ada's records and her two devices");
    expect(count({ email: BJORN.email })).to.equal(2 + 1 + 1, "both users rows, user 10's session and device");
    // His second user id joins him to any system that knows him by it (an auth log's { userId: "10" }).
    expect(entries.find((e) => e.identities.email === BJORN.email)?.moreIdentities).to.deep.equal({ userId: ["10"] });
    expect(count({ email: ZOE.email })).to.equal(db().kind === "mariadb" ? 3 : 4, "Zoë's rows, and her second row where the database holds it");
    expect(count({ userId: "99" })).to.equal(3);
    expect(count({ userId: "98" })).to.equal(1);

    // Keyset pages of PAGE rows: users has 9 or 10 rows, so 5 pages; no statement returned more than a page of keys.
    const walks = statements.filter((s) => /^SELECT .* FROM .users. (WHERE .id. > \S+ )?ORDER BY .id. LIMIT/.test(s.sql));
    expect(walks.map((s) => s.rows)).to.deep.equal(db().kind === "mariadb" ? [2, 2, 2, 2, 1] : [2, 2, 2, 2, 2, 0]);
    expect(walks.filter((s) => / WHERE .id. > /.test(s.sql))).to.have.length(walks.length - 1);
    expect(ctx.heartbeats, "a heartbeat after every page").to.be.at.least(walks.length);
  });

  it("no longer lists an orphan's user id once its rows are gone, and lists a user whose account row was deleted by their remaining rows", async () => {
    await account.rows(`DELETE FROM devices WHERE user_id = 99`);
    await account.rows(`DELETE FROM sessions WHERE user_id = 10`);
    await account.rows(`DELETE FROM users WHERE id = 10`);
    const entries = await listAll(connector);
    expect(entries.filter((e) => e.identities.userId === "99")).to.deep.equal([]);
    // Björn's second account is gone but its device stays: listed by its user id, apart from Björn.
    expect(entries.filter((e) => e.identities.userId === "10")).to.deep.equal([{ identities: { userId: "10" }, records: 1 }]);
    expect(entries.filter((e) => e.identities.email === BJORN.email)).to.deep.equal([{ identities: { email: BJORN.email, userId: "7" }, records: 1 }]);
  });

  it("stops between pages with a retryable error, when the roster job is aborted", async () => {
    const ctx = testContext();
    const aborting = testContext({ signal: ctx.signal, heartbeat: async () => ctx.abort("lease lost") });
    const error = await listAll(connector, aborting).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConnectorError);
    expect((error as ConnectorError).retryable).to.equal(true);
    expect(aborting.heartbeats).to.equal(1);
  });

  it("carries a shared phone on neither person, as the roster would join them into one", async () => {
    await account.rows(`ALTER TABLE users ADD phone VARCHAR(32)`);
    await account.rows(`UPDATE users SET phone = '+44 20 7946 0958' WHERE id IN (2, 3)`);
    await account.rows(`UPDATE users SET phone = '020 7946 0111' WHERE id = 1`);
    const config = rosterConfig();
    config.defaultPhoneCountry = "GB";
    config.provides!.push({ kind: "phone", table: "users", column: "phone" });
    const withPhones = createSqlConnector(config, { dataSource: account.ds, chunkSize: PAGE });
    try {
      const entries = await listAll(withPhones);
      const phones = entries.filter((e) => e.identities.phone).map((e) => [e.identities.email, e.identities.phone]);
      expect(phones, "in E.164, as resolve gives it").to.deep.equal([[ADA.email, "+442079460111"]]);
      expect((await withPhones.resolve({ email: ADA.email }, testContext())).phone).to.equal("+442079460111");
    } finally {
      await withPhones.close();
    }
  });
});

describeEachDatabase("SQL connector listSubjects on the sample account database", (db) => {
  it("lists each sample person once, with the identities resolve gives (phones in E.164) and collect's count", async () => {
    const people = samplePeople(30, { authEventsForAda: 10 });
    const ds = testDataSource(db());
    await ds.initialize();
    const connector = createSqlConnector(sampleAccountDbConfig(), { dataSource: ds, chunkSize: 7 });
    try {
      await seedAccountDb(ds, people);
      const entries = await listAll(connector);
      expect(entries).to.have.length(people.length);
      for (const entry of entries) {
        const { email, ...provided } = entry.identities;
        expect(email, "an entry per users row, by email").to.be.a("string");
        expect(provided, email).to.deep.equal(await connector.resolve({ email: email! }, testContext()));
        expect(entry.records, email).to.equal((await collectAll(connector, { email: email! })).length);
      }
      // Zoë typed her address in mixed case and her phone in the national form.
      expect(entries.find((e) => e.identities.email === "zoe+dsr@example.com")?.identities.phone).to.match(/^\+44\d+$/);
    } finally {
      await connector.close();
      for (const table of ["devices", "auth_preferences", "mfa_factors", "users"]) await ds.query(`DROP TABLE IF EXISTS ${table}`);
      await ds.destroy();
    }
  });
});
