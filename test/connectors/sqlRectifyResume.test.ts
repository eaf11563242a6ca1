import { expect } from "chai";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { testContext } from "../../src/connectors/testing/testContext";
import { describeEachDatabase } from "../support/databases";
import { sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
const NEW = "ada@analytical.example";
const IDS = ["p-0", "p-1", "p-2", "p-3"];

/**
 * A correction of the address people are found by, over more than one page, whose attempt died after
 * its first unit's write. Written page by page, it left the first page's rows under the new address
 * and the rest under the old: the retry found the rest by the old address, took the first page's rows
 * (found by the new one, not by the old) for another person's, and refused, not retried, saying the
 * rectify "changed nothing", the request FAILED with the person split in two. Such a table's rows are
 * now written in one statement, in one unit: all moved or none.
 */
describeEachDatabase("a correction retried after its attempt died between units", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles", "profile_updates"]);
  let connector: SqlConnector | undefined;
  afterEach(async () => {
    await connector?.close();
  });

  it("moves all of the person's rows or none; the retry corrects them all and reports the address changed, another person's row left alone", async () => {
    const { query } = suite;
    await query(`DROP TABLE IF EXISTS profiles`);
    await query(`CREATE TABLE profiles (id VARCHAR(20) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, bio VARCHAR(200))`);
    await query(`INSERT INTO profiles (id, email, bio) VALUES ${IDS.map((id) => `('${id}', '${ADA}', 'bio')`).join(", ")}, ('grace-1', 'grace.hopper@example.com', 'Grace')`);
    connector = createSqlConnector(
      {
        name: "forum-db",
        version: "1.0.0",
        tables: [{ table: "profiles", identityColumn: "email", identityKind: "email", category: "COMMUNITY", recordType: "profile", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
        rectifiable: { email: { table: "profiles", column: "email" } },
      },
      { ...(db().kind === "sqlite" ? { dataSource: suite.ds() } : { url: db().url, timeoutMs: 10_000 }), chunkSize: 2 },
    );
    const rows = async () => (await query(`SELECT id, email FROM profiles ORDER BY id`)).map((r) => `${r.id}=${r.email}`);
    // Attempt 1: the process "dies" right after its first unit's write committed.
    const dying = testContext({
      eraseUnit: async (_category, work) => {
        await work();
        throw new Error("killed");
      },
    });
    await connector.rectify({ email: ADA }, [{ field: "email", value: NEW }], dying).then(
      () => expect.fail("the first attempt was to die"),
      (error: Error) => expect(error.message).to.equal("killed"),
    );
    // Never some of the person's rows under the new address and some under the old (it used to leave p-0 and p-1 moved, p-2 and p-3 not).
    const between = await rows();
    expect([["grace-1=grace.hopper@example.com", ...IDS.map((p) => `${p}=${ADA}`)], ["grace-1=grace.hopper@example.com", ...IDS.map((p) => `${p}=${NEW}`)]], "after the first attempt").to.deep.include(between);
    // Attempt 2, as the orchestrator retries it: same request, same identities.
    const outcome = await connector.rectify({ email: ADA }, [{ field: "email", value: NEW }], testContext({ attempt: 2 }));
    expect(await rows(), "after the retry").to.deep.equal(["grace-1=grace.hopper@example.com", ...IDS.map((p) => `${p}=${NEW}`)]);
    expect(outcome).to.deep.equal({ changed: ["email"], notHeld: [] });
  });

  it("resumes a correction of another column where the dead attempt stopped: each row written once", async () => {
    const { query } = suite;
    await query(`DROP TABLE IF EXISTS profiles`);
    await query(`DROP TABLE IF EXISTS profile_updates`);
    await query(`CREATE TABLE profiles (id VARCHAR(20) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, bio VARCHAR(200))`);
    await query(`CREATE TABLE profile_updates (id VARCHAR(20) NOT NULL)`);
    // The database's own record of every row an UPDATE wrote.
    await query(
      db().kind === "sqlite"
        ? `CREATE TRIGGER profiles_written AFTER UPDATE ON profiles BEGIN INSERT INTO profile_updates (id) VALUES (NEW.id); END`
        : `CREATE TRIGGER profiles_written AFTER UPDATE ON profiles FOR EACH ROW INSERT INTO profile_updates (id) VALUES (NEW.id)`,
    );
    await query(`INSERT INTO profiles (id, email, bio) VALUES ${IDS.map((id) => `('${id}', '${ADA}', 'bio')`).join(", ")}, ('grace-1', 'grace.hopper@example.com', 'Grace')`);
    connector = createSqlConnector(
      {
        name: "forum-db",
        version: "1.0.0",
        tables: [{ table: "profiles", identityColumn: "email", identityKind: "email", category: "COMMUNITY", recordType: "profile", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } }],
        rectifiable: { bio: { table: "profiles", column: "bio" } },
      },
      { ...(db().kind === "sqlite" ? { dataSource: suite.ds() } : { url: db().url, timeoutMs: 10_000 }), chunkSize: 2 },
    );
    const dying = testContext({
      eraseUnit: async (_category, work) => {
        await work();
        throw new Error("killed");
      },
    });
    await connector.rectify({ email: ADA }, [{ field: "bio", value: "corrected" }], dying).then(
      () => expect.fail("the first attempt was to die"),
      (error: Error) => expect(error.message).to.equal("killed"),
    );
    const outcome = await connector.rectify({ email: ADA }, [{ field: "bio", value: "corrected" }], testContext({ attempt: 2 }));
    expect((await query(`SELECT id, bio FROM profiles ORDER BY id`)).map((r) => `${r.id}=${r.bio}`)).to.deep.equal(["grace-1=Grace", ...IDS.map((p) => `${p}=corrected`)]);
    expect((await query(`SELECT id FROM profile_updates ORDER BY id`)).map((r) => r.id), "rows written, each once").to.deep.equal(IDS);
    expect(outcome).to.deep.equal({ changed: ["bio"], notHeld: [] });
  });
});
