import { randomUUID } from "node:crypto";
import type { EntityManager } from "typeorm";
import { In, MoreThan } from "typeorm";
import { ConnectorError, type RecordRef } from "../connectors/sdk";
import type { KeptIds } from "../domain/counting";
import { KeptUndatedRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";
import type { DataKeys } from "../export/keys";
import { openSealed, sealBytes } from "../export/staging";
import { asHeader } from "../export/stagingKeys";

/**
 * The ids of the records a deletion kept that carry no date (kept_undated_ids): written with its
 * ERASE's completion, in batches, encrypted; read by its purge page by page, whatever their number;
 * removed once no retention exception of their category is open (KeptUndatedRow says why).
 */

/** Ids per batch: a page of the purge's (one eraseHeldBack call), and a row a few tens of KiB at most. */
export const KEPT_UNDATED_BATCH = 1000;

/** Batches read per statement while the purge pages through them. */
const PAGE_ROWS = 8;

/** Whose kept ids they are. */
export interface KeptUndatedOwner {
  requestId: string;
  connector: string;
  /** The ERASE that counted them kept. */
  taskId: string;
}

type Place = Pick<KeptUndatedRow, "requestId" | "connector" | "category" | "recordType" | "seq">;

/** What a batch's ciphertext is bound to: a batch moved to another request, connector, set or place fails authentication. */
const aadOf = (p: Place) => Buffer.from(`dsr-kept-undated:v1:${p.requestId}:${p.connector}:${p.category}:${p.recordType}:${p.seq}`, "utf8");

/** The kept ids, per set, as encrypted batches of KEPT_UNDATED_BATCH (a fresh data key each), numbered from 0. */
export async function sealKeptUndated(keys: DataKeys, owner: KeptUndatedOwner, sets: readonly KeptIds[], now: Date): Promise<KeptUndatedRow[]> {
  const rows: KeptUndatedRow[] = [];
  for (const set of sets) {
    for (let i = 0; i < set.ids.length; i += KEPT_UNDATED_BATCH) {
      const ids = set.ids.slice(i, i + KEPT_UNDATED_BATCH);
      const place = { requestId: owner.requestId, connector: owner.connector, category: set.category, recordType: set.type, seq: rows.length };
      const key = await keys.newDataKey(owner.requestId);
      try {
        const payload = await sealBytes(key.plain, aadOf(place), Buffer.from(JSON.stringify(ids), "utf8"));
        rows.push(Object.assign(new KeptUndatedRow(), { ...place, id: randomUUID(), taskId: owner.taskId, records: ids.length, wrapping: keys.wrapping, keyRef: keys.keyRef, wrappedKey: key.wrapped, payload, createdAt: now }));
      } finally {
        key.plain.fill(0);
      }
    }
  }
  return rows;
}

/** Rows per INSERT of kept-id batches (each at most a few tens of KiB): every packet stays small. */
const INSERT_ROWS = 8;

/** Stores an ERASE's kept ids in `em`'s transaction, in place of what an earlier pass of it stored. */
export async function storeKeptUndated(em: EntityManager, owner: Pick<KeptUndatedOwner, "requestId" | "connector">, rows: readonly KeptUndatedRow[]): Promise<void> {
  await dropKeptUndated(em, { requestId: owner.requestId, connector: owner.connector });
  for (let i = 0; i < rows.length; i += INSERT_ROWS) await em.getRepository(KeptUndatedRow).insert(rows.slice(i, i + INSERT_ROWS));
}

/**
 * The kept ids of a request x connector, page by page (a batch each, in order), decrypted. A batch
 * that fails authentication (altered, moved, or under another key) stops the purge loudly: erasing
 * by ids it cannot trust could reach someone else's records.
 */
export async function keptUndatedPages(em: EntityManager, keys: DataKeys, owner: Pick<KeptUndatedOwner, "requestId" | "connector">): Promise<RecordRef[][]> {
  const pages: RecordRef[][] = [];
  for (let after = -1; ; ) {
    const rows = await em.getRepository(KeptUndatedRow).find({ where: { requestId: owner.requestId, connector: owner.connector, seq: MoreThan(after) }, order: { seq: "ASC" }, take: PAGE_ROWS });
    for (const row of rows) {
      const key = await keys.unwrap(asHeader(row));
      try {
        const ids = await openSealed(key, aadOf(row), Buffer.from(row.payload));
        if (!ids) {
          throw new ConnectorError(
            "The ids of the records the deletion kept without a date could not be read back: they were altered or damaged. Erase them by hand",
            `a kept_undated_ids batch failed authentication (request ${row.requestId}, ${row.connector}, #${row.seq})`,
            false,
          );
        }
        pages.push((JSON.parse(ids.toString("utf8")) as string[]).map((id) => ({ category: row.category, type: row.recordType, id })));
      } finally {
        key.fill(0);
      }
      after = row.seq;
    }
    if (rows.length < PAGE_ROWS) return pages;
  }
}

/**
 * In `em`'s transaction, after retention exceptions closed (and new ones opened): removes the kept ids
 * of each request x connector x category of those exceptions that has no open exception left. The
 * purpose of the ids ended there: the purge erased the records, or a later deletion did.
 */
export async function dropKeptUndatedOfClosed(em: EntityManager, exceptionIds: readonly string[]): Promise<void> {
  const closed = await em.getRepository(RetentionExceptionRow).find({ select: { requestId: true, connector: true, category: true }, where: { id: In([...exceptionIds]) } });
  const seen = new Set<string>();
  for (const { requestId, connector, category } of closed) {
    const key = `${requestId}\u0000${connector}\u0000${category}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (await em.getRepository(RetentionExceptionRow).exists({ where: { requestId, connector, category, status: RetentionExceptionStatus.OPEN } })) continue;
    await dropKeptUndated(em, { requestId, connector, category });
  }
}

/** Deletes kept-id batches by primary key (read first: a delete by a secondary index takes InnoDB gap locks other requests' writes wait on). */
async function dropKeptUndated(em: EntityManager, where: Pick<KeptUndatedRow, "requestId" | "connector"> & Partial<Pick<KeptUndatedRow, "category">>): Promise<void> {
  const ids = (await em.getRepository(KeptUndatedRow).find({ select: { id: true }, where })).map((r) => r.id);
  for (let i = 0; i < ids.length; i += 100) await em.getRepository(KeptUndatedRow).delete({ id: In(ids.slice(i, i + 100)) });
}
