import { randomUUID } from "node:crypto";
import type { EntityManager } from "typeorm";
import { In } from "typeorm";
import { ConnectorError, type RecordRef } from "../connectors/sdk";
import type { KeptIds } from "../domain/counting";
import { KeptUndatedRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";
import type { DataKeys } from "../export/keys";
import { deleteSealed, insertSealed, openJson, sealedBatches, sealJson } from "../export/sealedIds";

/**
 * The ids of the records a deletion kept that carry no date (kept_undated_ids): written with its
 * ERASE's completion, in batches, encrypted; read by its purge page by page, whatever their number;
 * removed once no retention exception of their category is open (KeptUndatedRow says why).
 */

/** Ids per batch: a page of the purge's (one eraseHeldBack call), and a row a few tens of KiB at most. */
export const KEPT_UNDATED_BATCH = 1000;

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
      const sealed = await sealJson(keys, owner.requestId, aadOf(place), ids);
      rows.push(Object.assign(new KeptUndatedRow(), { ...place, ...sealed, id: randomUUID(), taskId: owner.taskId, records: ids.length, createdAt: now }));
    }
  }
  return rows;
}

/** Stores an ERASE's kept ids in `em`'s transaction, in place of what an earlier pass of it stored. */
export async function storeKeptUndated(em: EntityManager, owner: Pick<KeptUndatedOwner, "requestId" | "connector">, rows: readonly KeptUndatedRow[]): Promise<void> {
  await dropKeptUndated(em, { requestId: owner.requestId, connector: owner.connector });
  await insertSealed(em, KeptUndatedRow, rows);
}

/**
 * The kept ids of a request x connector, a batch at a time, in order, decrypted: never all in memory.
 * A batch that fails authentication (altered, moved, or under another key) stops the purge loudly:
 * erasing by ids it cannot trust could reach someone else's records.
 */
export async function* keptUndatedBatches(em: EntityManager, keys: DataKeys, owner: Pick<KeptUndatedOwner, "requestId" | "connector">): AsyncGenerator<RecordRef[]> {
  for await (const row of sealedBatches(em, KeptUndatedRow, owner)) {
    const ids = (await openJson(keys, row, aadOf(row))) as string[] | null;
    if (!ids) {
      throw new ConnectorError(
        "The ids of the records the deletion kept without a date could not be read back: they were altered or damaged. Erase them by hand",
        `a kept_undated_ids batch failed authentication (request ${row.requestId}, ${row.connector}, #${row.seq})`,
        false,
      );
    }
    yield ids.map((id) => ({ category: row.category, type: row.recordType, id }));
  }
}

/** All the kept ids of a request x connector, page by page, in memory: for the migration back to ids in the result (capped there anyway). */
export async function keptUndatedPages(em: EntityManager, keys: DataKeys, owner: Pick<KeptUndatedOwner, "requestId" | "connector">): Promise<RecordRef[][]> {
  const pages: RecordRef[][] = [];
  for await (const page of keptUndatedBatches(em, keys, owner)) pages.push(page);
  return pages;
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

/** Deletes kept-id batches by primary key (deleteSealed says why). */
function dropKeptUndated(em: EntityManager, where: Pick<KeptUndatedRow, "requestId" | "connector"> & Partial<Pick<KeptUndatedRow, "category">>): Promise<void> {
  return deleteSealed(em, KeptUndatedRow, where);
}
