import { expect } from "chai";
import fs from "node:fs";
import { DataSource } from "typeorm";
import { quote, rawSqlite, SqlDatabase } from "../../src/connectors/sql/database";
import { classifyDbError } from "../../src/connectors/sql/errors";
import { describeEachSqlDialect } from "../support/databases";
import { watchStatements } from "../support/statements";

const ROWS = [
  { id: 1, email: "ada@example.com", note: null },
  { id: 2, email: "grace@example.com", note: "two" },
  { id: 3, email: "zoe@example.com", note: "three" },
];

describeEachSqlDialect("SqlDatabase.selectArrays", (db) => {
  let database: SqlDatabase;
  let table: string;
  const q = (name: string) => quote(database.dialect, name);

  before(async () => {
    // A connector opens an existing SQLite file only (fileMustExist): make it.
    if (db().kind === "sqlite") fs.writeFileSync(db().url.slice("sqlite:".length), "");
    database = new SqlDatabase({ url: db().url });
    table = `arrays_${Date.now().toString(36)}`;
    await database.run({ sql: `CREATE TABLE ${q(table)} (${q("id")} INTEGER PRIMARY KEY, ${q("email")} VARCHAR(100) NOT NULL, ${q("note")} VARCHAR(100))`, params: [] });
    for (const r of ROWS) await database.run({ sql: `INSERT INTO ${q(table)} (${q("id")}, ${q("email")}, ${q("note")}) VALUES (?, ?, ?)`, params: [r.id, r.email, r.note] });
  });
  after(async () => {
    await database.run({ sql: `DROP TABLE ${q(table)}`, params: [] }).catch(() => undefined);
    await database.close();
  });

  it("gives each row as an array in the order of the select list, the same values run() gives", async () => {
    const statement = { sql: `SELECT ${q("note")}, ${q("id")}, ${q("email")} FROM ${q(table)} WHERE ${q("id")} > ? ORDER BY ${q("id")}`, params: [1] };
    const arrays = await database.selectArrays(statement, ["note", "id", "email"]);
    expect(arrays.map(([note, id, email]) => [note, Number(id), email])).to.deep.equal([
      ["two", 2, "grace@example.com"],
      ["three", 3, "zoe@example.com"],
    ]);
    const { rows } = await database.run(statement);
    expect(arrays.map(([note, id, email]) => ({ note, id: Number(id), email }))).to.deep.equal(rows.map((r) => ({ ...r, id: Number(r.id) })));
    if (db().kind === "sqlite") {
      // Its own SQLite database: no statement went through TypeORM's query runner.
      const watch = watchStatements((database as unknown as { source: DataSource }).source);
      try {
        expect(await database.selectArrays(statement, ["note", "id", "email"])).to.have.length(2);
      } finally {
        watch.stop();
      }
      expect(watch.statements).to.deep.equal([]);
    }
    // Prepared once, run again with other values (SQLite keeps the raw statement).
    expect((await database.selectArrays({ ...statement, params: [2] }, ["note", "id", "email"])).map((r) => Number(r[1]))).to.deep.equal([3]);
    expect(await database.selectArrays({ ...statement, params: [3] }, ["note", "id", "email"])).to.deep.equal([]);
  });

  it("fails as run() fails, with the driver's code for the classifier (a missing table)", async () => {
    let error: unknown;
    try {
      await database.selectArrays({ sql: `SELECT ${q("id")} FROM ${q(`${table}_missing`)}`, params: [] }, ["id"]);
    } catch (e) {
      error = e;
    }
    expect(error, "no error").to.be.instanceOf(Error);
    expect(classifyDbError(error).missing).to.equal("table");
  });

  it("reads a SQLite database it opened itself straight from better-sqlite3, without TypeORM's query runner", async function () {
    if (db().kind !== "sqlite") this.skip();
    // TypeORM keeps better-sqlite3's connection in BetterSqlite3Driver.databaseConnection (declared, not
    // documented): if an upgrade moves it, rawSqlite answers null and this fails.
    const ds = new DataSource({ type: "better-sqlite3", database: db().url.slice("sqlite:".length), fileMustExist: true });
    await ds.initialize();
    try {
      const raw = rawSqlite(ds);
      expect(raw, "rawSqlite found no better-sqlite3 connection under the DataSource").to.not.equal(null);
      expect(raw!.prepared(`SELECT "id", "email" FROM "${table}" ORDER BY "id"`).all()).to.deep.equal(ROWS.map((r) => [r.id, r.email]));
    } finally {
      await ds.destroy();
    }
    // A DataSource the caller passed in is theirs (on the service's own database its connection belongs to
    // the statement queue): it is read through its query runner, and still gives arrays.
    const owned = new DataSource({ type: "better-sqlite3", database: db().url.slice("sqlite:".length), fileMustExist: true });
    await owned.initialize();
    const watch = watchStatements(owned);
    const theirs = new SqlDatabase({ dataSource: owned });
    try {
      expect(await theirs.selectArrays({ sql: `SELECT "email" FROM "${table}" WHERE "id" = ?`, params: [1] }, ["email"])).to.deep.equal([["ada@example.com"]]);
      expect(watch.statements).to.have.length(1);
    } finally {
      watch.stop();
      await theirs.close();
      await owned.destroy();
    }
  });
});
