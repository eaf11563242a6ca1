import { expect } from "chai";
import { createSqlConnector, type SqlConnector, type SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { normalizeEmail } from "../../src/domain/identities";
import { describeEachOf, type TestDatabase } from "../support/databases";
import { sqlSuiteHooks } from "./support/accountDb";

const INCI_TYPED = "İnci.Yilmaz@example.com";
const PLAIN = "inci.yilmaz@example.com";
/** LOWER() makes the last Σ a σ: the generated value of Sokratis's row is the medial-sigma address. */
const SOKRATIS_TYPED = "ΣΩΚΡΑΤΗΣ@EXAMPLE.GR";
const MEDIAL = "σωκρατησ@example.gr";

function config(): SqlConnectorConfig {
  return {
    name: "people-db",
    version: "1.0.0",
    tables: [{ table: "rt_lowered", identityColumn: "email_ci", identityKind: "email", category: "ACCOUNT", recordType: "person", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
  };
}

/**
 * The documented remedy for a `utf8mb4_bin` email column: identityColumn on a generated LOWER() of it.
 * MariaDB's LOWER() makes the capital dotted `İ` a plain `i` (normalizeEmail: `i` and a combining dot),
 * so the generated value of İnci's row reads as another person's address: the plain `inci.yilmaz@`;
 * and a word's last `Σ` a `σ` (normalizeEmail: `ς`). Rows are confirmed by the column generated from.
 */
describeEachOf(["mariadb"], "SQL connector on a generated LOWER() email column", (db: () => TestDatabase) => {
  const { query } = sqlSuiteHooks(db, ["rt_lowered"]);
  let connector: SqlConnector;

  beforeEach(async () => {
    await query(`DROP TABLE IF EXISTS rt_lowered`);
    await query(
      `CREATE TABLE rt_lowered (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, email_ci VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin AS (LOWER(email)) PERSISTENT, bio VARCHAR(100), INDEX (email_ci))`,
    );
    await query(`INSERT INTO rt_lowered (id, email, bio) VALUES (1, ?, 'İnci'), (2, ?, 'plain inci'), (3, ?, 'Sokratis'), (4, ?, 'medial sigma')`, [INCI_TYPED, PLAIN, SOKRATIS_TYPED, MEDIAL]);
    connector = createSqlConnector(config(), { url: db().url });
  });
  afterEach(async () => {
    await connector.close();
  });

  const bios = async () => (await query(`SELECT bio FROM rt_lowered ORDER BY id`)).map((r) => r.bio);

  it("gives each person their own row, and erases it alone", async () => {
    expect((await collectAll(connector, { email: PLAIN })).map((r) => r.data.bio)).to.deep.equal(["plain inci"]);
    expect((await collectAll(connector, { email: normalizeEmail(INCI_TYPED) })).map((r) => r.data.bio)).to.deep.equal(["İnci"]);
    expect((await collectAll(connector, { email: MEDIAL })).map((r) => r.data.bio)).to.deep.equal(["medial sigma"]);
    expect((await collectAll(connector, { email: normalizeEmail(SOKRATIS_TYPED) })).map((r) => r.data.bio)).to.deep.equal(["Sokratis"]);
    await connector.erase({ email: PLAIN }, { categories: ["ACCOUNT"] }, testContext());
    await connector.erase({ email: MEDIAL }, { categories: ["ACCOUNT"] }, testContext());
    expect(await bios()).to.deep.equal(["İnci", "Sokratis"]);
    await connector.erase({ email: normalizeEmail(INCI_TYPED) }, { categories: ["ACCOUNT"] }, testContext());
    expect(await bios()).to.deep.equal(["Sokratis"]);
  });
});
