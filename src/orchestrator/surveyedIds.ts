import { randomUUID } from "node:crypto";
import type { EntityManager } from "typeorm";
import { ConnectorError, type RecordRef } from "../connectors/sdk";
import { SurveyedIdsRow } from "../entities";
import type { DataKeys } from "../export/keys";
import { deleteSealed, insertSealed, openJson, sealedBatches, sealJson } from "../export/sealedIds";

/**
 * The ids of the records a deletion's survey planned to erase, and of those it planned to keep
 * (surveyed_ids): written with the survey's completion, in batches, encrypted; read by the verification
 * after the erasure page by page, whatever their number; removed when the ERASE is done with them or the
 * purge finds the request ended.
 */

/** A surveyed record: `kept` when the plan keeps it (a rule or a hold), else the plan erases it. */
export type SurveyedRef = RecordRef & { kept?: true };

/** How a batch marks a kept record (a fourth element); a batch written before kept ids were stored has none. */
const KEPT = "K";

/** Ids per batch: a page of the verification's look-ups, and a row a few tens of KiB at most. */
export const SURVEYED_BATCH = 1000;

/** Whose surveyed ids they are. */
export interface SurveyedOwner {
  requestId: string;
  connector: string;
}

/** What a batch's ciphertext is bound to: a batch moved to another request, connector or place fails authentication. */
const aadOf = (p: SurveyedOwner & { seq: number }) => Buffer.from(`dsr-surveyed:v1:${p.requestId}:${p.connector}:${p.seq}`, "utf8");

/** `refs` as encrypted batches of SURVEYED_BATCH (a fresh data key each), numbered from `from`. */
export async function sealSurveyed(keys: DataKeys, owner: SurveyedOwner, refs: readonly SurveyedRef[], now: Date, from = 0): Promise<SurveyedIdsRow[]> {
  const rows: SurveyedIdsRow[] = [];
  for (let i = 0; i < refs.length; i += SURVEYED_BATCH) {
    const batch = refs.slice(i, i + SURVEYED_BATCH);
    const place = { requestId: owner.requestId, connector: owner.connector, seq: from + rows.length };
    const sealed = await sealJson(keys, owner.requestId, aadOf(place), batch.map((r) => (r.kept ? [String(r.category), r.type, r.id, KEPT] : [String(r.category), r.type, r.id])));
    rows.push(Object.assign(new SurveyedIdsRow(), { ...place, ...sealed, id: randomUUID(), records: batch.length, createdAt: now }));
  }
  return rows;
}

/** Stores a survey's batches in `em`'s transaction, in place of what an earlier attempt stored. */
export async function storeSurveyed(em: EntityManager, owner: SurveyedOwner, rows: readonly SurveyedIdsRow[]): Promise<void> {
  await dropSurveyed(em, owner);
  await insertSealed(em, SurveyedIdsRow, rows);
}

/** Removes a request x connector's surveyed ids in `em`'s transaction (deleteSealed says how). */
export function dropSurveyed(em: EntityManager, owner: SurveyedOwner): Promise<void> {
  return deleteSealed(em, SurveyedIdsRow, { requestId: owner.requestId, connector: owner.connector });
}

/**
 * The surveyed ids of a request x connector, a batch at a time, decrypted: never all in memory. A batch
 * that fails authentication (altered, moved, or under another key) fails the verification loudly: a
 * look-up by ids it cannot trust would count someone else's records, or miss hers.
 */
export async function* surveyedPages(em: EntityManager, keys: DataKeys, owner: SurveyedOwner): AsyncGenerator<SurveyedRef[]> {
  for await (const row of sealedBatches(em, SurveyedIdsRow, owner)) {
    const refs = (await openJson(keys, row, aadOf(row))) as [string, string, string, string?][] | null;
    if (!refs) {
      throw new ConnectorError(
        "The ids of the records the deletion's survey found could not be read back: they were altered or damaged. Submit a new deletion request",
        `a surveyed_ids batch failed authentication (request ${row.requestId}, ${row.connector}, #${row.seq})`,
        false,
      );
    }
    yield refs.map(([category, type, id, kept]) => ({ category, type, id, ...(kept === KEPT ? { kept: true as const } : {}) }) as SurveyedRef);
  }
}
