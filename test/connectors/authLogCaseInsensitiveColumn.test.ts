import { expect } from "chai";
import { createAuthLogConnector } from "../../src/connectors/authLog";
import { FIELD_COLUMNS, KEY_COLUMN, USER_COLUMN } from "../../src/connectors/authLog/sqlStore";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import { insertAuthEvents } from "../../src/sample/authLog";
import { describeEachDatabase, describeEachOf } from "../support/databases";
import { ADA, ADA_EVENTS, openTestDataSource } from "./support/authLogFixtures";

/**
 * A platform's own auth-log table whose user_id column compares without case: SQLite's COLLATE NOCASE,
 * MariaDB's utf8mb4_unicode_ci (the store's default table is exact on SQLite, so only a table created
 * otherwise shows it). User ids are compared exactly (the platform's ids are case-sensitive): the
 * store must not take USR_A's events for usr_a's on either database.
 */
describeEachDatabase("auth-log table whose user_id column ignores case", (db) => {
  it("collects, erases, counts as kept and lists only the user whose id is exactly the subject's", async () => {
    const ds = await openTestDataSource(db());
    const mysql = db().kind !== "sqlite";
    const table = `auth_nocase_${process.pid}`;
    const userType = mysql ? "VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" : "TEXT COLLATE NOCASE";
    const fieldType = mysql ? "VARCHAR(64)" : "TEXT";
    const keyType = mysql ? "VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin" : "TEXT";
    const fields = Object.values(FIELD_COLUMNS).map((c) => `${c} ${fieldType} NOT NULL`);
    await ds.query(`CREATE TABLE ${table} (${USER_COLUMN} ${userType} NOT NULL, ${KEY_COLUMN} ${keyType} NOT NULL, ${fields.join(", ")}, PRIMARY KEY (${USER_COLUMN}, ${KEY_COLUMN}))`);
    const own = ADA_EVENTS.slice(0, 40);
    const other = ADA.userId!.toUpperCase();
    expect(other).to.not.equal(ADA.userId);
    const others = own.slice(0, 10).map((e) => ({ ...e, userId: other, key: `${e.key}~`, eventId: `${e.eventId}-other` }));
    await insertAuthEvents(ds, [...own, ...others], { table });
    const connector = createAuthLogConnector({ store: "sql", url: db().url, table, pageSize: 7 });
    const remaining = async () => ((await ds.query(`SELECT ${USER_COLUMN} AS u FROM ${table}`)) as { u: string }[]).map((r) => r.u);
    try {
      expect((await collectAll(connector, ADA)).map((r) => r.id), "Ada's collect").to.deep.equal(own.map((e) => e.key));
      const roster = await listAll(connector);
      expect(roster.filter((e) => [ADA.userId, other].includes(e.identities.userId)), "the roster").to.have.deep.members([
        { identities: { userId: ADA.userId }, records: own.length },
        { identities: { userId: other }, records: others.length },
      ]);
      const bound = new Date(own[30].recordedAt);
      const kept = await connector.erase(ADA, { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: bound } }, testContext());
      expect(kept.erased, "erased with retention").to.equal(30);
      expect(kept.kept?.reduce((n, k) => n + k.count, 0), "kept").to.equal(10);
      const purge = await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, testContext());
      expect(purge.erased, "purged").to.equal(10);
      expect((await remaining()).sort(), "rows left: the other user's, all of them").to.deep.equal(others.map((e) => e.userId).sort());
    } finally {
      await connector.close();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    }
  });
});

/**
 * A platform's own auth-log table on MariaDB whose user_id column is latin1 (MariaDB's default
 * character set before 11.6, so a table created without one has it). The byte comparison that keeps
 * user ids exact must compare characters, not the column's bytes with the connection's: `usr_josé` is
 * E9 in latin1 and C3 A9 in utf8mb4, and byte for byte she was nobody (collect 0, erase 0, listed by
 * the roster with events no request could reach).
 */
describeEachOf(["mariadb"], "auth-log table whose user_id column is latin1", (db) => {
  it("collects, erases, counts as kept and lists the user whose id has a letter outside ASCII, and no one else", async () => {
    const ds = await openTestDataSource(db());
    const table = `auth_latin1_${process.pid}`;
    const fields = Object.values(FIELD_COLUMNS).map((c) => `${c} VARCHAR(64) NOT NULL`);
    await ds.query(
      `CREATE TABLE ${table} (${USER_COLUMN} VARCHAR(64) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL, ${KEY_COLUMN} VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, ${fields.join(", ")}, PRIMARY KEY (${USER_COLUMN}, ${KEY_COLUMN}))`,
    );
    const jose = "usr_josé";
    // A user whose id the column's collation takes for hers (é = e in latin1_swedish_ci): not hers.
    const other = "usr_jose";
    const own = ADA_EVENTS.slice(0, 40).map((e) => ({ ...e, userId: jose }));
    const others = ADA_EVENTS.slice(0, 10).map((e) => ({ ...e, userId: other, key: `${e.key}~`, eventId: `${e.eventId}-other` }));
    await insertAuthEvents(ds, [...own, ...others], { table });
    const rows = async (userId: string) => Number((await ds.query(`SELECT COUNT(*) AS n FROM ${table} WHERE CAST(CONVERT(${USER_COLUMN} USING utf8mb4) AS BINARY) = CAST(? AS BINARY)`, [userId]))[0].n);
    expect([await rows(jose), await rows(other)], "rows as stored").to.deep.equal([own.length, others.length]);
    const connector = createAuthLogConnector({ store: "sql", url: db().url, table, pageSize: 7 });
    const subject = { email: "jose@example.com", userId: jose };
    try {
      expect((await collectAll(connector, subject)).map((r) => r.id), "José's collect").to.deep.equal(own.map((e) => e.key));
      const roster = await listAll(connector);
      expect(roster.filter((e) => [jose, other].includes(e.identities.userId!)), "the roster").to.have.deep.members([
        { identities: { userId: jose }, records: own.length },
        { identities: { userId: other }, records: others.length },
      ]);
      const bound = new Date(own[30].recordedAt);
      const kept = await connector.erase(subject, { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: bound } }, testContext());
      expect(kept.erased, "erased with retention").to.equal(30);
      expect(kept.kept?.reduce((n, k) => n + k.count, 0), "kept").to.equal(10);
      expect(await rows(jose), "José's rows after the erasure").to.equal(10);
      const purge = await connector.erase(subject, { categories: ["AUTH_LOGS"] }, testContext());
      expect(purge.erased, "purged").to.equal(10);
      expect([await rows(jose), await rows(other)], "rows left: the other user's, all of them").to.deep.equal([0, others.length]);
    } finally {
      await connector.close();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    }
  });
});
