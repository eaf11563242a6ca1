import { randomUUID } from "node:crypto";
import { DataSource, EntityManager, IsNull, MoreThan, Not } from "typeorm";
import { flushAuditEvents } from "../audit/auditTrail";
import { ConnectorError } from "../connectors/sdk";
import { clockSkewProblem } from "../db/clockSkew";
import { isMysql } from "../db/dataSource";
import { inTransaction } from "../db/transaction";
import { hashedEmailKey, normalizeEmail } from "../domain/identities";
import { ActiveHold, holdFor } from "../domain/retention";
import { ErasureFenceRow, ErasureProgressRow, ErasureUnitRow } from "../entities";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import type { Services } from "../services";
import { StopReason, Stopped } from "./stopping";
import { pacedHeartbeat } from "./pacedHeartbeat";
import { Claim, guardedInsert } from "./sql/leaseGuard";

/**
 * The hold fence: placing a legal hold and erasing a held category serialize, in one process on SQLite
 * and across processes on MySQL, without a lock on the erasure's path. Both sides write, then read:
 * a unit of erasure records itself (erasure_units), then reads the subject's pending hold placement and
 * the active holds; a hold placement marks itself pending (erasure_fences), then reads the units under
 * way. Every write commits before the read that follows it, so of two that race at least one sees the
 * other: either the unit sees the hold (or the pending placement, and waits), or the placement sees the
 * unit and waits for it to end. A placement that waits longer than its wait gives up, changing nothing;
 * while it waits no new unit of its categories starts. See docs/connectors.md ("Units of erasure").
 */

/** How often a waiting unit or hold placement looks again. */
const POLL_MS = 40;

/**
 * How long a placement's mark outlives its wait: the time its hold's transaction may take to commit
 * (a lock wait, the SQLite queue). The mark must stand until the hold is committed, or a unit of its
 * categories could start, read no hold yet, and erase after the hold is answered; a transaction
 * slower than this is refused before it commits (markStillStands). Only a placer that died leaves
 * its mark to expire, and units of its categories wait that long.
 */
const COMMIT_MARGIN_MS = 30_000;

/** The fence key of a subject: hashed, so the fence stores no address. */
export function subjectKey(email: string): string {
  return hashedEmailKey(normalizeEmail(email));
}

/** A fence row no placement marks at `:now`. */
const NO_MARK = "(placingUntil IS NULL OR placingUntil <= :now)";

/**
 * Removes the fence rows of subjects no placement is marking now (its mark cleared, or run out), 100
 * keys a statement, each alone: a row outlives its purpose (a placement's turn, a submission's lock)
 * only until the next purge, so the fence keeps no list of everyone who ever asked or was held. The
 * delete re-checks the mark, so a placement that claims a row meanwhile keeps it; one that finds its
 * row gone creates it again (claimMark), as does lockSubject, and a unit reads a missing row as no
 * placement. Returns the rows removed.
 */
export async function purgeIdleFences(services: Pick<Services, "ds" | "clock">): Promise<number> {
  const { ds, clock } = services;
  let removed = 0;
  for (let after = ""; ; ) {
    const now = clock.now();
    const keys = (
      await ds
        .getRepository(ErasureFenceRow)
        .createQueryBuilder("f")
        .select("f.subjectKey", "subjectKey")
        .where("f.subjectKey > :after", { after })
        .andWhere(NO_MARK, { now })
        .orderBy("f.subjectKey", "ASC")
        .limit(100)
        .getRawMany<{ subjectKey: string }>()
    ).map((r) => r.subjectKey);
    if (!keys.length) return removed;
    const { affected } = await alone(ds, (em) => em.getRepository(ErasureFenceRow).createQueryBuilder().delete().where("subjectKey IN (:...keys)", { keys }).andWhere(NO_MARK, { now }).execute());
    removed += affected ?? 0;
    after = keys[keys.length - 1];
  }
}

/**
 * Locks the subject's fence row (created when missing) until the transaction ends: transactions that
 * decide from what is stored about a person (a new request's duplicateOf) take turns on it across
 * processes. On MySQL at READ COMMITTED two such transactions would otherwise each miss the other's
 * uncommitted request; SQLite transactions are exclusive already. Nothing else holds this row's lock
 * for long: the fence's own writes are single statements.
 */
