import { expect } from "chai";
import { createAuthLogConnector } from "../../src/connectors/authLog";
import { FIELD_COLUMNS, KEY_COLUMN, USER_COLUMN } from "../../src/connectors/authLog/sqlStore";
import { collectAll, listAll } from "../../src/connectors/testing/conformance";
import { insertAuthEvents } from "../../src/sample/authLog";
import { describeEachDatabase } from "../support/databases";
import { ADA_EVENTS, openTestDataSource } from "./support/authLogFixtures";

/**
 * The auth log's roster lists each user id as the log holds it. It used to trim them: the events of
 * `usr_a ` (a trailing space) were listed as `usr_a`'s, so the roster joined them to that other user
 * (named, counted and notified as theirs) while a request for `usr_a` reaches none of them.
 */
describeEachDatabase("auth-log roster: user ids as stored", (db) => {
  it("lists `usr_a ` and `usr_a` as two users, each with the events collect finds by it", async () => {
    const ds = await openTestDataSource(db());
    const mysql = db().kind !== "sqlite";
    const table = `auth_exact_${process.pid}`;
    const userType = mysql ? "VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" : "TEXT";
    const fieldType = mysql ? "VARCHAR(64)" : "TEXT";
    const keyType = mysql ? "VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin" : "TEXT";
    const fields = Object.values(FIELD_COLUMNS).map((c) => `${c} ${fieldType} NOT NULL`);
    await ds.query(`CREATE TABLE ${table} (${USER_COLUMN} ${userType} NOT NULL, ${KEY_COLUMN} ${keyType} NOT NULL, ${fields.join(", ")}, PRIMARY KEY (${USER_COLUMN}, ${KEY_COLUMN}))`);
    const spaced = ADA_EVENTS.slice(0, 5).map((e) => ({ ...e, userId: "usr_a " }));
    const plain = ADA_EVENTS.slice(5, 8).map((e) => ({ ...e, userId: "usr_a" }));
    await insertAuthEvents(ds, [...spaced, ...plain], { table });
    const connector = createAuthLogConnector({ store: "sql", url: db().url, table, pageSize: 7 });
    try {
      // Before: [{ userId: "usr_a" }, 5] and [{ userId: "usr_a" }, 3]: one user to the roster, with 8 events.
      expect(await listAll(connector)).to.have.deep.members([
        { identities: { userId: "usr_a " }, records: 5 },
        { identities: { userId: "usr_a" }, records: 3 },
      ]);
      expect((await collectAll(connector, { email: "nobody@example.com", userId: "usr_a " })).length).to.equal(5);
      expect((await collectAll(connector, { email: "nobody@example.com", userId: "usr_a" })).length).to.equal(3);
    } finally {
      await connector.close();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    }
  });
});
