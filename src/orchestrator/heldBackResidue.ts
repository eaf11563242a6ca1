import type { DataSource, EntityManager } from "typeorm";
import type { DataCategory, ErasureInstruction, ErasureOutcome, HeldBackOutcome, RecordRef, ResidualRecords } from "../connectors/sdk";
import { TaskStep } from "../domain/tasks";
import type { KeptByDeletion, KeptCount, KeptPages } from "../domain/counting";
import { perSet } from "../domain/multiMap";
import type { DataKeys } from "../export/keys";
import { keptUndatedBatches } from "./keptUndatedIds";
import { ErasedResidue, RequestRow, StoredResidual, TaskRow } from "../entities";
import { appendAuditEvent } from "../audit/auditTrail";
import { SYSTEM_ACTOR } from "../audit/actor";

/**
 * Residue a deletion left on purpose because kept records held it back (an account the kept records
 * hang off, a row they refer to through a foreign key the database acts on) must not outlive its
 * reason: the purge that erases those kept records erases it too, by id (Connector.eraseHeldBack),
 * never by looking the subject up again (what the person created since the deletion is not the
 * deletion's). What it erased is kept on the PURGE task (`residueErased`, with when), the residue it
 * still finds held back is named residual again, and each erasure is an audit event.
 *
 * The kept records themselves are purged the same way: what the deletion kept, never what the person
 * recorded since. Dated ones by the deletion's time (boundedToDeletion), undated ones by the ids the
 * deletion kept of them (undatedRefs: kept_undated_ids, page by page, through the same eraseHeldBack); the purge's recount counts only
 * those (keptByDeletionOf), checking the undated records it finds against those ids a page at a time.
 */

/** The residue of one request x connector still to erase by id: its sets (with ids), and those sets' refs. */
export interface HeldBack {
  sets: StoredResidual[];
  refs: RecordRef[];
  /** Every residual set of the connector's ERASE, held back or not (otherResidue reads the others). */
  all: StoredResidual[];
}

/** The deletion's ERASE of a purge's connector: what it left residual, and when it counted what it kept. */
export async function deletionErase(ds: DataSource, purge: TaskRow): Promise<TaskRow | null> {
  return ds.getRepository(TaskRow).findOneBy({ requestId: purge.requestId, connector: purge.connector, step: TaskStep.ERASE });
}

/**
 * The ids of the kept records without a date the deletion's ERASE stored (kept_undated_ids), read a
 * page at a time on each call, never all in memory; null when it stored none (it ended before they were stored).
 */
export function keptUndatedOf(ds: DataSource, keys: DataKeys, erase: TaskRow | null): KeptPages | null {
  if (erase?.result?.keptUndatedIds === undefined) return null;
  return () => keptUndatedBatches(ds.manager, keys, erase);
}

/**
 * What the deletion kept in this connector, as its purge tells it apart from what the person recorded
 * since (KeptByDeletion): records dated before its ERASE ended (its last pass; else the request's end),
 * when it counted them, and those without a date by the ids it stored (keptUndatedOf).
 */
export function keptByDeletionOf(erase: TaskRow | null, request: Pick<RequestRow, "closedAt" | "updatedAt">, undated: KeptPages | null): KeptByDeletion {
  return { before: erase?.finishedAt ?? request.closedAt ?? request.updatedAt, undated };
}

/** The deletion's kept records without a date in `categories`, by id, a page at a time for eraseHeldBack (empty pages left out). */
export async function* undatedRefs(undated: KeptPages | null, categories: readonly DataCategory[]): AsyncGenerator<RecordRef[]> {
  for await (const page of undated?.() ?? []) {
    const mine = page.filter((r) => categories.includes(r.category));
    if (mine.length) yield mine;
  }
}

/** Adds `refs` to per-category counts (`into`), as withHeldBack counts erased records. */
export function countIn(into: Record<string, number>, refs: readonly RecordRef[]): Record<string, number> {
  for (const ref of refs) into[String(ref.category)] = (into[String(ref.category)] ?? 0) + 1;
  return into;
}