export async function lockSubject(em: EntityManager, email: string, now: Date): Promise<void> {
  if (!isMysql(em.connection)) return;
  await em
    .getRepository(ErasureFenceRow)
    .createQueryBuilder()
    .insert()
    .values({ subjectKey: subjectKey(email), placingCategories: null, placingUntil: null, updatedAt: now })
    .orUpdate(["subjectKey"], ["subjectKey"])
    .execute();
}

const list = (categories: string | null): string[] => (categories ? categories.split(",") : []);
/** Whether two category lists meet; an empty list is every category. */
const meet = (a: readonly string[], b: readonly string[]) => a.length === 0 || b.length === 0 || a.some((c) => b.includes(c));

/**
 * Runs one step on its own: autocommit on MySQL (each statement commits before the next one reads),
 * inside the in-process transaction queue on SQLite (so it neither joins another transaction by
 * accident nor reads one's uncommitted rows on the shared connection).
 */
function alone<T>(ds: DataSource, work: (em: EntityManager) => Promise<T>): Promise<T> {
  return isMysql(ds) ? work(ds.manager) : inTransaction(ds, work);
}

/**
 * Takes the subject's pending-placement mark for `categories` until `until`, when no other placement
 * holds it (none does, or its mark ran out): placements on one subject take turns, because the fence
 * has one mark per subject, and another placement's mark, or its clearing, would lift this one's while
 * this one commits its hold. The mark's `until` is its holder's token (renewMark, clearMark).
 */
async function claimMark(em: EntityManager, key: string, categories: readonly string[], until: Date, now: Date): Promise<boolean> {
  const fences = em.getRepository(ErasureFenceRow);
  const claim = () =>
    fences
      .createQueryBuilder()
      .update()
      .set({ placingCategories: categories.join(",").slice(0, 400), placingUntil: until, updatedAt: now })
      .where("subjectKey = :key", { key })
      .andWhere("(placingUntil IS NULL OR placingUntil <= :now)", { now })
      .execute();
  let { affected } = await claim();
  if (!affected) {
    await fences.createQueryBuilder().insert().values({ subjectKey: key, placingCategories: null, placingUntil: null, updatedAt: now }).orIgnore().execute();
    ({ affected } = await claim());
  }
  return affected === 1;
}

/** Moves the holder's mark on to `until`; false when the mark is no longer the holder's. */
async function renewMark(em: EntityManager, key: string, token: Date, until: Date, now: Date): Promise<boolean> {
  const { affected } = await em.getRepository(ErasureFenceRow).update({ subjectKey: key, placingUntil: token }, { placingUntil: until, updatedAt: now });
  return affected === 1;
}

