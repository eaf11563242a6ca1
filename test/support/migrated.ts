import { DataSource } from "typeorm";
import { dataSourceOptions } from "../../src/db/dataSource";
import { MIGRATIONS } from "../../src/migrations";
import type { TestDatabase } from "./databases";

/** A data source on `db` with its first `count` migrations run: the schema of an installation from before the next one. */
export async function migrated(db: TestDatabase, count: number): Promise<DataSource> {
  const database = db.url.startsWith("sqlite:") ? { kind: "sqlite" as const, file: db.url.slice("sqlite:".length) } : { kind: "mysql" as const, url: db.url };
  const ds = new DataSource({ ...dataSourceOptions({ database }), migrations: MIGRATIONS.slice(0, count) });
  await ds.initialize();
  await ds.runMigrations();
  return ds;
}
