import { DataSource } from "typeorm";
import { dataSourceOptions } from "../../src/db/dataSource";
import { MIGRATIONS } from "../../src/migrations";
import type { TestDatabase } from "./databases";
import { randomBytes } from "node:crypto";
import { KeyWrapping, unwrapWithMasterKey, wrapWithMasterKey } from "../../src/export/crypto";
import { type DataKeys, masterKeyRef } from "../../src/export/keys";
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

/** The configured key source's master-key form, over a key of the test's own. */
export function masterKeys(master = randomBytes(32)): DataKeys {
  return {
    wrapping: KeyWrapping.MASTER_KEY,
    keyRef: masterKeyRef(master),
    async newDataKey(requestId) {
      const plain = randomBytes(32);
      return { plain: Buffer.from(plain), wrapped: wrapWithMasterKey(master, plain, requestId) };
    },
    unwrap: async (h) => unwrapWithMasterKey(master, h.wrappedKey, h.requestId),
  };
}

/** Why running the first `count` migrations on `db` without keys failed (undefined: it did not). */
export async function migrationRefusal(db: TestDatabase, count: number): Promise<Error | undefined> {
  try {
    await (await migrated(db, count)).destroy();
    return undefined;
  } catch (e) {
    return e as Error;
  }
}