/** Adds `refs` to per-set counts (`into`), as the audit events of kept sets count them. */
export function countPerSet(into: KeptCount[], refs: readonly RecordRef[]): KeptCount[] {
  for (const ref of refs) {
    const set = into.find((k) => k.category === String(ref.category) && k.type === ref.type);
    if (set) set.count += 1;
    else into.push({ category: String(ref.category), type: ref.type, count: 1 });
  }
  return into;
}

/** Why a purge leaves the kept records without a date whose ids its deletion had no room for (an ERASE from before kept_undated_ids). */
export const UNDATED_BEYOND_IDS_REASON =
  "kept without a date beyond the 16000 characters of ids the deletion stores: the purge cannot tell them from records the person made since, so it leaves them; erase them by hand";

/**
 * The deletion's kept records without a date in `categories` whose ids it did not store: only an ERASE
 * that ended while the ids were capped (TaskResult.keptUndatedBeyond) has them. The purge leaves them
 * (it erases undated records only by id), named residual (asResidual) rather than found again by
 * identity, which would reach what the person made since and count it under this request.
 */
export function undatedBeyondIds(erase: TaskRow | null, categories: readonly DataCategory[]): KeptCount[] {
  return (erase?.result?.keptUndatedBeyond ?? []).filter((k) => categories.includes(k.category));
}

/** Kept sets without stored ids, as the residual sets the purge names them. */
export function asResidual(beyond: readonly KeptCount[]): ResidualRecords[] {
  return beyond.map((k) => ({ category: k.category, type: k.type, count: k.count, fields: [], reason: UNDATED_BEYOND_IDS_REASON }));
}

/**
 * A purge's instruction bounded to what its deletion kept: in each category it erases, records recorded
 * at or after `kept.before` stay (keepRecordedSince, which every connector honours), whatever the rule
 * says. Records without a date stay too (keepUndated) when the purge erases the deletion's by id;
 * otherwise the connector erases them as it finds them (keepUndated false), as purges always did.
 */
export function boundedToDeletion(instruction: ErasureInstruction, kept: KeptByDeletion, byId: boolean): ErasureInstruction {
  if (!instruction.categories.length) return instruction;
  const keep: Partial<Record<DataCategory, Date>> = { ...instruction.keepRecordedSince };
  for (const c of instruction.categories) keep[c] = keep[c] && keep[c]!.getTime() < kept.before.getTime() ? keep[c] : kept.before;
  return { categories: instruction.categories, keepRecordedSince: keep, keepUndated: byId };
}

/**
 * What the connector's ERASE left residual only because kept records held it back, less what a purge
 * of this task already erased (`task.result.residueErased`, whose ids are never looked at again).
 */
export function heldBackResidue(erase: TaskRow | null, purge: TaskRow): HeldBack {
  const done = new Set((purge.result?.residueErased ?? []).flatMap((r) => (r.ids ?? []).map((id) => `${r.type}\u0000${id}`)));
  const all = erase?.result?.residualSets ?? [];
  const sets = all.filter((r) => r.ids?.length);
  const refs = sets.flatMap((r) => r.ids!.filter((id) => !done.has(`${r.type}\u0000${id}`)).map((id) => ({ category: r.category, type: r.type, id })));
  return { sets, refs, all };
}

/**
 * The ERASE's residual sets of `categories` that nothing holds back (no ids): the purge names them
 * again, since its own sets replace the ERASE's for every category it purged (currentResidualSets).
 */
export function otherResidue(h: HeldBack, categories: readonly string[]): StoredResidual[] {
  return h.all.filter((r) => !r.ids?.length && categories.includes(r.category));
}

/** What eraseHeldBack calls did, counted: erased records per category (never their ids, which may be millions), and what they left residual. */
export interface HeldBackCounts {
  erasedIn: Record<string, number>;
  residual?: readonly ResidualRecords[];
}

/**
 * Adds what eraseHeldBack did to the purge's own erase outcome: its erased records counted in their
 * categories, what is still held back named residual.
 */
