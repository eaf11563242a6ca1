import { expect } from "chai";
import { ConnectorError } from "../../src/connectors/sdk";
import { createSqlConnector, SqlConnectorConfig } from "../../src/connectors/sql";
import { numberedParameters } from "../../src/connectors/sql/postgres";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { describeEachOf, describeEachSqlDialect, TestDatabase } from "../support/databases";
import { testDataSource } from "./support/accountDb";

/**
 * The person as the database stores them, in spellings the connector's look-up must reach or refuse
 * loudly: a row it passes by is neither exported nor erased, and the erasure's check (collect again)
 * passes it by too, so the request would end COMPLETED with the person's row in place.
 */
const ADA = { email: "ada.lovelace@example.com" };

/** A one-table database of people found by email; `email` is the identity column unless the test says otherwise. */
function peopleConfig(identityColumn = "email"): SqlConnectorConfig {
  return {
    name: "people-db",
    version: "1.0.0",
    tables: [{ table: "people", identityColumn, identityKind: "email", category: "ACCOUNT", recordType: "person", primaryKey: "id", exportColumns: ["email", "name"], erase: { strategy: "DELETE" } }],
  };
}

/** A scratch table in `db`, made and read by the test's own connection (not the connector's). */
async function scratch(db: TestDatabase, ddl: string[]): Promise<{ rows(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>; close(): Promise<void> }> {
  const ds = testDataSource(db);
  await ds.initialize();
  const rows = (sql: string, params: unknown[] = []) => ds.query(db.kind === "postgres" ? numberedParameters(sql) : sql, params) as Promise<Record<string, unknown>[]>;
  for (const statement of ["DROP TABLE IF EXISTS people", ...ddl]) await rows(statement);
  return { rows, close: () => ds.destroy() };
}

async function failure(work: Promise<unknown>): Promise<ConnectorError> {
  const error = await work.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(ConnectorError);
  return error as ConnectorError;
}

describeEachOf(["mariadb"], "SQL connector: an email column that compares letter case", (db) => {
  it("is refused by check and every call, naming the column, rather than pass by the person stored as Ada.Lovelace@Example.com; deletes nothing", async () => {
    const table = await scratch(db(), [`CREATE TABLE people (id INT NOT NULL PRIMARY KEY, email VARCHAR(320) COLLATE utf8mb4_bin NULL, name VARCHAR(200) NULL, KEY people_email (email)) ENGINE=InnoDB`]);
    await table.rows(`INSERT INTO people (id, email, name) VALUES (1, 'Ada.Lovelace@Example.com', 'Ada'), (2, 'grace.hopper@example.com', 'Grace')`);
    const connector = createSqlConnector(peopleConfig(), { url: db().url });
    const problem =
      "table people: column email compares letter case (utf8mb4_bin), so an address stored as Ada@Example.com is not found by ada@example.com; give it a case-insensitive collation (utf8mb4_unicode_ci), or point identityColumn at a generated column of LOWER(email), indexed";
    expect(await connector.check(testContext())).to.deep.equal({ ok: false, message: `people-db: ${problem}; fix the connector configuration or the database schema` });
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["collect", () => collectAll(connector, ADA)],
      ["erase", () => connector.erase(ADA, { categories: ["ACCOUNT"] }, testContext())],
      ["resolve", () => connector.resolve(ADA, testContext())],
      ["roster", async () => { for await (const entry of connector.listSubjects(testContext())) void entry; }],
    ];
    for (const [op, call] of calls) {
      const error = await failure(call());
      expect(error.retryable, op).to.equal(false);
      expect(error.userMessage, op).to.equal(`people-db: ${problem}; the ${op} stopped rather than miss a person stored in other letter case. Fix the connector configuration (see docs/connectors.md, "Matching identities")`);
    }
    expect((await table.rows(`SELECT id FROM people ORDER BY id`)).map((r) => r.id)).to.deep.equal([1, 2]);
    await connector.close();
    await table.close();
  });

  it("finds, exports and deletes her through a generated LOWER(email) column, as docs/connectors.md advises", async () => {
    const table = await scratch(db(), [
      `CREATE TABLE people (id INT NOT NULL PRIMARY KEY, email VARCHAR(320) COLLATE utf8mb4_bin NULL, email_ci VARCHAR(320) COLLATE utf8mb4_bin AS (LOWER(email)) PERSISTENT, name VARCHAR(200) NULL, KEY people_email_ci (email_ci)) ENGINE=InnoDB`,
    ]);
    await table.rows(`INSERT INTO people (id, email, name) VALUES (1, 'Ada.Lovelace@Example.com', 'Ada'), (2, 'grace.hopper@example.com', 'Grace')`);
    const connector = createSqlConnector(peopleConfig("email_ci"), { url: db().url });
    expect((await connector.check(testContext())).ok).to.equal(true);
    expect((await collectAll(connector, ADA)).map((r) => r.data)).to.deep.equal([{ email: "Ada.Lovelace@Example.com", name: "Ada" }]);
    expect(await connector.erase(ADA, { categories: ["ACCOUNT"] }, testContext())).to.deep.equal({ erased: 1, erasedIn: { ACCOUNT: 1 } });
    expect((await table.rows(`SELECT id FROM people ORDER BY id`)).map((r) => r.id)).to.deep.equal([2]);
    await connector.close();
    await table.close();
  });
});

