import { expect } from "chai";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { Role } from "../../src/domain/enums";
import { describeEachSqlDialect } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { forumProfiles, sqlSuiteHooks } from "./support/accountDb";

const ADA = "ada.lovelace@example.com";
/** The default lease (30 s): the SQL connector beats once per 500 rows it erases one guarded statement at a time, which outlasted 15 s on SQLite on a loaded machine. */
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10" };
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { step status attempts lastError outcome { erased kept residual } }
  retentionExceptions { category recordType recordCount status }
  residualRecords { connector category recordType records reason }
  auditEvents { action details } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;

/** 5,000 profiles of Ada, each keyed by an address of hers (an id that is personal data), none dated. */
const KEPT = 5000;
const profileId = (i: number) => `ada+${String(i).padStart(5, "0")}@lovelace.example`;

/**
 * A deletion that kept many records without a date. Their ids used to go in the ERASE task's result, as
 * plain JSON capped at 16,000 characters: past the cap the purge left the rest, named residual (of these
 * 5,000 it erased 551 and left 4,449 in the system after their purpose had ended), and the 551 ids it
 * stored, addresses here, sat unencrypted in the service's database. Now they are stored encrypted
 * in their own table, uncapped, read back page by page by the purge and removed when it closes the
 * exception. Checked against the account database's own rows and the service database's table.
 */
