import { expect } from "chai";
import { createSqlConnector, type SqlConnector } from "../../src/connectors/sql";
import { collectAll, eraseFully } from "../../src/connectors/testing/conformance";
import { describeEachOf } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { sqlSuiteHooks } from "./support/accountDb";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { step status attempts lastError } } }`;
const TYPED = "usr_a7";

/**
 * A request's user id that an INTEGER user-id column cannot hold (`usr_a7`, typed for a system whose
 * ids are numbers). MySQL and SQLite convert and find no row; PostgreSQL refused the statement (22P02)
 * and the deletion FAILED with "the database refused the collect (table rt_events) (22P02)", though no
 * row there can hold such an id. It is now held by no one there, as the SQL roster already counts it:
 * the deletion completes with nothing of that system erased, every event kept; a user id the column
 * can hold (7) still reaches exactly its rows.
 */
describeEachOf(["postgres"], "SQL connector on PostgreSQL: a user id its INTEGER column cannot hold", (db) => {
  const suite = sqlSuiteHooks(db, ["rt_events", "rt_typed_sessions", "rt_typed_users"]);
  const { query } = suite;
  let connector: SqlConnector;
  let t: TestService | undefined;

  before(async () => {
    await query(`DROP TABLE IF EXISTS rt_events`);
    await query(`CREATE TABLE rt_events (id INTEGER NOT NULL PRIMARY KEY, user_id INTEGER NOT NULL, what VARCHAR(40))`);
    await query(`INSERT INTO rt_events (id, user_id, what) VALUES (1, 7, 'signed in'), (2, 7, 'signed out'), (3, 8, 'signed in')`);
    connector = createSqlConnector(
      { name: "events-db", version: "1.0.0", tables: [{ table: "rt_events", identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", recordType: "event", primaryKey: "id", exportColumns: ["what"], erase: { strategy: "DELETE" } }] },
      { url: db().url },
    );
    t = await new TestService(suite.serviceDb(), { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "10" }, [connector]).start();
  });
  after(async () => {
    await t?.stop();
    await connector?.close();
  });

  it("completes a deletion by usr_a7 with nothing erased there, and one by 7 erases exactly 7's events", async function () {
    this.timeout(60_000);
    const typed = await runVerified(t!, SHOW, "DELETION", { email: "ada@example.com", userId: TYPED });
    // Before: FAILED, its task's lastError "events-db: the database refused the collect (table rt_events) (22P02); ...".
    expect(typed.status, JSON.stringify(typed.tasks)).to.equal("COMPLETED");
    expect(JSON.stringify(typed.tasks)).not.to.contain("22P02");
    // The system's own data: every event kept.
    expect((await query(`SELECT id FROM rt_events ORDER BY id`)).map((row) => Number(row.id))).to.deep.equal([1, 2, 3]);
    const seven = await runVerified(t!, SHOW, "DELETION", { email: "grace@example.com", userId: "7" });
    expect(seven.status, JSON.stringify(seven.tasks)).to.equal("COMPLETED");
    expect((await query(`SELECT id FROM rt_events ORDER BY id`)).map((row) => Number(row.id))).to.deep.equal([3]);
  });

  it("erases by the user ids a person's rows provide (7 and 7abc, a text users.id): 7's sessions, once 7abc is read as nobody's there", async () => {
    for (const table of ["rt_typed_sessions", "rt_typed_users"]) await query(`DROP TABLE IF EXISTS ${table}`);
    await query(`CREATE TABLE rt_typed_users (id VARCHAR(40) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL)`);
    await query(`CREATE TABLE rt_typed_sessions (id INTEGER NOT NULL PRIMARY KEY, user_id INTEGER NOT NULL, ip VARCHAR(40))`);
    await query(`INSERT INTO rt_typed_users (id, email) VALUES ('7', 'ada@example.com'), ('7abc', 'ada@example.com'), ('8', 'grace@example.com')`);
    await query(`INSERT INTO rt_typed_sessions (id, user_id, ip) VALUES (1, 7, 'ada 1'), (2, 7, 'ada 2'), (3, 8, 'grace')`);
    const app = createSqlConnector(
      {
        name: "app-db",
        version: "1.0.0",
        tables: [
          { table: "rt_typed_users", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "user", primaryKey: "id", exportColumns: ["email"], erase: { strategy: "DELETE" } },
          { table: "rt_typed_sessions", identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", recordType: "session", primaryKey: "id", exportColumns: ["ip"], erase: { strategy: "DELETE" } },
        ],
        provides: [{ kind: "userId", table: "rt_typed_users", column: "id" }],
      },
      { url: db().url },
    );
    try {
      const ada = { email: "ada@example.com" };
      expect((await collectAll(app, ada)).map((r) => String(r.data.ip ?? r.data.email)).sort()).to.deep.equal(["ada 1", "ada 2", "ada@example.com", "ada@example.com"]);
      // Before: the DELETE guarded by user_id IN (7, '7abc') was refused (22P02), and 7's sessions stayed.
      expect(await eraseFully(app, ada, { categories: ["ACCOUNT"] })).to.equal(4);
      expect((await query(`SELECT id FROM rt_typed_sessions ORDER BY id`)).map((row) => Number(row.id))).to.deep.equal([3]);
      expect((await query(`SELECT id FROM rt_typed_users ORDER BY id`)).map((row) => String(row.id))).to.deep.equal(["8"]);
    } finally {
      await app.close();
    }
  });
});