/** People found by email, and phone numbers found by phone, in a database whose national spelling is British. */
function spellingsConfig(): SqlConnectorConfig {
  const config = peopleConfig();
  config.defaultPhoneCountry = "GB";
  config.tables.push({ table: "phones", identityColumn: "phone", identityKind: "phone", category: "ACCOUNT", recordType: "phone", primaryKey: "id", exportColumns: ["phone", "label"], erase: { strategy: "DELETE" } });
  return config;
}

describeEachSqlDialect("SQL connector: identities stored as people type them", (db) => {
  it("finds, erases and counts in the roster her address stored with a space around it, and her number with dashes, dots, brackets or (0)", async () => {
    const table = await scratch(db(), ["DROP TABLE IF EXISTS phones", "CREATE TABLE people (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320), name VARCHAR(200))", "CREATE TABLE phones (id INTEGER NOT NULL PRIMARY KEY, phone VARCHAR(64), label VARCHAR(200))"]);
    await table.rows(`INSERT INTO people (id, email, name) VALUES (1, ' Ada.Lovelace@example.com', 'Ada, from a form'), (2, 'ada.lovelace@example.com ', 'Ada, from a CSV'), (3, 'grace.hopper@example.com', 'Grace')`);
    const hers = ["+44 (0)20 7946 0958", "(020) 7946-0958", "+44-20-7946-0958", "020.7946.0958", "+44 20 7946 0958"];
    for (const [i, phone] of [...hers, "+44 20 7946 0000"].entries()) await table.rows(`INSERT INTO phones (id, phone, label) VALUES (?, ?, ?)`, [i + 1, phone, `line ${i + 1}`]);
    const connector = createSqlConnector(spellingsConfig(), { url: db().url });
    const subject = { ...ADA, phone: "+442079460958" };
    const records = await collectAll(connector, subject);
    expect(records.filter((r) => r.type === "person").map((r) => r.id)).to.deep.equal(["1", "2"]);
    expect(records.filter((r) => r.type === "phone").map((r) => r.data.phone)).to.deep.equal(hers);
    const roster: unknown[] = [];
    for await (const entry of connector.listSubjects(testContext())) roster.push(entry);
    expect(roster).to.deep.include({ identities: { email: ADA.email }, records: 2 });
    expect(roster).to.deep.include({ identities: { phone: "+442079460958" }, records: hers.length });
    expect(await connector.erase(subject, { categories: ["ACCOUNT"] }, testContext())).to.deep.equal({ erased: 2 + hers.length, erasedIn: { ACCOUNT: 2 + hers.length } });
    // The database's own rows: Grace's and the other number's only.
    expect((await table.rows(`SELECT id FROM people ORDER BY id`)).map((r) => Number(r.id))).to.deep.equal([3]);
    expect((await table.rows(`SELECT phone FROM phones ORDER BY id`)).map((r) => r.phone)).to.deep.equal(["+44 20 7946 0000"]);
    await connector.close();
    await table.rows("DROP TABLE phones");
    await table.close();
  });

  it("finds and erases a person whose address holds accented capitals as typed (Éléonore, Åsa, Łukasz), in every mix of case", async () => {
    // PostgreSQL under the C collation folds ASCII letters only, as SQLite's NOCASE does.
    const collation = db().kind === "postgres" ? ' COLLATE "C"' : "";
    const table = await scratch(db(), [`CREATE TABLE people (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320)${collation}, name VARCHAR(200))`]);
    const stored = [
      [1, "Éléonore.Dupont@Example.fr", "Éléonore, as typed"],
      [2, "ÉLÉONORE.DUPONT@EXAMPLE.FR", "Éléonore, upper case"],
      [3, "éléonore.dupont@example.fr", "Éléonore, lower case"],
      [4, "Åsa.Öberg@example.se", "Åsa, as typed"],
      [5, "łukasz.Żak@example.pl", "Łukasz, as typed"],
      [6, "eleonore.dupont@example.fr", "Eleonore without accents: someone else"],
    ] as const;
    for (const row of stored) await table.rows(`INSERT INTO people (id, email, name) VALUES (?, ?, ?)`, [...row]);
    const connector = createSqlConnector(peopleConfig(), { url: db().url });
    const ids = async (email: string) => (await collectAll(connector, { email })).map((r) => Number(r.id)).sort((a, b) => a - b);
    expect(await ids("éléonore.dupont@example.fr"), "Éléonore").to.deep.equal([1, 2, 3]);
    expect(await ids("ÅSA.öberg@EXAMPLE.se"), "Åsa").to.deep.equal([4]);
    expect(await ids("Łukasz.Żak@example.pl"), "Łukasz").to.deep.equal([5]);
    expect(await connector.erase({ email: "Éléonore.Dupont@example.fr" }, { categories: ["ACCOUNT"] }, testContext())).to.deep.equal({ erased: 3, erasedIn: { ACCOUNT: 3 } });
    expect((await table.rows(`SELECT id FROM people ORDER BY id`)).map((r) => Number(r.id))).to.deep.equal([4, 5, 6]);
    await connector.close();
    await table.close();
  });

  it("says which kinds were not searched in every mix of case when an address has too many letters outside ASCII to spell them all (SQLite)", async function () {
    if (db().kind !== "sqlite") this.skip(); // MariaDB's _ci collations and PostgreSQL's lower() under this database's C.UTF-8 fold every letter.
    const table = await scratch(db(), ["CREATE TABLE people (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320), name VARCHAR(200))"]);
    // Seventeen Greek letters: 2^17 mixes of case. As typed (each word capitalised), in upper case, in lower
    // case; and in a mix nobody types, which goes unfound and is said so.
    await table.rows(`INSERT INTO people (id, email, name) VALUES (1, 'Ελένη.Παπαδοπούλου@example.gr', 'as typed'), (2, 'ΕΛΈΝΗ.ΠΑΠΑΔΟΠΟΎΛΟΥ@EXAMPLE.GR', 'upper case'), (3, 'ελένη.παπαδοπούλου@example.gr', 'lower case'), (4, 'ελΈνη.παπαδοπούλου@example.gr', 'a mix')`);
    const connector = createSqlConnector(peopleConfig(), { url: db().url });
    const notSearched: Array<{ category: string; type: string; reason: string }> = [];
    const found = await collectAll(connector, { email: "ελένη.παπαδοπούλου@example.gr" }, testContext({ notSearched: (set) => void notSearched.push(set) }));
    expect(found.map((r) => Number(r.id)).sort()).to.deep.equal([1, 2, 3]);
    expect(notSearched.map((n) => [n.category, n.type])).to.deep.equal([["ACCOUNT", "person"]]);
    expect(notSearched[0].reason).to.match(/^the address has more letters outside ASCII than every mix of their case can be asked for \(256 spellings\)/);
    expect(notSearched[0].reason).not.to.contain("παπαδοπούλου");
    // An ASCII-heavy address with a few accents is searched in every mix: nothing is reported.
    const quiet: unknown[] = [];
    await collectAll(connector, { email: "éléonore.dupont@example.fr" }, testContext({ notSearched: (set) => void quiet.push(set) }));
    expect(quiet).to.deep.equal([]);
    await connector.close();
    await table.close();
  });
});