/** Clears the holder's mark (a mark another placement holds since is left alone). */
async function clearMark(em: EntityManager, key: string, token: Date, now: Date): Promise<void> {
  await em.getRepository(ErasureFenceRow).update({ subjectKey: key, placingUntil: token }, { placingCategories: null, placingUntil: null, updatedAt: now });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Stopped(signal.reason as StopReason));
    const done = () => {
      signal?.removeEventListener("abort", stop);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(new Stopped(signal!.reason as StopReason));
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** Who asks to erase: the task, its request and connector, the subject. */
export interface UnitOwner {
  subjectEmail: string;
  taskId: string;
  requestId: string;
  connector: string;
}

/** A unit that may start: the categories it may touch (none: no unit was recorded), and the holds read with them. */
export interface UnitStart {
  unitId: string | null;
  /** When the unit ends unless extended (on the service's clock), as a hold placement reads it. */
  expiresAt: Date;
  allowed: string[];
  holds: ActiveHold[];
}

/**
 * Starts a unit of erasure over `categories`: records it, then reads the active holds and keeps it over
 * the categories no hold keeps (until `expiresInMs` unless extended). While a hold placement on these
 * categories is pending, it withdraws and waits (bounded by that placement's own wait). With `claim`,
 * the unit is recorded only while that claim holds the task (guardedInsert): an attempt that lost its
 * lease, its signal aborted or not yet (a process stalled past its lease), begins nothing, and a retry
 * that claims the task afterwards reads the unit's note (unfinishedNotes).
 */
export async function beginErasureUnit(
  services: Pick<Services, "ds" | "clock">,
  owner: UnitOwner,
  categories: readonly string[],
  expiresInMs: number,
  signal?: AbortSignal,
  heartbeat?: () => Promise<void>,
  note: string | null = null,
  claim?: Claim,
): Promise<UnitStart> {
  const key = subjectKey(owner.subjectEmail);
  // Recorded only while the attempt's claim holds the task, in the insert itself (no transaction more).
  const insert = claim ? guardedInsert(services.ds, ErasureUnitRow, claim) : (row: ErasureUnitRow) => alone(services.ds, async (em) => (await em.getRepository(ErasureUnitRow).insert(row), true));
  for (let round = 1; ; round++) {
    // An attempt that lost its lease (or was stopped) begins nothing: its retry may have ended the task.
    if (signal?.aborted) throw new Stopped(signal.reason as StopReason);
    // A unit's times are compared on other hosts' clocks: none starts while this one's is off (db/clockSkew.ts).
    const skew = clockSkewProblem(services.ds);
    if (skew) throw new ConnectorError(`The erasure paused: ${skew}; it is retried`, `clock skew: ${skew}`, true);
    const now = services.clock.now();
    const unitId = randomUUID();
    const unit: ErasureUnitRow = { id: unitId, subjectKey: key, taskId: owner.taskId, requestId: owner.requestId, connector: owner.connector, categories: categories.join(",").slice(0, 400), note: note?.slice(0, 500) ?? null, startedAt: now, expiresAt: new Date(now.getTime() + expiresInMs) };
    // Write first, then read: a placement that started before this sees the unit and waits for it.
    if (!(await insert(unit))) throw new Stopped("lease-lost");
    const { placing, holds } = await alone(services.ds, async (em) => {
      const fence = await em.getRepository(ErasureFenceRow).findOneBy({ subjectKey: key });
      const pending = Boolean(fence?.placingUntil && fence.placingUntil > now && meet(list(fence.placingCategories), categories));
      return { placing: pending, holds: pending ? [] : await activeHoldsFor(em, owner.subjectEmail) };
    });
    // Checked again once recorded: a lease lost meanwhile leaves no unit behind to erase under.
    if (signal?.aborted) {
      await alone(services.ds, (em) => em.getRepository(ErasureUnitRow).delete({ id: unitId }));
      throw new Stopped(signal.reason as StopReason);
    }
    const allowed = categories.filter((c) => !holdFor(c, holds));
    if (!placing && allowed.length === categories.length) return { unitId, allowed, holds, expiresAt: unit.expiresAt };
    if (!placing && allowed.length) {
      await alone(services.ds, (em) => em.getRepository(ErasureUnitRow).update({ id: unitId }, { categories: allowed.join(",").slice(0, 400) }));
      return { unitId, allowed, holds, expiresAt: unit.expiresAt };
    }
    await alone(services.ds, (em) => em.getRepository(ErasureUnitRow).delete({ id: unitId }));
    if (!placing) return { unitId: null, allowed, holds, expiresAt: unit.expiresAt };
    // A hold placement is waiting for the units under way: wait for it (it bounds its own wait).
    if (heartbeat && round % 10 === 0) await heartbeat();
    await sleep(POLL_MS, signal);
  }
}

/**
 * Ends one unit: a hold waiting for it may now be placed. A unit that failed keeps its note (if any)
 * for the task's next attempt, expired so that it blocks no hold. One that finishes notes does so only
 * while `guard` holds (false, changing nothing, once the attempt lost its task: UnitGuard).
 */
export async function endErasureUnit(ds: DataSource, unitId: string, failedAt?: Date, finished?: FinishedNote, guard?: UnitGuard): Promise<boolean> {
  const units = ds.getRepository(ErasureUnitRow);
  if (failedAt) await units.update({ id: unitId }, { expiresAt: failedAt });
  if (finished) return inTransaction(ds, async (em) => ((await mayEnd(em, unitId, finished.taskId, guard)) ? (await endNoted(em, unitId, finished), true) : false));
  await units.createQueryBuilder().delete().where("id = :unitId", { unitId }).andWhere(failedAt ? "note IS NULL" : "1 = 1").execute();
  return true;
}

/**
 * Whether the attempt still holds its task (the lease guard), read in a noted unit's end transaction.
 * A noted unit hands its work to the task's next attempt through its note: once that attempt took the
 * task's notes over (takeOverNotes), it got the note back and counts the work itself, so the zombie's
 * late end must neither count it again nor finish (delete, rewrite) the notes the retry now owns; before
 * that, the zombie's end still stands (mayEnd). Units without a note are not fenced: no retry finishes
 * them, it waits for the zombie to count them (otherUnitsEnded).
 */
export type UnitGuard = (em: EntityManager) => Promise<boolean>;

/**
 * In a unit's end transaction: whether it may end as it went (count, finish its notes, leave its own).
 * While its attempt holds the task (`guard`), yes. Once it lost the task, a noted unit still ends while
 * its row stands: the attempt that has the task now takes the task's noted units over (takeOverNotes)
 * before it reads a note, so until then its reading is still to come, and it reads what this end
 * leaves. Refused, the unit's knowledge (which deletes it saw land, which are still in doubt) was lost
 * with it, and its note alone told the next attempt only the range it worked on: the deletes that
 * landed afterwards were named gone by another hand (FEWER_RECORDS), not erased by this deletion.
 * The task's noted rows are locked (MySQL) until commit, as the takeover locks them (same rows, same
 * order: neither waits for the other holding what it needs), so a takeover waits for this end. A unit
 * without a note is not taken over before the next attempt reads the notes: it stays fenced by the guard.
 */
async function mayEnd(em: EntityManager, unitId: string, taskId: string, guard?: UnitGuard): Promise<boolean> {
  if (!guard || (await guard(em))) return true;
  return (await notedRows(em, taskId)).some((u) => u.id === unitId);
}

/** The rows of the task's units left under a note (not its remote unit), locked (MySQL) until commit. */
function notedRows(em: EntityManager, taskId: string): Promise<ErasureUnitRow[]> {
  const qb = em.getRepository(ErasureUnitRow).createQueryBuilder("u").where("u.taskId = :taskId", { taskId }).andWhere("u.id <> :taskId", { taskId }).andWhere("u.note IS NOT NULL").orderBy("u.id", "ASC");
  if (isMysql(em.connection)) qb.setLock("pessimistic_write");
  return qb.getMany();
}

/**
 * Takes over the units earlier attempts of the task left under a note, before this attempt reads a
 * note: each such row is replaced by a copy under a new id, so a unit of an attempt that lost the task
 * and ends only now finds its row gone and changes nothing (mayEnd), and what it had not ended is this
 * attempt's to settle by its note. Units still under way (not expired) are first waited for, at most
 * `maxMs`, so that one that is about to end hands over what it knows (its count, its deletes in doubt)
 * instead of its bare note. A unit whose process stalls longer leaves only its note, as a killed one does.
 */
export async function takeOverNotes(services: Pick<Services, "ds" | "clock">, taskId: string, maxMs: number, heartbeat: () => Promise<void>, signal?: AbortSignal): Promise<void> {
  const { ds, clock } = services;
  const noted = { taskId, id: Not(taskId), note: Not(IsNull()) };
  const until = performance.now() + maxMs;
  const paced = pacedHeartbeat(heartbeat, maxMs);
  while ((await ds.getRepository(ErasureUnitRow).exists({ where: { ...noted, expiresAt: MoreThan(clock.now()) } })) && performance.now() < until && !signal?.aborted) {
    await paced.due();
    await sleep(POLL_MS, signal);
  }
  // None at all (a first attempt, mostly): nothing to take over, and no zombie's unit to end (one ends its own row).
  if (!(await ds.getRepository(ErasureUnitRow).exists({ where: noted }))) return;
  await inTransaction(ds, async (em) => {
    const units = em.getRepository(ErasureUnitRow);
    for (const row of await notedRows(em, taskId)) {
      const { affected } = await units.delete({ id: row.id });
      if (affected) await units.insert({ ...row, id: randomUUID(), expiresAt: row.expiresAt < clock.now() ? row.expiresAt : clock.now() });
    }
  });
}

/**
 * What a unit that ended well finishes of the earlier attempts' units of its task (kept with their
 * notes for a retry): those left under its own `note` are deleted (left in place, a later attempt would
 * get the note back and finish it, and count what it erased, a second time); those left under
 * `supersedes` take its note, or are deleted when it has none (so later attempts read that their work
 * was finished and counted).
 */
export interface FinishedNote {
  taskId: string;
  note: string | null;
  supersedes?: string;
  /** Notes the unit hands to the task's next attempt as it ends (LeftNotes). */
  left?: LeftNotes;
}

/**
 * What a unit that ended well still leaves to the task's next attempt (work it began and could not
 * settle: a DynamoDB delete sent without an answer), written in the transaction of its end and count:
 * each note as a unit of the task already ended (expired at `at`, blocking no hold), as a failed
 * unit's note is kept. They replace `replaces`, the notes an earlier unit of the same call left, so
 * the task holds at every commit exactly what the call has not settled, and an attempt stopped
 * between two units (lease lost, timeout, process killed) leaves none of it unnoted.
 */
export interface LeftNotes {
  owner: UnitOwner;
  category: string;
  notes: readonly string[];
  replaces: readonly string[];
  at: Date;
}

/** Deletes a unit that ended well and finishes the earlier units its note names (FinishedNote), in the caller's transaction. */
async function endNoted(em: EntityManager, unitId: string, finished?: FinishedNote): Promise<void> {
  await em.getRepository(ErasureUnitRow).delete({ id: unitId });
  await finishNotes(em, finished);
}

/** Finishes the earlier units a unit's note names (FinishedNote), in the caller's transaction. */
async function finishNotes(em: EntityManager, finished?: FinishedNote): Promise<void> {
  const units = em.getRepository(ErasureUnitRow);
  if (!finished) return;
  const note = finished.note?.slice(0, 500) ?? null;
  if (note) await units.delete({ taskId: finished.taskId, note });
  if (finished.supersedes && note) await units.update({ taskId: finished.taskId, note: finished.supersedes }, { note });
  else if (finished.supersedes) await units.delete({ taskId: finished.taskId, note: finished.supersedes });
  const left = finished.left;
  if (!left) return;
  for (const old of left.replaces) await units.delete({ taskId: finished.taskId, note: old });
  const row = { subjectKey: subjectKey(left.owner.subjectEmail), taskId: left.owner.taskId, requestId: left.owner.requestId, connector: left.owner.connector, categories: left.category.slice(0, 400), startedAt: left.at, expiresAt: left.at };
  if (left.notes.length) await units.insert(left.notes.map((n) => ({ ...row, id: randomUUID(), note: n.slice(0, 500) })));
}

/**
 * Ends a unit that went well and adds what it erased to its task's progress, in one transaction: a
 * unit whose note a retry would finish (and count) is never also counted here, and a unit counted here
 * has ended; with `finished`, so are the earlier units its note finishes (FinishedNote), in the same transaction.
 * With `guard` (a noted unit's), only while it holds (false, changing nothing, once the attempt lost its task: UnitGuard).
 */
export async function endCountedUnit(ds: DataSource, unitId: string, progress: { taskId: string; category: string; erased: number }, finished?: FinishedNote, guard?: UnitGuard): Promise<boolean> {
  return inTransaction(ds, async (em) => {
    // A noted unit of an attempt that lost its task, taken over: the attempt holding it now settles it (mayEnd).
    if (!(await mayEnd(em, unitId, progress.taskId, guard))) return false;
    // A unit whose row is gone was closed by the attempt that counted the task's units without it
    // (countedByOthers) or ended with the task: counted now, it would land after that count was taken.
    const { affected } = await em.getRepository(ErasureUnitRow).delete({ id: unitId });
    if (!affected) return false;
    await addProgress(em, progress);
    await finishNotes(em, finished);
    return true;
  });
}

/** Adds what a unit (or notes settled by reading) erased to its task's progress, in the caller's transaction. */
async function addProgress(em: EntityManager, progress: { taskId: string; category: string; erased: number }): Promise<void> {
  const upsert = isMysql(em.connection) ? "ON DUPLICATE KEY UPDATE erased = erased + VALUES(erased)" : "ON CONFLICT(taskId, category) DO UPDATE SET erased = erased + excluded.erased";
  await em.query(`INSERT INTO erasure_progress (taskId, category, erased) VALUES (?, ?, ?) ${upsert}`, [progress.taskId, progress.category.slice(0, 40), progress.erased]);
}

/**
 * Finishes `notes` of a task, settled by reading alone (a hold refused the unit that would have finished
 * them), and adds what their work erased to the task's progress, in one transaction, only while `guard`
 * holds (false, changing nothing, once the attempt lost its task). Before, the notes went with the
 * task's units at the end of the erase call and the count only with the task's completion: a process
 * that died in between (a verification pass takes a while) left the retry neither note nor count.
 */
export async function settleNoted(ds: DataSource, progress: { taskId: string; category: string; erased: number }, notes: readonly string[], guard: UnitGuard, left?: LeftNotes): Promise<boolean> {
  return inTransaction(ds, async (em) => {
    if (!(await guard(em))) return false;
    for (const note of new Set(notes.map((n) => n.slice(0, 500)))) await em.getRepository(ErasureUnitRow).delete({ taskId: progress.taskId, note });
    if (progress.erased > 0) await addProgress(em, progress);
    // What the settling hands on (LeftNotes), in the same transaction.
    if (left) await finishNotes(em, { taskId: progress.taskId, note: null, left });
    return true;
  });
}

/** What the task's units erased in attempts before this one, per category (read before this attempt's first unit). */
export async function erasedByEarlierUnits(ds: DataSource, taskId: string): Promise<Record<string, number>> {
  const rows = await ds.getRepository(ErasureProgressRow).findBy({ taskId });
  return Object.fromEntries(rows.filter((r) => r.erased > 0).map((r) => [r.category, Number(r.erased)]));
}

/**
 * What other attempts' units of the task counted, per category, read once their units still open
 * without a note are closed: each such unit either counted before the close (read here) or finds its
 * row gone and counts nothing (endCountedUnit), so no count lands after this read, nor after the task
 * completed. Their notes, if any, stay for the retries (UnitGuard fences those).
 */
export async function countedByOthers(ds: DataSource, taskId: string, own: ReadonlySet<string>): Promise<Record<string, number>> {
  await alone(ds, (em) => {
    const close = em.getRepository(ErasureUnitRow).createQueryBuilder().delete().where("taskId = :taskId", { taskId }).andWhere("id <> :taskId", { taskId }).andWhere("note IS NULL");
    return (own.size ? close.andWhere("id NOT IN (:...own)", { own: [...own] }) : close).execute();
  });
  return erasedByEarlierUnits(ds, taskId);
}

/**
 * Waits, at most `maxMs`, while units of the task not in `own` are under way (no note: a unit with one
 * was kept for a retry; not the task's remote unit). An attempt that lost its lease mid-unit goes on
 * until its statement returns and counts what it erased only as its unit ends, so a retry that counted
 * before then would report what that unit erased as never erased. A unit whose process died stays
 * until the task's units end (endTaskUnits): that is waited for `maxMs`, then the count goes on.
 */
export async function otherUnitsEnded(ds: DataSource, taskId: string, own: ReadonlySet<string>, maxMs: number, heartbeat: () => Promise<void>, signal?: AbortSignal): Promise<void> {
  const until = performance.now() + maxMs;
  const paced = pacedHeartbeat(heartbeat, maxMs);
  for (;;) {
    const open = await ds.getRepository(ErasureUnitRow).find({ select: { id: true }, where: { taskId, id: Not(taskId), note: IsNull() } });
    if (!open.some((u) => !own.has(u.id)) || performance.now() >= until || signal?.aborted) return;
    await paced.due();
    await sleep(POLL_MS, signal);
  }
}

/** Notes of the units earlier attempts of a task began and never finished, oldest first, each with its unit's categories. */
export async function unfinishedNotes(ds: DataSource, taskId: string): Promise<{ note: string; categories: string[] }[]> {
  const rows = await ds.getRepository(ErasureUnitRow).find({ where: { taskId, note: Not(IsNull()) }, order: { startedAt: "ASC" } });
  return rows.map((r) => ({ note: r.note!, categories: list(r.categories) }));
}

/**
 * The categories earlier attempts of a task may have written records of: those their units counted
 * (erasure_progress), and those of units they began and never ended (the process died mid-unit, its
 * write may have committed). Read before this attempt's first unit.
 */
export async function writtenByEarlierUnits(ds: DataSource, taskId: string): Promise<Set<string>> {
  const open = await ds.getRepository(ErasureUnitRow).find({ select: { categories: true }, where: { taskId, id: Not(taskId) } });
  return new Set([...Object.keys(await erasedByEarlierUnits(ds, taskId)), ...open.flatMap((u) => list(u.categories))]);
}

/**
 * The note of a correction's unit whose write may have committed although the unit did not end well:
 * its work (or, before the connector's first own unit, its whole call) threw, and a write's answer can
 * be lost after the system applied it (a connection cut after COMMIT, an HTTP 200 that never arrived, a
 * 202 the system carries out later). Kept, expired, so that the task's next attempt reads that the
 * unit's categories may hold the corrected values (writtenByEarlierUnits), a deletion reads that the
 * correction may have moved an identity (identityMovedSince), and a correction that then fails says the
 * system may hold the new values. Gone with the task's completion (dropUnitsInDoubt).
 */
export const RECTIFY_IN_DOUBT = "rectify:write-in-doubt";

/** Leaves a correction's unit in doubt (RECTIFY_IN_DOUBT): expired, so that it blocks no hold, and kept. */
export async function leaveUnitInDoubt(ds: DataSource, unitId: string, at: Date): Promise<void> {
  await alone(ds, (em) => em.getRepository(ErasureUnitRow).update({ id: unitId }, { expiresAt: at, note: RECTIFY_IN_DOUBT }));
}

/** Drops a completed correction's units left in doubt, in its completion's transaction: its outcome says what the system holds now. */
export async function dropUnitsInDoubt(em: EntityManager, taskId: string): Promise<void> {
  await em.getRepository(ErasureUnitRow).delete({ taskId, note: RECTIFY_IN_DOUBT });
}

/**
 * Ends every unit of a task when its erase call returned; when it failed, or (`keepNotes`) its task goes
 * on to complete, units with a note stay (expired) for the next attempt: until the completion drops them
 * (dropTaskNotes), an attempt that takes over from a process that died meanwhile still gets them. The
 * task's remote unit is not one of them: it ends with the remote work (endRemoteUnit).
 */
export async function endTaskUnits(ds: DataSource, taskId: string, failedAt?: Date, keepNotes = false): Promise<void> {
  const units = ds.getRepository(ErasureUnitRow);
  if (failedAt) await units.update({ taskId, id: Not(taskId) }, { expiresAt: failedAt });
  await units.createQueryBuilder().delete().where("taskId = :taskId", { taskId }).andWhere("id <> :taskId", { taskId }).andWhere(failedAt || keepNotes ? "note IS NULL" : "1 = 1").execute();
}

/** Drops an erasure's notes left at its call's end (endTaskUnits' keepNotes), in its completion's transaction: its outcome says what they did. */
export async function dropTaskNotes(em: EntityManager, taskId: string): Promise<void> {
  await em.getRepository(ErasureUnitRow).createQueryBuilder().delete().where("taskId = :taskId", { taskId }).andWhere("id <> :taskId", { taskId }).andWhere("note IS NOT NULL").execute();
}

/** Keeps a task's live units alive with its lease (called on heartbeat); the remote unit keeps its own time. */
export async function extendTaskUnits(ds: DataSource, taskId: string, now: Date, expiresAt: Date): Promise<void> {
  await ds.getRepository(ErasureUnitRow).update({ taskId, id: Not(taskId), expiresAt: MoreThan(now) }, { expiresAt });
}

/**
 * The task's remote unit: erasure the remote system carries on after the call that started it returned
 * and that nobody can call back (a Stripe redaction job that was run). It has the task's id as its own,
 * so a task has at most one; it is written before the unit that started the remote work ends (no hold
 * placement can slip in between) and lasts until the remote work has ended (endRemoteUnit) or until
 * `expiresAt`, which each poll moves on. While it lasts, a hold on its categories is refused.
 */
export async function holdRemoteUnit(ds: DataSource, owner: UnitOwner, categories: readonly string[], now: Date, expiresAt: Date): Promise<void> {
  await alone(ds, async (em) => {
    const units = em.getRepository(ErasureUnitRow);
    const existing = await units.findOneBy({ id: owner.taskId });
    const merged = [...new Set([...list(existing?.categories ?? null), ...categories])];
    if (existing) await units.update({ id: owner.taskId }, { categories: merged.join(",").slice(0, 400), expiresAt });
    else await units.insert({ id: owner.taskId, subjectKey: subjectKey(owner.subjectEmail), taskId: owner.taskId, requestId: owner.requestId, connector: owner.connector, categories: merged.join(",").slice(0, 400), note: null, startedAt: now, expiresAt });
  });
}

/** Moves the remote unit's end on (nothing when the task has none). */
export async function extendRemoteUnit(ds: DataSource, taskId: string, expiresAt: Date): Promise<void> {
  await alone(ds, (em) => em.getRepository(ErasureUnitRow).update({ id: taskId }, { expiresAt }));
}

/** The remote work ended (or will never be polled again): holds on its categories may be placed. */
export async function endRemoteUnit(ds: DataSource, taskId: string): Promise<void> {
  await alone(ds, (em) => em.getRepository(ErasureUnitRow).delete({ id: taskId }));
}

/** Whether units a hold placement met include remote work, which does not end in a moment. */
export const remoteUnits = (units: readonly Pick<ErasureUnitRow, "id" | "taskId">[]) => units.filter((u) => u.id === u.taskId);

/**
 * The units a hold placement met, in words for the person placing the hold: what is being done (erased;
 * corrected, for the units of a correction's RECTIFY, whose task ids are `corrections`) and the units.
 */
export function describeUnits(units: readonly Pick<ErasureUnitRow, "id" | "taskId" | "connector" | "categories" | "requestId">[], corrections: ReadonlySet<string> = new Set()): { doing: string; units: string } {
  const corrected = (u: { taskId: string }) => corrections.has(u.taskId);
  const doing = [units.some((u) => !corrected(u)) ? "erased" : "", units.some(corrected) ? "corrected" : ""].filter(Boolean).join(" and ");
  const described = units
    .map((u) => `${u.categories.split(",").join(", ")} through connector ${u.connector} for ${corrected(u) ? "correction" : "deletion"} request ${u.requestId}${u.id === u.taskId ? " (the remote system is erasing them and cannot be called back)" : ""}`)
    .join("; ");
  return { doing, units: described };
}

/** What a hold placement met: done (placed), or the units under way after waiting `waitMs`. */
export type FencedPlacement<T> = { placed: T } | { busy: ErasureUnitRow[] } | { late: true };

/**
 * Runs `place` (the hold's insert, in one transaction) once no unit of `categories` (empty: all) is
 * under way. Units under way are waited for up to `waitMs`, during which the pending mark keeps new
 * units of these categories from starting; after that the placement gives up, changing nothing, and
 * returns the units met. Placements on one subject take turns on the mark (claimMark); one whose turn
 * does not come within `waitMs`, or whose transaction outlasts its mark, gives up likewise (late).
 */
export async function placeUnderFence<T>(services: Pick<Services, "ds" | "clock">, subjectEmail: string, categories: readonly string[], waitMs: number, place: (em: EntityManager) => Promise<T>): Promise<FencedPlacement<T>> {
  const { ds, clock } = services;
  const key = subjectKey(subjectEmail);
  const deadline = performance.now() + waitMs;
  const until = () => new Date(clock.now().getTime() + Math.max(0, deadline - performance.now()) + COMMIT_MARGIN_MS);
  // Write first, then read: a unit that starts after the mark sees it and waits.
  let token: Date | null = null;
  while (!token) {
    const mark = until();
    if (await alone(ds, (em) => claimMark(em, key, categories, mark, clock.now()))) token = mark;
    else if (performance.now() >= deadline) return { late: true };
    else await sleep(POLL_MS);
  }
  try {
    for (;;) {
      const live = await alone(ds, (em) => em.getRepository(ErasureUnitRow).findBy({ subjectKey: key, expiresAt: MoreThan(clock.now()) }));
      const busy = live.filter((u) => meet(list(u.categories), categories));
      if (!busy.length) {
        const mark = token;
        try {
          return {
            placed: await inTransaction(ds, async (em) => {
              const result = await place(em);
              // Last, just before the commit (audit events included): the mark still keeps units out.
              await flushAuditEvents(em);
              if (!(await markStillStands(em, key, mark, clock.now()))) throw new MarkExpired();
              return result;
            }),
          };
        } catch (error) {
          if (error instanceof MarkExpired) return { late: true };
          throw error;
        }
      }
      if (performance.now() >= deadline) return { busy };
      await sleep(POLL_MS);
      const next = until();
      if (!(await alone(ds, (em) => renewMark(em, key, token!, next, clock.now())))) return { late: true };
      token = next;
    }
  } finally {
    await alone(ds, (em) => clearMark(em, key, token!, clock.now()));
  }
}

/** A placement's transaction outlasted its mark: it rolls back rather than commit a hold units did not wait for. */
class MarkExpired extends Error {}

/** Whether the placement's mark (`token`) is still the subject's and still keeps units out at `now`. */
async function markStillStands(em: EntityManager, key: string, token: Date, now: Date): Promise<boolean> {
  const fence = await em.getRepository(ErasureFenceRow).findOneBy({ subjectKey: key });
  return fence?.placingUntil?.getTime() === token.getTime() && token > now;
}
