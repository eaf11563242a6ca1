import { expect } from "chai";
import { createSqlConnector, type SqlConnector, type SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import { describeEachOf, type TestDatabase } from "../support/databases";
import { sqlSuiteHooks } from "./support/accountDb";

const JOSE = "jose@example.com";
const JOSE_ACCENT = "josé@example.com";
const STRASSE = "strasse@example.com";
const STRASSE_SHARP = "straße@example.com";

/** People found by email, with a bio a correction may write. */
function config(): SqlConnectorConfig {
  return {
    name: "people-db",
    version: "1.0.0",
    tables: [{ table: "rt_people", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "person", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
    rectifiable: { bio: { table: "rt_people", column: "bio" } },
  };
}

/** The email column's type and collation, per database: each one a collation that takes different addresses for one. */
const COLUMNS: Record<string, { setup: string[]; column: string }> = {
  // MariaDB's defaults: 'josé' = 'jose', 'ß' = 'ss' (unicode_ci), trailing spaces ignored (PAD SPACE).
  "mariadb unicode_ci": { setup: [], column: "VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" },
  "mariadb general_ci": { setup: [], column: "VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci" },
  // PostgreSQL: an ICU collation that ignores accents and case (nondeterministic).
  "postgres nondeterministic": {
    setup: [`CREATE COLLATION IF NOT EXISTS rt_ai_ci (provider = icu, locale = 'und-u-ks-level1', deterministic = false)`],
    column: `TEXT COLLATE rt_ai_ci`,
  },
};

/**
 * Jose and José are two people; so are Strasse and Straße. A collation that takes their addresses for
 * one (MariaDB's _ci ones, a nondeterministic ICU collation on PostgreSQL) must never make one of them
 * the other: not in collect, erase or a correction, nor in the roster's people and counts.
 */
for (const [name, spec] of Object.entries(COLUMNS)) {
  describeEachOf([name.startsWith("mariadb") ? "mariadb" : "postgres"], `SQL connector on a ${name} email column`, (db: () => TestDatabase) => {
    const suite = sqlSuiteHooks(db, ["rt_people"]);
    const { query } = suite;
    let connector: SqlConnector;

    beforeEach(async () => {
      for (const statement of spec.setup) await query(statement);
      await query(`DROP TABLE IF EXISTS rt_people`);
      await query(`CREATE TABLE rt_people (id INTEGER NOT NULL PRIMARY KEY, email ${spec.column} NOT NULL, bio VARCHAR(100))`);
      await query(
        `INSERT INTO rt_people (id, email, bio) VALUES (1, '${JOSE_ACCENT}', 'José 1'), (2, '${JOSE}', 'Jose 1'), (3, '${JOSE_ACCENT}', 'José 2'), (4, '${STRASSE}', 'Strasse'), (5, '${STRASSE_SHARP}', 'Straße'), (6, '${JOSE}', 'Jose 2'), (7, '${JOSE}', 'Jose 3')`,
      );
      connector = createSqlConnector(config(), { url: db().url, chunkSize: 2 });
    });
    afterEach(async () => {
      await connector.close();
    });

    const bios = async () => Object.fromEntries((await query(`SELECT id, bio FROM rt_people ORDER BY id`)).map((r) => [Number(r.id), r.bio]));

    it("lists each person once with their own count", async () => {
      const entries = (await listAll(connector)).map((e) => [e.identities.email, e.records ?? null]);
      expect(entries).to.have.deep.members([
        [JOSE_ACCENT, 2],
        [JOSE, 3],
        [STRASSE, 1],
        [STRASSE_SHARP, 1],
      ]);
      expect(entries).to.have.length(4);
    });

    it("collects, corrects and erases each person's rows only", async () => {
      expect((await collectAll(connector, { email: JOSE_ACCENT })).map((r) => r.data.bio).sort()).to.deep.equal(["José 1", "José 2"]);
      expect((await collectAll(connector, { email: STRASSE })).map((r) => r.data.bio)).to.deep.equal(["Strasse"]);
      const corrected = await connector.rectify({ email: JOSE }, [{ field: "bio", value: "corrected" }], testContext());
      expect(corrected.changed).to.deep.equal(["bio"]);
      expect(await bios()).to.deep.equal({ 1: "José 1", 2: "corrected", 3: "José 2", 4: "Strasse", 5: "Straße", 6: "corrected", 7: "corrected" });
      const erased = await connector.erase({ email: STRASSE_SHARP }, { categories: ["ACCOUNT"] }, testContext());
      expect(erased.erased).to.equal(1);
      const gone = await connector.erase({ email: JOSE_ACCENT }, { categories: ["ACCOUNT"] }, testContext());
      expect(gone.erased).to.equal(2);
      expect(Object.keys(await bios()).map(Number)).to.deep.equal([2, 4, 6, 7]);
    });
  });
}
