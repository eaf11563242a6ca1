import { DataSource, EntityManager } from "typeorm";
import { isMysql } from "../db/dataSource";
import { inTransaction } from "../db/transaction";
import { StagedKeyRow } from "../entities";
import { ExportHeader, KeyWrapping } from "./crypto";
import type { DataKeys } from "./keys";

/** A wrapped key (a request's staging key, a batch of kept ids') as the export's unwrapping reads it (the same wrapping, bound to the same request id). */
export function asHeader(row: Pick<StagedKeyRow, "wrapping" | "requestId" | "keyRef" | "wrappedKey">): ExportHeader {
  return { version: 1, wrapping: row.wrapping as KeyWrapping, requestId: row.requestId, keyRef: row.keyRef, wrappedKey: Buffer.from(row.wrappedKey), iv: Buffer.alloc(0), raw: Buffer.alloc(0) };
}

/**
 * The request's staging key in `em`'s transaction, made (and stored wrapped) by the first caller. Two
 * COLLECTs of one request may race to make it (in two processes on MySQL): the insert does nothing for
 * the loser, which then reads the winner's.
 */
export async function stagingKeyIn(em: EntityManager, keys: DataKeys, requestId: string, now: Date): Promise<Buffer> {
  const existing = await em.getRepository(StagedKeyRow).findOneBy({ requestId });
  if (existing) return keys.unwrap(asHeader(existing));
  const { plain, landed } = await insertNewKey(em, keys, requestId, now);
  // On MySQL another process's COLLECT may have made the key in between; then its key is the request's.
  if (landed) return plain;
  plain.fill(0);
  return keys.unwrap(asHeader(await em.getRepository(StagedKeyRow).findOneByOrFail({ requestId })));
}

/**
 * Makes the request's staging key in `em`'s transaction unless it has one (an approval makes it, so its
 * COLLECTs only read it). One statement: the insert does nothing when the key is there.
 */
export async function makeStagingKey(em: EntityManager, keys: DataKeys, requestId: string, now: Date): Promise<void> {
  (await insertNewKey(em, keys, requestId, now)).plain.fill(0);
}

/** A new key for the request, stored wrapped unless the request has one (then `landed` is false). */
async function insertNewKey(em: EntityManager, keys: DataKeys, requestId: string, now: Date): Promise<{ plain: Buffer; landed: boolean }> {
  const made = await keys.newDataKey(requestId);
  const inserted = await em
    .createQueryBuilder()
    .insert()
    .into(StagedKeyRow)
    .values({ requestId, wrapping: keys.wrapping, keyRef: keys.keyRef, wrappedKey: made.wrapped, createdAt: now })
    .orIgnore()
    .updateEntity(false)
    .execute();
  // SQLite's transactions are exclusive: a caller that saw no key there knows its insert landed.
  return { plain: made.plain, landed: !isMysql(em.connection) || (inserted.raw as { affectedRows: number }).affectedRows === 1 };
}

/**
 * The request's staging key, made if need be. Every COLLECT of the request asks for it and all but the
 * first find it: they read it with one statement, and only a miss opens a transaction to make it.
 */
export async function stagingKey(ds: DataSource, keys: DataKeys, requestId: string, now: Date): Promise<Buffer> {
  return (await shared(ds, `make:${requestId}`, async () => (await existingStagingKey(ds, keys, requestId)) ?? inTransaction(ds, (em) => stagingKeyIn(em, keys, requestId, now))))!;
}

/** The request's staging key if it has one (null otherwise: nothing is made), read once for the callers of the moment. */
export function readStagingKey(ds: DataSource, keys: DataKeys, requestId: string): Promise<Buffer | null> {
  return shared(ds, `read:${requestId}`, () => existingStagingKey(ds, keys, requestId));
}

/**
 * Runs `lookup` once for the callers that ask for the same thing at the same time (a request's COLLECTs
 * are usually claimed together and start, or end, within milliseconds). Each caller gets a copy of its
 * own, since callers zero their key when they are done with it; the shared one is zeroed after.
 */
async function shared(ds: DataSource, name: string, lookup: () => Promise<Buffer | null>): Promise<Buffer | null> {
  let lookups = inFlight.get(ds);
  if (!lookups) inFlight.set(ds, (lookups = new Map()));
  const pending = lookups.get(name);
  if (pending) {
    const key = await pending;
    return key && Buffer.from(key);
  }
  const started = lookup();
  lookups.set(name, started);
  try {
    const key = await started;
    if (!key) return null;
    // The callers waiting on it copy it in the microtasks that follow; then the shared one is zeroed.
    setImmediate(() => key.fill(0));
    return Buffer.from(key);
  } finally {
    lookups.delete(name);
  }
}

/** Staging key lookups under way, per database and request. */
const inFlight = new WeakMap<DataSource, Map<string, Promise<Buffer | null>>>();

/** The request's staging key, or null when none was made (nothing staged) or it was already removed. */
export async function existingStagingKey(ds: DataSource, keys: DataKeys, requestId: string): Promise<Buffer | null> {
  const row = await ds.getRepository(StagedKeyRow).findOneBy({ requestId });
  return row ? keys.unwrap(asHeader(row)) : null;
}
