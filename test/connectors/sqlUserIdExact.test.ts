import { expect } from "chai";
import { createSqlConnector, type SqlConnector, type SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import { describeEachSqlDialect } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { step status lastError outcome { erased } } } }`;

/** Users found by email, each providing its id (as text) as userId; sessions found by that user id. */
function config(): SqlConnectorConfig {
  return {
    name: "app-db",
    version: "1.0.0",
    tables: [
      { table: "rt_users", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "user", primaryKey: "id", exportColumns: ["email"], erase: { strategy: "DELETE" } },
      { table: "rt_sessions", identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", recordType: "session", primaryKey: "id", exportColumns: ["ip"], erase: { strategy: "DELETE" } },
    ],
    provides: [{ kind: "userId", table: "rt_users", column: "id" }],
  };
}

/** Another system of the installation, found by user id only: it is given the id the app database resolves. */
function eventsConfig(): SqlConnectorConfig {
  return {
    name: "events-db",
    version: "1.0.0",
    tables: [{ table: "rt_events", identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", recordType: "event", primaryKey: "id", exportColumns: ["what"], erase: { strategy: "DELETE" } }],
  };
}

/**
 * A user id is a system's key, compared exactly (DESIGN: identities in one form; user ids are
 * case-sensitive and carried as the system holds them). Ada's account is `usr_b ` (a trailing space an
 * import left); Grace's is `usr_a`; two sessions of `usr_a ` belong to an account whose users row is gone.
 * The connector used to trim ids it read: Ada's sessions were looked up as `usr_b` (found by none on
 * SQLite and PostgreSQL: her deletion left them, her export missed them), the orphan's `usr_a ` was
 * listed as Grace's `usr_a` (left off the roster), and on MariaDB, whose PAD SPACE collation finds
 * `usr_a ` by `usr_a`, the orphan's sessions were confirmed as Grace's: exported and erased with hers.
 * And the id resolved for Ada was handed to the events system trimmed: it erased the events of account
 * `usr_b` (someone else's) and left Ada's.
 */
describeEachSqlDialect("SQL connector: user ids carried exactly as stored", (db) => {
  const suite = sqlSuiteHooks(db, ["rt_sessions", "rt_users", "rt_events"]);
  const { query } = suite;
  let connector: SqlConnector;
  let events: SqlConnector;
  let t: TestService | undefined;

  beforeEach(async () => {
    await query(`DROP TABLE IF EXISTS rt_sessions`);
    await query(`DROP TABLE IF EXISTS rt_users`);
    await query(`DROP TABLE IF EXISTS rt_events`);
    await query(`CREATE TABLE rt_events (id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(40) NOT NULL, what VARCHAR(40))`);
    // Event 12 is of account `usr_b`, which this installation's app database does not hold (a deleted account's, kept).
    await query(`INSERT INTO rt_events (id, user_id, what) VALUES (11, 'usr_b ', 'ada signed in'), (12, 'usr_b', 'someone else signed in')`);
    await query(`CREATE TABLE rt_users (id VARCHAR(40) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL)`);
    await query(`CREATE TABLE rt_sessions (id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(40) NOT NULL, ip VARCHAR(40))`);
    await query(`INSERT INTO rt_users (id, email) VALUES ('usr_b ', '${ADA}'), ('usr_a', '${GRACE}')`);
    await query(`INSERT INTO rt_sessions (id, user_id, ip) VALUES (1, 'usr_b ', 'ada 1'), (2, 'usr_b ', 'ada 2'), (3, 'usr_a', 'grace'), (4, 'usr_a ', 'orphan 1'), (5, 'usr_a ', 'orphan 2')`);
    connector = createSqlConnector(config(), { url: db().url, chunkSize: 2 });
    events = createSqlConnector(eventsConfig(), { url: db().url });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
    await events.close();
  });

  const sessionsLeft = async () => (await query(`SELECT id FROM rt_sessions ORDER BY id`)).map((r) => Number(r.id));

  it("collects each person's own sessions, and lists the orphan under its own id with its own count", async () => {
    const ips = async (email: string) => (await collectAll(connector, { email })).map((r) => String(r.data.ip ?? r.data.email)).sort();
    // Before: Ada [ada's address only] on SQLite and PostgreSQL; Grace also "orphan 1", "orphan 2" on MariaDB.
    expect(await ips(ADA)).to.deep.equal(["ada 1", "ada 2", ADA]);
    expect(await ips(GRACE)).to.deep.equal(["grace", GRACE]);
    const entries = (await listAll(connector)).map((e) => [e.identities.email ?? null, e.identities.userId ?? null, e.records ?? null]);
    // Before: the orphan missing, and Ada listed with `usr_b` and a count of 1.
    expect(entries).to.have.deep.members([
      [ADA, "usr_b ", 3],
      [GRACE, "usr_a", 2],
      [null, "usr_a ", 2],
    ]);
    expect(entries).to.have.length(3);
  });

  it("a deletion (through GraphQL) erases the person's sessions and no one else's", async function () {
    this.timeout(60_000);
    t = await new TestService(suite.serviceDb(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10" }, [connector, events]).start();
    const ada = await runVerified(t, SHOW, "DELETION", ADA);
    expect(ada.status, ada.statusReason).to.equal("COMPLETED");
    // The database itself. Before: [1, 2, 3, 4, 5] on SQLite and PostgreSQL (her sessions kept, the deletion COMPLETED).
    expect(await sessionsLeft()).to.deep.equal([3, 4, 5]);
    // Before (every database): [11] (the other account's event erased, Ada's kept); on MariaDB [] (both, PAD SPACE).
    expect((await query(`SELECT id FROM rt_events ORDER BY id`)).map((r) => Number(r.id))).to.deep.equal([12]);
    const grace = await runVerified(t, SHOW, "DELETION", GRACE);
    expect(grace.status, grace.statusReason).to.equal("COMPLETED");
    // Before, on MariaDB: [] (the orphan's sessions erased as Grace's).
    expect(await sessionsLeft()).to.deep.equal([4, 5]);
    expect((await query(`SELECT id FROM rt_users`)).length).to.equal(0);
  });

  // On PostgreSQL the roster asked rt_users.id (INTEGER) whether it holds '7abc' and was refused (22P02): the whole listing failed.
  it("a numeric user id reaches only the text ids that are its digits exactly (MySQL compares '7abc' = 7 as true)", async () => {
    await query(`DROP TABLE IF EXISTS rt_sessions`);
    await query(`DROP TABLE IF EXISTS rt_users`);
    await query(`CREATE TABLE rt_users (id INTEGER NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL)`);
    await query(`CREATE TABLE rt_sessions (id INTEGER NOT NULL PRIMARY KEY, user_id VARCHAR(40) NOT NULL, ip VARCHAR(40))`);
    await query(`INSERT INTO rt_users (id, email) VALUES (7, '${ADA}')`);
    await query(`INSERT INTO rt_sessions (id, user_id, ip) VALUES (1, '7', 'ada'), (2, '07', 'other 07'), (3, '7abc', 'other 7abc'), (4, ' 7', 'other space'), (5, '7.0', 'other 7.0')`);
    expect((await collectAll(connector, { email: ADA })).map((r) => String(r.data.ip ?? r.data.email)).sort()).to.deep.equal(["ada", ADA]);
    const entries = (await listAll(connector)).map((e) => [e.identities.email ?? null, e.identities.userId ?? null, e.records ?? null]);
    expect(entries).to.have.deep.members([
      [ADA, "7", 2],
      [null, "07", 1],
      [null, "7abc", 1],
      [null, " 7", 1],
      [null, "7.0", 1],
    ]);
    expect(entries).to.have.length(5);
    const done = await connector.erase({ email: ADA }, { categories: ["ACCOUNT"] }, testContext());
    expect(done.erased).to.equal(2);
    expect(await sessionsLeft()).to.deep.equal([2, 3, 4, 5]);
  });
});
