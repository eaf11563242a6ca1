import { DataSource } from "typeorm";
import { dataSourceOptions } from "../../src/db/dataSource";
import { MIGRATIONS } from "../../src/migrations";
import type { TestDatabase } from "./databases";
import type { DataKeys } from "../../src/export/keys";
import { lendDataKeys } from "../../src/migrations/dataKeys";

/** A data source on `db` with its first `count` migrations run: the schema of an installation from before the next one (`keys` lent to them, as `dsr migrate` lends the configured ones). */
export async function migrated(db: TestDatabase, count: number, keys?: DataKeys): Promise<DataSource> {
  const database = db.url.startsWith("sqlite:") ? { kind: "sqlite" as const, file: db.url.slice("sqlite:".length) } : { kind: "mysql" as const, url: db.url };
  const ds = new DataSource({ ...dataSourceOptions({ database }), migrations: MIGRATIONS.slice(0, count) });
  await ds.initialize();
  if (keys) lendDataKeys(ds, () => keys);
  await ds.runMigrations().catch(async (error: unknown) => {
    await ds.destroy();
    throw error;
  });
  return ds;
}
