import { expect } from "chai";
import mysql from "mysql2/promise";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";

const PLACE = `mutation { placeLegalHold(input: { subjectEmail: "ada.lovelace@example.com", categories: ["PAYMENTS"], reason: "Chargeback dispute", caseReference: "CASE-3" }) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "Dispute settled") { id status } }`;
const HOLDS = `query { legalHolds { id status } }`;
/** better-sqlite3 (no type declarations here): another process's connection to the service's file. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database: new (file: string) => { prepare(sql: string): { run(): unknown }; close(): void } = require("better-sqlite3");

/**
 * A transaction the database keeps refusing (MariaDB: chosen as the deadlock victim on every retry;
 * SQLite: the file's write lock held by another process past the busy timeout) answers CONFLICT with
 * `retryable: true`, changes nothing, and the same operation goes through once the database is free.
 */
describeEachDatabase("a transaction the database keeps refusing", (db) => {
  let t: TestService;
  afterEach(() => t?.stop());

  it("answers CONFLICT (retryable), changes nothing, and goes through when sent again", async function () {
    this.timeout(120_000);
    t = await new TestService(db()).start();
    const hold = (await t.ok(PLACE)).placeLegalHold;
    let refusals = 0;
    let answer: Awaited<ReturnType<TestService["gql"]>>;
    if (db().kind === "sqlite") {
      // Another process holds the write lock (BEGIN IMMEDIATE) until the service has answered.
      const other = new Database(db().url.replace(/^sqlite:/, ""));
      other.prepare("BEGIN IMMEDIATE").run();
      try {
        answer = await t.gql(RELEASE, { id: hold.id });
      } finally {
        other.prepare("ROLLBACK").run();
        other.close();
      }
    } else {
      // Another session holds the installation's audit-stream head, which the release locks last, and
      // weighs more (an uncommitted insert): each time the release waits there, having updated the hold,
      // the session asks for the hold's row and closes a cycle whose victim is the release. The session
      // then starts over (holding the head again before the release's retry, which backs off 10 ms or more).
      const other = await mysql.createConnection({ uri: db().url });
      const trap = async () => {
        await other.query("BEGIN");
        await other.query("SELECT stream FROM audit_stream_heads WHERE stream = 'installation' FOR UPDATE");
        await other.query(`INSERT INTO ballast (id) VALUES ${Array.from({ length: 200 }, (_, i) => `(${i})`).join(",")}`);
      };
      try {
        await other.query("CREATE TABLE ballast (id INT PRIMARY KEY)");
        await trap();
        let settled = false;
        const pending = t.gql(RELEASE, { id: hold.id }).finally(() => (settled = true));
        while (!settled) {
          // The release waits for the head.
          const [[{ n }]] = (await other.query(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND INFO LIKE 'SELECT stream, seq, hash FROM audit_stream_heads%'",
          )) as any;
          if (Number(n) === 0) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            continue;
          }
          await other.query("SELECT id FROM legal_holds WHERE id = ? FOR UPDATE", [hold.id]);
          refusals += 1;
          await other.query("ROLLBACK");
          await trap();
        }
        answer = await pending;
        await other.query("ROLLBACK");
      } finally {
        await other.query("DROP TABLE IF EXISTS ballast").catch(() => undefined);
        await other.end();
      }
    }
    console.log(`      ${db().kind}: ${db().kind === "mariadb" ? `${refusals} deadlocks` : "file locked by another process"}; answered ${JSON.stringify(answer.errors?.[0]?.extensions ?? "ok")}`);
    expect(answer.errors?.[0]?.extensions, "a stable, retryable refusal").to.deep.include({ code: "CONFLICT", retryable: true });
    if (db().kind === "mariadb") expect(refusals, "the release was the deadlock victim on its first try and every retry").to.be.at.least(4);
    const holds = (await t.ok(HOLDS)).legalHolds;
    expect(holds.find((h: any) => h.id === hold.id).status, "nothing changed: the hold is still active").to.equal("ACTIVE");
    expect((await t.ok(RELEASE, { id: hold.id })).releaseLegalHold.status, "sent again, it goes through").to.equal("RELEASED");
  });
});
