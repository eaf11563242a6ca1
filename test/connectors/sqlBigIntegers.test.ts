import { expect } from "chai";
import fs from "node:fs";
import { DataSource } from "typeorm";
import { createSqlConnector, SqlConnector, SqlConnectorConfig } from "../../src/connectors/sql";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { tempDir } from "../support/databases";

/**
 * Integers past 2^53 in a SQLite database the connector opens (a `sqlite:` url). better-sqlite3 reads
 * an INTEGER as a double unless told otherwise: Ada's user id 1234567890123456789 read as
 * 1234567890123456800, and her notes, found by that user id, were nobody's. Her export lacked them,
 * her erase left them, and its check (reading by the same rounded id) found nothing left. Checked in
 * the database itself.
 */
const ADA = { email: "ada.lovelace@example.com" };
const ADA_ID = "1234567890123456789";
const NOTE_IDS = ["9007199254740993", "9007199254740995"];
const GRACE_ID = "1234567890123456790";

function config(): SqlConnectorConfig {
  return {
    name: "forum-db",
    version: "1.0.0",
    tables: [
      { table: "users", identityColumn: "email", identityKind: "email", category: "ACCOUNT", recordType: "user", primaryKey: "id", exportColumns: ["email"], erase: { strategy: "DELETE" } },
      { table: "notes", identityColumn: "user_id", identityKind: "userId", category: "SUPPORT", recordType: "note", primaryKey: "id", exportColumns: ["body", "user_id"], erase: { strategy: "DELETE" } },
    ],
    provides: [{ kind: "userId", table: "users", column: "id" }],
  };
}

describe("SQL connector on SQLite: integers past 2^53", () => {
  let file: string;
  let connector: SqlConnector;
  /** Runs `work` on the file through a DataSource of its own (closed after). */
  const onFile = async <T>(work: (ds: DataSource) => Promise<T>): Promise<T> => {
    const ds = await new DataSource({ type: "better-sqlite3", database: file }).initialize();
    try {
      return await work(ds);
    } finally {
      await ds.destroy();
    }
  };
  beforeEach(async () => {
    file = `${tempDir()}/forum.sqlite`;
    await onFile(async (ds) => {
      await ds.query(`CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL COLLATE NOCASE)`);
      await ds.query(`CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, body TEXT)`);
      // Literals in the SQL: exact, whatever the driver does with numbers.
      await ds.query(`INSERT INTO users (id, email) VALUES (${ADA_ID}, '${ADA.email}'), (${GRACE_ID}, 'grace.hopper@example.com')`);
      await ds.query(`INSERT INTO notes (id, user_id, body) VALUES (${NOTE_IDS[0]}, ${ADA_ID}, 'Ada one'), (${NOTE_IDS[1]}, ${ADA_ID}, 'Ada two'), (9007199254740997, ${GRACE_ID}, 'Grace''s')`);
    });
    connector = createSqlConnector(config(), { url: `sqlite:${file}` });
  });
  afterEach(async () => {
    await connector.close();
    fs.rmSync(file, { force: true });
  });

  /** The table's rows as SQLite holds them, integers as their digits. */
  const rows = (table: string): Promise<string[]> => onFile(async (ds) => (await ds.query(`SELECT CAST(id AS TEXT) AS id FROM ${table} ORDER BY id`)).map((r: { id: string }) => r.id));

  it("gives the user id exactly, and collects her notes by it with their ids exact", async () => {
    expect((await connector.resolve(ADA, testContext())).userId).to.equal(ADA_ID);
    const records = await collectAll(connector, ADA);
    expect(records.map((r) => `${r.type}:${r.id}`).sort()).to.deep.equal([`note:${NOTE_IDS[0]}`, `note:${NOTE_IDS[1]}`, `user:${ADA_ID}`]);
    expect(records.filter((r) => r.type === "note").map((r) => String(r.data.user_id))).to.deep.equal([ADA_ID, ADA_ID]);
  });

  it("erases her user and both notes, and nothing of Grace's", async () => {
    const outcome = await connector.erase(ADA, { categories: ["ACCOUNT", "SUPPORT"] }, testContext());
    expect(outcome.erased).to.equal(3);
    expect(await rows("users")).to.deep.equal([GRACE_ID]);
    expect(await rows("notes")).to.deep.equal(["9007199254740997"]);
  });
});
