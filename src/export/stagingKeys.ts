import { DataSource, EntityManager } from "typeorm";
import { inTransaction } from "../db/transaction";
import { StagedKeyRow } from "../entities";
import { ExportHeader, KeyWrapping } from "./crypto";
import type { DataKeys } from "./keys";

/** The wrapped key as the export's unwrapping reads it (the same wrapping, bound to the same request id). */
function asHeader(row: StagedKeyRow): ExportHeader {
  return { version: 1, wrapping: row.wrapping as KeyWrapping, requestId: row.requestId, keyRef: row.keyRef, wrappedKey: Buffer.from(row.wrappedKey), iv: Buffer.alloc(0), raw: Buffer.alloc(0) };
}

/**
 * The request's staging key in `em`'s transaction, made (and stored wrapped) by the first caller. Two
 * COLLECTs of one request may race to make it (in two processes on MySQL): the loser's insert fails on
 * the primary key, and stagingKey reads the winner's.
 */
export async function stagingKeyIn(em: EntityManager, keys: DataKeys, requestId: string, now: Date): Promise<Buffer> {
  const existing = await em.getRepository(StagedKeyRow).findOneBy({ requestId });
  if (existing) return keys.unwrap(asHeader(existing));
  const made = await keys.newDataKey(requestId);
  await em.getRepository(StagedKeyRow).insert({ requestId, wrapping: keys.wrapping, keyRef: keys.keyRef, wrappedKey: made.wrapped, createdAt: now });
  return made.plain;
}

/** The request's staging key, made if need be, in a transaction of its own. */
export async function stagingKey(ds: DataSource, keys: DataKeys, requestId: string, now: Date): Promise<Buffer> {
  try {
    return await inTransaction(ds, (em) => stagingKeyIn(em, keys, requestId, now));
  } catch (error) {
    // Lost the race to make it: the winner's is there now.
    const existing = await ds.getRepository(StagedKeyRow).findOneBy({ requestId });
    if (!existing) throw error;
    return keys.unwrap(asHeader(existing));
  }
}

/** The request's staging key, or null when none was made (nothing staged) or it was already removed. */
export async function existingStagingKey(ds: DataSource, keys: DataKeys, requestId: string): Promise<Buffer | null> {
  const row = await ds.getRepository(StagedKeyRow).findOneBy({ requestId });
  return row ? keys.unwrap(asHeader(row)) : null;
}
