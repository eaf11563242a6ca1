import type { DataSource } from "typeorm";
import type { DataKeys } from "../export/keys";

/** The key source lent to a database's migrations (a migration that encrypts personal data asks for it). */
const lent = new WeakMap<DataSource, () => DataKeys>();

/** Lends `ds`'s migrations the configured key source, made only if one of them asks. */
export function lendDataKeys(ds: DataSource, keys: () => DataKeys): void {
  lent.set(ds, keys);
}

/** The key source lent to `ds`'s migrations; a migration that has personal data to encrypt and none lent stops, naming why. */
export function dataKeysOf(ds: DataSource): DataKeys {
  const keys = lent.get(ds);
  if (!keys) throw new Error("this migration encrypts personal data the database holds: run it with `dsr migrate` or the service, which lend it the data keys");
  return keys();
}
