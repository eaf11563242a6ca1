import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { SqlDatabase } from "../../src/connectors/sql/database";
import { createDataSource } from "../../src/db/dataSource";
import { CONNECTOR_CACHE_KIB, SERVICE_CACHE_KIB } from "../../src/db/sqliteCache";

/** better-sqlite3 builds SQLite with a 16 MB page cache per connection; the service sets its own sizes (src/db/sqliteCache.ts). */
describe("SQLite page caches", () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-cache-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("starts from better-sqlite3's build default of 16 MB, which the settings below replace", async () => {
    const ds = await new DataSource({ type: "better-sqlite3", database: ":memory:" }).initialize();
    try {
      expect(await ds.query("PRAGMA cache_size")).to.deep.equal([{ cache_size: -16000 }]);
    } finally {
      await ds.destroy();
    }
  });

  it("gives the service's own database a 4 MB cache", async () => {
    const ds = createDataSource({ database: { kind: "sqlite", file: path.join(dir, "service.sqlite") } } as never);
    await ds.initialize();
    try {
      expect(await ds.query("PRAGMA cache_size")).to.deep.equal([{ cache_size: -SERVICE_CACHE_KIB }]);
      expect(SERVICE_CACHE_KIB).to.equal(4096);
    } finally {
      await ds.destroy();
    }
  });

  it("gives a connector's SQLite database (the sample auth log) SQLite's own 2 MB", async () => {
    const file = path.join(dir, "auth-log.sqlite");
    // An empty file is an empty SQLite database (the connector opens only files that exist).
    fs.writeFileSync(file, "");
    const db = new SqlDatabase({ url: `sqlite:${file}` });
    try {
      expect((await db.run({ sql: "PRAGMA cache_size", params: [] })).rows).to.deep.equal([{ cache_size: -CONNECTOR_CACHE_KIB }]);
      expect(CONNECTOR_CACHE_KIB).to.equal(2048);
    } finally {
      await db.close();
    }
  });
});
