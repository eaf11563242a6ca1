import { expect } from "chai";
import { createSqlConnector, type SqlConnector, type SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import { normalizeEmail } from "../../src/domain/identities";
import { describeEachSqlDialect, type TestDatabase } from "../support/databases";
import { sqlSuiteHooks } from "./support/accountDb";

/**
 * Letters whose other case is not one letter of its own: the Turkish capital dotted `İ` lower-cases to
 * `i` and a combining dot (two characters), so the matching form of `İnci@` is `i̇nci@`, and no upper
 * case of that is the `İ` a system stored as the person typed it. A system that stores `İnci.Yilmaz@`
 * as typed (Turkish keyboards put `İ` on the capital key) must still give her that row, and the person
 * whose address has a plain `inci.yilmaz@` is someone else. Likewise `ß`, stored in capitals as `ẞ`, and
 * a Greek address stored in capitals, whose last `Σ` PostgreSQL lower-cases to `σ`.
 */
const INCI_TYPED = "İnci.Yilmaz@example.com";
const INCI = normalizeEmail(INCI_TYPED);
const PLAIN = "inci.yilmaz@example.com";
/** `ß` upper-cases to `SS` in JavaScript; a system keeping the letter stores the capital `ẞ`. */
const GRETE = "grete.straße@example.com";
const GRETE_CAPITALS = "GRETE.STRAẞE@EXAMPLE.COM";
const STRASSE = "grete.strasse@example.com";
/** JavaScript lower-cases a word's last `Σ` to `ς`; PostgreSQL's lower() under a libc collation to `σ`. */
const SOKRATIS_TYPED = "ΣΩΚΡΑΤΗΣ@example.gr";
const SOKRATIS = normalizeEmail(SOKRATIS_TYPED);
/** Another address: a medial sigma at the end, which normalizeEmail keeps. */
const MEDIAL = "σωκρατησ@example.gr";

function config(): SqlConnectorConfig {
  return {
    name: "people-db",
    version: "1.0.0",
    tables: [{ table: "rt_casing", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "person", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
    rectifiable: { email: { table: "rt_casing", column: "email" } },
  };
}

describeEachSqlDialect("SQL connector, an address with İ, ß or a final ς stored as typed or in capitals", (db: () => TestDatabase) => {
  const { query } = sqlSuiteHooks(db, ["rt_casing"]);
  let connector: SqlConnector;

  beforeEach(async () => {
    await query(`DROP TABLE IF EXISTS rt_casing`);
    await query(`CREATE TABLE rt_casing (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, bio VARCHAR(100))`);
    await query(`INSERT INTO rt_casing (id, email, bio) VALUES (1, ?, 'İnci'), (2, ?, 'plain inci'), (3, ?, 'İnci again'), (4, ?, 'Grete'), (5, ?, 'Grete again'), (6, ?, 'Strasse')`, [
      INCI_TYPED,
      PLAIN,
      INCI_TYPED.toUpperCase(),
      GRETE,
      GRETE_CAPITALS,
      STRASSE,
    ]);
    await query(`INSERT INTO rt_casing (id, email, bio) VALUES (8, ?, 'Sokratis'), (9, ?, 'Sokratis again'), (10, ?, 'medial sigma')`, [SOKRATIS_TYPED.toUpperCase(), "Σωκρατης@example.gr", MEDIAL]);
    connector = createSqlConnector(config(), { url: db().url, chunkSize: 2 });
  });
  afterEach(async () => {
    await connector.close();
  });

  const bios = async () => (await query(`SELECT bio FROM rt_casing ORDER BY id`)).map((r) => r.bio);

  it("collects and erases her rows (as typed and in capitals), and only hers", async () => {
    expect(INCI).to.not.equal(PLAIN);
    expect((await collectAll(connector, { email: INCI })).map((r) => r.data.bio).sort()).to.deep.equal(["İnci", "İnci again"]);
    const erased = await connector.erase({ email: INCI }, { categories: ["ACCOUNT"] }, testContext());
    expect(erased.erased).to.equal(2);
    expect(await bios()).to.deep.equal(["plain inci", "Grete", "Grete again", "Strasse", "Sokratis", "Sokratis again", "medial sigma"]);
  });

  it("collects and erases the rows of an address with ß, also those stored in capitals with ẞ, and not the SS address's", async () => {
    expect((await collectAll(connector, { email: GRETE })).map((r) => r.data.bio).sort()).to.deep.equal(["Grete", "Grete again"]);
    const erased = await connector.erase({ email: GRETE }, { categories: ["ACCOUNT"] }, testContext());
    expect(erased.erased).to.equal(2);
    expect(await bios()).to.deep.equal(["İnci", "plain inci", "İnci again", "Strasse", "Sokratis", "Sokratis again", "medial sigma"]);
    expect((await collectAll(connector, { email: STRASSE })).map((r) => r.data.bio)).to.deep.equal(["Strasse"]);
  });

  it("collects and erases a Greek address's rows stored in capitals or capitalised, and not the medial-sigma address's", async () => {
    expect(SOKRATIS).to.equal("σωκρατης@example.gr");
    expect((await collectAll(connector, { email: SOKRATIS })).map((r) => r.data.bio).sort()).to.deep.equal(["Sokratis", "Sokratis again"]);
    const erased = await connector.erase({ email: SOKRATIS }, { categories: ["ACCOUNT"] }, testContext());
    expect(erased.erased).to.equal(2);
    expect((await collectAll(connector, { email: MEDIAL })).map((r) => r.data.bio)).to.deep.equal(["medial sigma"]);
    expect(await bios()).to.have.length(7);
  });

  it("corrects someone's address to one with İ while the plain-i address is another person's, and that one stays hers", async () => {
    await query(`DELETE FROM rt_casing WHERE id IN (1, 3)`);
    await query(`INSERT INTO rt_casing (id, email, bio) VALUES (7, 'ada@example.com', 'Ada')`);
    const corrected = await connector.rectify({ email: "ada@example.com" }, [{ field: "email", value: INCI_TYPED }], testContext());
    expect(corrected.changed).to.deep.equal(["email"]);
    expect((await query(`SELECT email FROM rt_casing WHERE id = 7`))[0].email).to.equal(INCI_TYPED);
    expect((await collectAll(connector, { email: PLAIN })).map((r) => r.data.bio)).to.deep.equal(["plain inci"]);
  });

  it("lists each person once with their own count", async () => {
    const entries = (await listAll(connector)).map((e) => [e.identities.email, e.records ?? null]);
    expect(entries).to.have.deep.members([
      [INCI, 2],
      [PLAIN, 1],
      [GRETE, 2],
      [STRASSE, 1],
      [SOKRATIS, 2],
      [MEDIAL, 1],
    ]);
    expect(entries).to.have.length(6);
  });

  it("gives the person with the plain address only her own row", async () => {
    expect((await collectAll(connector, { email: PLAIN })).map((r) => r.data.bio)).to.deep.equal(["plain inci"]);
  });
});
