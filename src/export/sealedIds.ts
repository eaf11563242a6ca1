import type { EntityManager, EntityTarget, FindOptionsWhere, ObjectLiteral } from "typeorm";
import { In, MoreThan } from "typeorm";
import type { SealedIdsColumns } from "../entities/columns";
import type { DataKeys } from "./keys";
import { openSealed, sealBytes } from "./staging";
import { asHeader } from "./stagingKeys";

/**
 * Record ids the service keeps for a while (the ids a deletion kept without a date, the ids its survey
 * will look up again) may be personal data (an email as a primary key): they are stored as staged
 * records are, a JSON value, deflated, AES-256-GCM under a fresh data key per row wrapped by the master
 * key or AWS KMS (the request id as context), the ciphertext bound to the row's place (`aad`).
 */

/** The columns of a row that holds sealed ids. */
export interface SealedColumns {
  /** How the row's data key is wrapped: 1 = master key, 2 = AWS KMS (KeyWrapping). */
  wrapping: number;
  /** Names the wrapping key without revealing it. */
  keyRef: string;
  /** The row's wrapped data key. */
  wrappedKey: Buffer;
  /** IV || AES-256-GCM ciphertext of the deflated JSON || tag. */
  payload: Buffer;
}

/** `value` as JSON, sealed under a fresh data key of the request's, bound to `aad`. */
export async function sealJson(keys: DataKeys, requestId: string, aad: Buffer, value: unknown): Promise<SealedColumns> {
  const key = await keys.newDataKey(requestId);
  try {
    const payload = await sealBytes(key.plain, aad, Buffer.from(JSON.stringify(value), "utf8"));
    return { wrapping: keys.wrapping, keyRef: keys.keyRef, wrappedKey: key.wrapped, payload };
  } finally {
    key.plain.fill(0);
  }
}

/** The JSON value `sealJson` sealed in `row`; null when it was altered, moved, or sealed under another key. */
export async function openJson(keys: DataKeys, row: SealedColumns & { requestId: string }, aad: Buffer): Promise<unknown> {
  const key = await keys.unwrap(asHeader(row));
  try {
    const bytes = await openSealed(key, aad, Buffer.from(row.payload));
    return bytes && (JSON.parse(bytes.toString("utf8")) as unknown);
  } finally {
    key.fill(0);
  }
}

/** Rows per INSERT of sealed id batches (each at most a few tens of KiB): every packet stays small. */
const INSERT_ROWS = 8;

/** Inserts sealed rows in `em`'s transaction, a few per statement. */
export async function insertSealed<E extends ObjectLiteral>(em: EntityManager, entity: EntityTarget<E>, rows: readonly E[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_ROWS) await em.getRepository(entity).insert(rows.slice(i, i + INSERT_ROWS) as E[]);
}

/**
 * Deletes the rows `where` matches in `em`'s transaction, by primary key (read first: a delete by a
 * secondary index takes InnoDB gap locks other requests' writes wait on), 100 per statement.
 */
export async function deleteSealed<E extends ObjectLiteral & { id: string }>(em: EntityManager, entity: EntityTarget<E>, where: FindOptionsWhere<E>): Promise<void> {
  const ids = (await em.getRepository(entity).find({ select: { id: true } as never, where })).map((r) => r.id);
  for (let i = 0; i < ids.length; i += 100) await em.getRepository(entity).delete({ id: In(ids.slice(i, i + 100)) } as FindOptionsWhere<E>);
}

/** Batches read per statement while a reader pages through a request x connector's. */
const PAGE_ROWS = 8;

/** A request x connector's sealed batches in order (seq), PAGE_ROWS read per statement: never all in memory. */
export async function* sealedBatches<E extends SealedIdsColumns>(em: EntityManager, entity: EntityTarget<E>, owner: { requestId: string; connector: string }): AsyncGenerator<E> {
  for (let after = -1; ; ) {
    const where = { requestId: owner.requestId, connector: owner.connector, seq: MoreThan(after) } as FindOptionsWhere<E>;
    const rows = await em.getRepository(entity).find({ where, order: { seq: "ASC" } as never, take: PAGE_ROWS });
    for (const row of rows) {
      yield row;
      after = row.seq;
    }
    if (rows.length < PAGE_ROWS) return;
  }
}