export function withHeldBack(outcome: ErasureOutcome, held: HeldBackCounts, instruction: ErasureInstruction, connectorCategories: readonly string[]): ErasureOutcome {
  // Without a breakdown, the connector's erased records are in the one category it erased (as addOutcome reads them).
  const category = String(instruction.categories[0] ?? connectorCategories[0]);
  const erasedIn: Record<string, number> = {};
  for (const [c, n] of Object.entries(outcome.erasedIn ?? (outcome.erased ? { [category]: outcome.erased } : {}))) if (n) erasedIn[c] = n;
  let erased = 0;
  for (const [c, n] of Object.entries(held.erasedIn)) {
    erasedIn[c] = (erasedIn[c] ?? 0) + n;
    erased += n;
  }
  const redactedIn = outcome.redactedIn ?? (outcome.redacted && !outcome.erasedIn ? { [category]: outcome.redacted } : undefined);
  return { ...outcome, erased: outcome.erased + erased, erasedIn, ...(redactedIn ? { redactedIn } : {}), residual: [...(outcome.residual ?? []), ...(held.residual ?? [])] };
}

/**
 * What this run erased of the held-back residue, per set, with when: the records eraseHeldBack erased,
 * and of those it no longer found, as many as this task's earlier attempts' units erased in a category
 * the purge erased nothing else in (`earlier`, erasure_progress): an attempt that erased the account
 * and then failed is counted once, by its retry. Records gone for another reason are not claimed.
 */
export function residueErasedNow(h: HeldBack, held: HeldBackOutcome, earlier: Readonly<Record<string, number>> | null, purgedCategories: readonly string[], now: Date): ErasedResidue[] {
  const key = (type: string, id: string) => `${type}\u0000${id}`;
  const erased = new Set(held.erased.map((r) => key(r.type, r.id)));
  const still = new Set((held.residual ?? []).flatMap((r) => (r.heldBackIds ?? []).map((id) => key(r.type, id))));
  const byEarlier: Record<string, number> = Object.fromEntries(Object.entries(earlier ?? {}).filter(([c]) => !purgedCategories.includes(c)));
  const out: ErasedResidue[] = [];
  for (const set of h.sets) {
    const ids = (set.ids ?? []).filter((id) => h.refs.some((r) => r.type === set.type && r.id === id));
    const mine = ids.filter((id) => erased.has(key(set.type, id)));
    for (const id of ids.filter((x) => !erased.has(key(set.type, x)) && !still.has(key(set.type, x)))) {
      if ((byEarlier[set.category] ?? 0) <= 0) break;
      byEarlier[set.category] -= 1;
      mine.push(id);
    }
    if (mine.length) out.push({ category: set.category, type: set.type, count: mine.length, reason: set.reason, erasedAt: now.toISOString(), ids: mine });
  }
  return out;
}

/** One audit event per set of residue a purge erased: which connector, category, record type, how many, why it had stayed. */
export async function auditResidueErased(em: EntityManager, task: TaskRow, sets: readonly ErasedResidue[], now: Date): Promise<void> {
  for (const s of sets) {
    await appendAuditEvent(
      em,
      { requestId: task.requestId, actor: SYSTEM_ACTOR, action: "residue.erased", details: { connector: task.connector, taskId: task.id, category: s.category, recordType: s.type, records: s.count, reason: s.reason } },
      now,
    );
  }
}

/**
 * A purge whose connector cannot erase by id (no eraseHeldBack) while its deletion kept records without
 * a date: the connector's erase found them by the person's identities, so it may also have reached such
 * records the person made since. The trail says so, per set, rather than let the count read as exact.
 */
export async function auditUndatedByIdentity(em: EntityManager, task: TaskRow, sets: readonly KeptCount[], now: Date): Promise<void> {
  await auditUndatedSets(em, task, "purge.undated_by_identity", sets, now);
}

/** One audit event per set of kept records without a date a purge left for want of their ids (undatedBeyondIds). */
export async function auditUndatedBeyondIds(em: EntityManager, task: TaskRow, sets: readonly KeptCount[], now: Date): Promise<void> {
  await auditUndatedSets(em, task, "purge.undated_beyond_ids", sets, now);
}

async function auditUndatedSets(em: EntityManager, task: TaskRow, action: string, counts: readonly KeptCount[], now: Date): Promise<void> {
  const sets = perSet(
    counts,
    (r) => ({ category: r.category, recordType: r.type, records: 0 }),
    (set, r) => void (set.records += r.count),
  );
  for (const s of sets) {
    await appendAuditEvent(em, { requestId: task.requestId, actor: SYSTEM_ACTOR, action, details: { connector: task.connector, taskId: task.id, ...s } }, now);
  }
}