describeEachSqlDialect("a purge of many kept records without a date", (db) => {
  const suite = sqlSuiteHooks(db, ["profiles", "badges"]);
  const { query } = suite;
  let connector: SqlConnector;
  let t: TestService | undefined;

  beforeEach(async () => {
    connector = await forumProfiles(db(), query, Array.from({ length: KEPT }, (_, i) => profileId(i)), { idLength: 80 });
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await connector.close();
  });

  it("erases by id every profile it kept, leaves the profile she made since, and keeps the ids encrypted until the purge ends", async function () {
    this.timeout(300_000);
    t = await new TestService(suite.serviceDb(), FAST, [connector]).start();
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["COMMUNITY"], reason: "litigation", caseReference: "K-9" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.retentionExceptions.map((e: any) => [e.category, e.recordCount])).to.deep.equal([["COMMUNITY", KEPT]]);

    // The service's own database: every kept id is stored, none of them readable, in the table or the task rows.
    const stored = await t.ds.query(`SELECT connector, category, recordType, records, payload, wrappedKey FROM kept_undated_ids WHERE requestId = ?`, [deletion.id]);
    expect(stored.reduce((n: number, r: any) => n + Number(r.records), 0), "ids stored").to.equal(KEPT);
    expect([...new Set(stored.map((r: any) => [r.connector, r.category, r.recordType].join("/")))]).to.deep.equal(["forum-db/COMMUNITY/profile"]);
    const plain = (s: string) => s.includes("lovelace.example") || s.includes(profileId(0));
    expect(stored.filter((r: any) => plain(Buffer.from(r.payload).toString("latin1"))), "payloads holding an id in the clear").to.have.length(0);
    const results = (await t.ds.query(`SELECT result FROM tasks WHERE requestId = ?`, [deletion.id])).map((r: any) => String(r.result));
    expect(results.filter(plain), "task results holding an id").to.have.length(0);

    // She makes a new profile under the same address; then the hold is released.
    await query(`INSERT INTO profiles (id, email, bio) VALUES ('ada-new', ?, 'Ada again')`, [ADA]);
    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const after = await t.purgeEnded(SHOW, deletion.id, 240_000);
    const purge = after.tasks.find((y: any) => y.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);

    // The account database itself: every kept profile is gone; her new profile stays, as does Grace's.
    const left = (await query(`SELECT id FROM profiles ORDER BY id`)).map((r) => String(r.id));
    expect(left).to.deep.equal(["ada-new", "grace-1"]);
    // Counted as they are: all erased, nothing residual, nothing of hers since.
    expect(purge.outcome.erased).to.equal(KEPT);
    expect(purge.outcome.residual ?? 0).to.equal(0);
    expect(after.residualRecords).to.deep.equal([]);
    expect(after.auditEvents.filter((e: any) => e.action === "purge.undated_beyond_ids")).to.deep.equal([]);
    expect(after.retentionExceptions.map((e: any) => [e.category, e.recordCount, e.status])).to.deep.equal([["COMMUNITY", KEPT, "CLOSED"]]);
    // Their purpose ended with the exception: no id is left in the service's database.
    expect(await t.ds.query(`SELECT id FROM kept_undated_ids`)).to.deep.equal([]);
  });

  it("keeps the ids of a category a hold still keeps when the purge of another ends, and removes them with their own exception", async function () {
    this.timeout(240_000);
    await query(`DELETE FROM profiles WHERE id > ? AND id LIKE 'ada+%'`, [profileId(2)]);
    await query(`DROP TABLE IF EXISTS badges`);
    await query(`CREATE TABLE badges (id VARCHAR(80) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL)`);
    await query(`INSERT INTO badges (id, email) VALUES ('badge-1', ?), ('badge-2', ?)`, [ADA, ADA]);
    const both = createSqlConnector(
      {
        name: "forum-db",
        version: "1.0.0",
        tables: [
          { table: "profiles", identityColumn: "email", identityKind: "email", category: "COMMUNITY", recordType: "profile", primaryKey: "id", exportColumns: ["email", "bio"], erase: { strategy: "DELETE" } },
          { table: "badges", identityColumn: "email", identityKind: "email", category: "SUPPORT", recordType: "badge", primaryKey: "id", exportColumns: ["email"], erase: { strategy: "DELETE" } },
        ],
      },
      { url: db().url, timeoutMs: 10_000 },
    );
    try {
      t = await new TestService(suite.serviceDb(), FAST, [both]).start();
      const hold = async (category: string): Promise<string> =>
        (await t!.ok(PLACE, { input: { subjectEmail: ADA, categories: [category], reason: "litigation", caseReference: `K-${category}` } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
      const community = await hold("COMMUNITY");
      const support = await hold("SUPPORT");
      const deletion = await runVerified(t, SHOW, "DELETION", ADA);
      expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
      const stored = async () =>
        (await t!.ds.query(`SELECT category, records FROM kept_undated_ids WHERE requestId = ?`, [deletion.id])).reduce((m: Record<string, number>, r: any) => ({ ...m, [r.category]: (m[r.category] ?? 0) + Number(r.records) }), {});
      expect(await stored()).to.deep.equal({ COMMUNITY: 3, SUPPORT: 2 });

      const purged = (closed: number) =>
        t!.waitFor(
          async () => {
            const x = (await t!.ok(SHOW, { id: deletion.id })).request;
            const done = x.retentionExceptions.filter((e: any) => e.status === "CLOSED").length >= closed && x.tasks.some((y: any) => y.step === "PURGE" && y.status === "SUCCEEDED");
            return done ? x : undefined;
          },
          `${closed} exception(s) closed`,
          120_000,
        );
      await t.ok(RELEASE, { id: support }, Role.PRIVACY_OFFICER);
      await purged(1);
      expect((await query(`SELECT id FROM badges`)).length, "badges left").to.equal(0);
      expect((await query(`SELECT id FROM profiles WHERE id LIKE 'ada+%'`)).length, "held profiles left").to.equal(3);
      // The SUPPORT ids' purpose ended with their exception; the COMMUNITY ones wait for theirs.
      expect(await stored()).to.deep.equal({ COMMUNITY: 3 });

      await t.ok(RELEASE, { id: community }, Role.PRIVACY_OFFICER);
      await purged(2);
      expect((await query(`SELECT id FROM profiles WHERE id LIKE 'ada+%'`)).length, "held profiles left").to.equal(0);
      expect(await t.ds.query(`SELECT id FROM kept_undated_ids`)).to.deep.equal([]);
    } finally {
      await t?.stop();
      t = undefined;
      await both.close();
    }
  });
});
