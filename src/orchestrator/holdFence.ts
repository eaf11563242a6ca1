import { createHash, randomUUID } from "node:crypto";
import { DataSource, EntityManager, IsNull, MoreThan, Not } from "typeorm";
import { isMysql } from "../db/dataSource";
import { inTransaction } from "../db/transaction";
import { ActiveHold, holdFor } from "../domain/retention";
import { ErasureFenceRow, ErasureUnitRow } from "../entities";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import type { Services } from "../services";
import { StopReason, Stopped } from "./stopping";

/**
 * The hold fence: placing a legal hold and erasing a held category serialize, in one process on SQLite
 * and across processes on MySQL. Both take the subject's fence row (SELECT ... FOR UPDATE). A unit of
 * erasure starts only under that lock, after reading the holds, and is recorded (erasure_units) until it
 * ends; a hold placement under the same lock either finds no unit of its categories under way (and the
 * hold takes effect before any further record is touched), or waits for them to end while it blocks new
 * ones, or refuses with CONFLICT naming them. See docs/connectors.md ("Units of erasure").
 */

/** How often a waiting unit or hold placement looks again. */
const POLL_MS = 40;

/** The fence key of a subject: hashed, so the fence stores no address. */
export function subjectKey(email: string): string {
  return createHash("sha256").update(email.trim().toLowerCase()).digest("hex");
}

const list = (categories: string | null): string[] => (categories ? categories.split(",") : []);
/** Whether two category lists meet; an empty list is every category. */
const meet = (a: readonly string[], b: readonly string[]) => a.length === 0 || b.length === 0 || a.some((c) => b.includes(c));

/** Locks the subject's fence row for the rest of the transaction, creating it the first time. */
async function lockFence(em: EntityManager, key: string, now: Date): Promise<ErasureFenceRow> {
  const repo = em.getRepository(ErasureFenceRow);
  const read = async () => {
    if (isMysql(em.connection)) await em.query("SELECT subjectKey FROM erasure_fences WHERE subjectKey = ? FOR UPDATE", [key]);
    return repo.findOneBy({ subjectKey: key });
  };
  const found = await read();
  if (found) return found;
  await repo.createQueryBuilder().insert().values({ subjectKey: key, placingCategories: null, placingUntil: null, updatedAt: now }).orIgnore().execute();
  return (await read())!;
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
  allowed: string[];
  holds: ActiveHold[];
}

/**
 * Starts a unit of erasure over `categories`: under the subject's fence, reads the active holds, and
 * records a unit over the categories no hold keeps (until `expiresInMs` unless extended). While a hold
 * placement on these categories is waiting, it waits first (bounded by that placement's own wait).
 */
export async function beginErasureUnit(
  services: Pick<Services, "ds" | "clock">,
  owner: UnitOwner,
  categories: readonly string[],
  expiresInMs: number,
  signal?: AbortSignal,
  heartbeat?: () => Promise<void>,
  note: string | null = null,
): Promise<UnitStart> {
  const key = subjectKey(owner.subjectEmail);
  for (let round = 1; ; round++) {
    const started = await inTransaction(services.ds, async (em) => {
      const now = services.clock.now();
      const fence = await lockFence(em, key, now);
      if (fence.placingUntil && fence.placingUntil > now && meet(list(fence.placingCategories), categories)) return undefined;
      const holds = await activeHoldsFor(em, owner.subjectEmail);
      const allowed = categories.filter((c) => !holdFor(c, holds));
      if (!allowed.length) return { unitId: null, allowed, holds };
      const unitId = randomUUID();
      await em.getRepository(ErasureUnitRow).insert({
        id: unitId,
        subjectKey: key,
        taskId: owner.taskId,
        requestId: owner.requestId,
        connector: owner.connector,
        categories: allowed.join(",").slice(0, 400),
        note: note?.slice(0, 500) ?? null,
        startedAt: now,
        expiresAt: new Date(now.getTime() + expiresInMs),
      });
      return { unitId, allowed, holds };
    });
    if (started) return started;
    // Waiting for a hold placement keeps the task's lease.
    if (heartbeat && round % 10 === 0) await heartbeat();
    await sleep(POLL_MS, signal);
  }
}

