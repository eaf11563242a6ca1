import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { createDataSource, migrate } from "../../src/db/dataSource";
import { inTransaction } from "../../src/db/transaction";
import { ApiTokenRow } from "../../src/entities";
import { deferred } from "./support";

/** better-sqlite3 (no type declarations here): another process's connection to the service's file. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database: new (file: string, options?: { timeout?: number }) => { exec(sql: string): void; close(): void } = require("better-sqlite3");

/**
 * src/db/connectionQueue.ts rewrites TypeORM's `BEGIN TRANSACTION` into `BEGIN IMMEDIATE TRANSACTION`, so
 * a transaction holds the file's write lock from its first statement: a deferred one that only read
 * could not take it later once another process wrote, and SQLite refuses that upgrade at once. The
 * rewrite matches TypeORM's literal text; this pins it, so a TypeORM upgrade that words its BEGIN
 * differently fails here rather than bringing the refusals back unnoticed.
 */
describe("SQLite transactions take the write lock when they begin", () => {
  let dir: string;
  let ds: DataSource;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-immediate-"));
    ds = createDataSource({ database: { kind: "sqlite", file: path.join(dir, "service.sqlite") } } as never);
    await ds.initialize();
    await migrate(ds);
  });
  after(async () => {
    await ds?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Whether another connection can take the write lock right now (no waiting). */
  function otherCanWrite(): boolean {
    const other = new Database(path.join(dir, "service.sqlite"), { timeout: 0 });
    try {
      other.exec("BEGIN IMMEDIATE");
      other.exec("ROLLBACK");
      return true;
    } catch (error) {
      expect(String((error as { code?: unknown }).code)).to.match(/^SQLITE_BUSY/);
      return false;
    } finally {
      other.close();
    }
  }

  it("holds the lock through a transaction that has only read, and lets it go at the end", async () => {
    expect(otherCanWrite(), "no transaction open yet").to.equal(true);
    const read = deferred();
    const release = deferred();
    const work = inTransaction(ds, async (em) => {
      await em.getRepository(ApiTokenRow).count();
      read.resolve();
      await release.promise;
    });
    await read.promise;
    try {
      expect(otherCanWrite(), "a transaction that has only read still holds the write lock (BEGIN IMMEDIATE)").to.equal(false);
    } finally {
      release.resolve();
      await work;
    }
    expect(otherCanWrite(), "the lock is let go when the transaction ends").to.equal(true);
  });
});