/**
 * Ends one unit: a hold waiting for it may now be placed. A unit that failed keeps its note (if any)
 * for the task's next attempt, expired so that it blocks no hold.
 */
export async function endErasureUnit(ds: DataSource, unitId: string, failedAt?: Date): Promise<void> {
  const units = ds.getRepository(ErasureUnitRow);
  if (failedAt) await units.update({ id: unitId }, { expiresAt: failedAt });
  await units.createQueryBuilder().delete().where("id = :unitId", { unitId }).andWhere(failedAt ? "note IS NULL" : "1 = 1").execute();
}

/** Notes of the units earlier attempts of a task began and never finished, oldest first. */
export async function unfinishedNotes(ds: DataSource, taskId: string): Promise<string[]> {
  const rows = await ds.getRepository(ErasureUnitRow).find({ where: { taskId, note: Not(IsNull()) }, order: { startedAt: "ASC" } });
  return rows.map((r) => r.note!);
}

/** Ends every unit of a task when its erase call returned; when it failed, units with a note stay (expired) for the next attempt. */
export async function endTaskUnits(ds: DataSource, taskId: string, failedAt?: Date): Promise<void> {
  const units = ds.getRepository(ErasureUnitRow);
  if (failedAt) await units.update({ taskId }, { expiresAt: failedAt });
  await units.createQueryBuilder().delete().where("taskId = :taskId", { taskId }).andWhere(failedAt ? "note IS NULL" : "1 = 1").execute();
}

/** Keeps a task's live units alive with its lease (called on heartbeat). */
export async function extendTaskUnits(ds: DataSource, taskId: string, now: Date, expiresAt: Date): Promise<void> {
  await ds.getRepository(ErasureUnitRow).update({ taskId, expiresAt: MoreThan(now) }, { expiresAt });
}

/** A unit a hold placement met, in words for the person placing the hold. */
export function describeUnits(units: readonly Pick<ErasureUnitRow, "connector" | "categories" | "requestId">[]): string {
  return units.map((u) => `${u.categories.split(",").join(", ")} through connector ${u.connector} for deletion request ${u.requestId}`).join("; ");
}

/** What a hold placement met: done (placed), or the units under way after waiting `waitMs`. */
export type FencedPlacement<T> = { placed: T } | { busy: ErasureUnitRow[] };

/**
 * Runs `place` (the hold's insert) under the subject's fence once no unit of `categories` (empty: all)
 * is under way. Units under way are waited for up to `waitMs`, during which no new unit of these
 * categories starts; after that the placement gives up, changing nothing, and returns the units met.
 */
export async function placeUnderFence<T>(services: Pick<Services, "ds" | "clock">, subjectEmail: string, categories: readonly string[], waitMs: number, place: (em: EntityManager) => Promise<T>): Promise<FencedPlacement<T>> {
  const key = subjectKey(subjectEmail);
  const deadline = Date.now() + waitMs;
  let marked = false;
  for (;;) {
    const outcome = await inTransaction(services.ds, async (em): Promise<FencedPlacement<T> | undefined> => {
      const now = services.clock.now();
      await lockFence(em, key, now);
      const live = await em.getRepository(ErasureUnitRow).findBy({ subjectKey: key, expiresAt: MoreThan(now) });
      const busy = live.filter((u) => meet(list(u.categories), categories));
      const fences = em.getRepository(ErasureFenceRow);
      const clear = async () => {
        if (marked) await fences.update({ subjectKey: key }, { placingCategories: null, placingUntil: null, updatedAt: now });
      };
      if (!busy.length) {
        await clear();
        return { placed: await place(em) };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        await clear();
        return { busy };
      }
      // Waiting: new units of these categories wait too, so the ones under way can only end.
      await fences.update({ subjectKey: key }, { placingCategories: categories.join(",").slice(0, 400), placingUntil: new Date(now.getTime() + left + POLL_MS * 5), updatedAt: now });
      marked = true;
      return undefined;
    });
    if (outcome) return outcome;
    await sleep(POLL_MS);
  }
}
