import type { ConnectorSpec, DataCategory, ErasureInstruction, TaskContext } from "../connectors/sdk";
import { ActiveHold, holdFor } from "../domain/retention";
import type { Services } from "../services";
import { holdExceptions } from "./deletion";
import { beginErasureUnit, countedByOthers, endCountedUnit, endErasureUnit, endTaskUnits, holdRemoteUnit, LeftNotes, otherUnitsEnded, settleNoted, takeOverNotes, unfinishedNotes, UnitGuard, UnitOwner } from "./holdFence";
import { Stopped } from "./stopping";
import type { KeptException } from "./sql/completeTask";
import { pacedHeartbeat } from "./pacedHeartbeat";
import { Claim, holdsLease } from "./sql/leaseGuard";

/** An erase call inside the hold fence: the holds read when it started, the context to give the connector, and its end. */
export interface FencedErasure {
  holds: ActiveHold[];
  /** The task's context with an eraseUnit that checks the holds under the fence before each unit. */
  ctx: TaskContext;
  /**
   * Ends every unit of the task: when the call failed, only those without a note; when it returned and
   * the task goes on to complete (`completing`), those without a note too, the notes staying, expired, for
   * an attempt that takes the task over before the completion drops them (a process that dies in the
   * verification pass); otherwise (the call parked remote work) all of them.
   */
  end(how?: "failed" | "completing"): Promise<void>;
  /**
   * What the task's units of other attempts erased, per category, read now: those that ended before
   * this attempt began, and those of an attempt that lost its lease mid-unit and ended the unit while
   * this one ran (its records are gone before this attempt could find them, and counted by that unit
   * only). This attempt's own counted units are left out: its outcome counts them.
   */
  erasedByOthers(): Promise<Record<string, number>>;
  /** What this attempt's own units counted, per category (in erasure_progress, as every attempt's). */
  ownCounted(): Record<string, number>;
  /**
   * The categories of the units earlier attempts left under a note, whose notes this call hands the
   * connector to settle: what their writes did is then the connector's count (erased, or still there),
   * no longer what a failed attempt may have erased (FailedErasure.goneIn, unsettled).
   */
  notedCategories: ReadonlySet<string>;
}

/** Of what a failed attempt may have erased (FailedErasure.goneIn), the categories no note handed to this run settles. */
export function unsettled(goneIn: Readonly<Record<string, number>> | undefined, noted: ReadonlySet<string>): Record<string, number> | undefined {
  return goneIn && Object.fromEntries(Object.entries(goneIn).filter(([category]) => !noted.has(category)));
}

/**
 * Starts an erase call inside the hold fence: reads the holds and records the whole call as one unit
 * over the categories no hold keeps. The connector's first own unit replaces that outer unit; from
 * then on each unit starts only if no hold took its category meanwhile, and a category withdrawn once
 * stays withdrawn for the rest of the call (its records are then counted as the hold's).
 */
export async function fencedErasure(services: Pick<Services, "ds" | "clock">, owner: UnitOwner, categories: readonly DataCategory[], ctx: TaskContext, leaseMs: number, signal: AbortSignal, claim: Claim): Promise<FencedErasure> {
  const guard: UnitGuard = (em) => holdsLease(em, claim.task, claim.workerId);
  // Read before this attempt's own units exist: what earlier attempts left unfinished. Whatever the
  // attempt counter says: an operator's retryTask starts a FAILED task's attempts from 1 again, and its
  // run must settle the notes the failed attempts left (a DELETE whose answer was lost, a user deleted
  // only softly), or their work is never finished nor counted (a first attempt reads none, one statement).
  // Taken over first: a unit of an attempt that lost the task and is ending now hands over what it
  // knows (its count, its deletes in doubt) before the notes are read, or not at all (mayEnd).
  await takeOverNotes(services, owner.taskId, leaseMs, () => ctx.heartbeat(), signal);
  const noted = await unfinishedNotes(services.ds, owner.taskId);
  const unfinished = noted.map((n) => n.note);
  const start = await beginErasureUnit(services, owner, categories.map(String), leaseMs, signal, () => ctx.heartbeat(), null, claim);
  let outer = start.unitId;
  // The units this attempt began (erasedByOthers waits for the others').
  const mine = new Set<string>(start.unitId ? [start.unitId] : []);
  // What this attempt's own units counted (erasure_progress holds every attempt's).
  const own: Record<string, number> = {};
  const withdrawn = new Set<string>(categories.map(String).filter((c) => !start.allowed.includes(c)));
  // Whether units of the task may be left under a note a unit of this attempt ends with: earlier
  // attempts' (read above; none begins once this attempt has the task), or this attempt's failed ones.
  let notesLeft = unfinished.length > 0;
  // Units cost two short transactions each: a connector that heartbeats every N units could now miss
  // its lease, so the fence heartbeats itself once a third of the lease has passed.
  const paced = pacedHeartbeat(() => ctx.heartbeat(), leaseMs);
  const heartbeat = paced.now;
  // The unit whose work runs now: its writes must commit before it ends (unitTimeLeft).
  let running: (() => number) | null = null;
  // The notes this call's units left for the next attempt at their ends (unitOptions.leaves): the next one to end replaces them.
  let leftByMe: readonly string[] = [];
  const eraseUnit: TaskContext["eraseUnit"] = async (category, work, note, unitOptions) => {
    if (outer) {
      await endErasureUnit(services.ds, outer);
      outer = null;
    }
    if (withdrawn.has(String(category)) || !categories.map(String).includes(String(category))) return false;
    // A unit begins only while this attempt holds the task (beginErasureUnit's claim): a retry that
    // claims the task after it reads its note, and no retry that claimed it before (its notes read) is
    // met by work it never hears of, counted after its own count, or done after it completed the task.
    const unit = await beginErasureUnit(services, owner, [String(category)], leaseMs, signal, heartbeat, note ?? null, claim);
    if (unit.unitId) mine.add(unit.unitId);
    if (!unit.unitId) {
      withdrawn.add(String(category));
      ctx.logger.info({ category: String(category) }, "a legal hold withdrew the category from the running erasure");
      return false;
    }
    let erased: void | number;
    running = unitClock(services.clock, unit.expiresAt, leaseMs);
    try {
      erased = await work();
    } catch (error) {
      if (note) notesLeft = true;
      await endErasureUnit(services.ds, unit.unitId, services.clock.now());
      throw error;
    } finally {
      running = null;
    }
    // Remote work that goes on after this unit: its fence is written before this unit's ends, so no hold
    // placement finds the category free in between (the orchestrator moves its end on at each poll).
    if (unitOptions?.remote) await holdRemoteUnit(services.ds, owner, [String(category)], services.clock.now(), new Date(services.clock.now().getTime() + leaseMs));
    // Ended well, the unit finishes its note, and the note it supersedes: earlier attempts' units left
    // with them are not finished (nor counted) again.
    // Only while this attempt holds the task (UnitGuard), or, lost, while no retry took the notes over
    // (mayEnd): a retry that got the note back counts it.
    // With no unit left under its note, a unit finishes none (one statement less each).
    // What it leaves to the next attempt replaces what the call's units left before (LeftNotes).
    const leaves = unitOptions?.leaves?.();
    const left: LeftNotes | undefined = leaves && (leaves.length || leftByMe.length) ? { owner, category: String(category), notes: leaves, replaces: leftByMe, at: services.clock.now() } : undefined;
    const finished = (note && notesLeft) || unitOptions?.supersedes || left ? { taskId: owner.taskId, note: note ?? null, supersedes: unitOptions?.supersedes, left } : undefined;
    const counted = typeof erased === "number" && erased > 0;
    const ended = counted
      ? await endCountedUnit(services.ds, unit.unitId, { taskId: owner.taskId, category: String(category), erased: erased as number }, finished, note || left ? guard : undefined)
      : await endErasureUnit(services.ds, unit.unitId, undefined, finished, guard);
    if (!ended) {
      // Left as a failed unit's: its note stays for the attempt that has the task, blocking no hold.
      await endErasureUnit(services.ds, unit.unitId, services.clock.now());
      throw new Stopped("lease-lost");
    }
    if (counted) own[String(category)] = (own[String(category)] ?? 0) + (erased as number);
    if (left) {
      leftByMe = left.notes;
      if (left.notes.length) notesLeft = true;
    }
    await paced.due();
    return true;
  };
  // Notes settled by reading (a hold refused the unit that would finish them): finished and counted in one transaction.
  const settleNotes: NonNullable<TaskContext["settleNotes"]> = async (category, notes, erased, leaves) => {
    const n = Math.max(0, Math.floor(erased));
    const replaces = leftByMe.filter((left) => !notes.includes(left));
    const left: LeftNotes | undefined = leaves && (leaves.length || replaces.length) ? { owner, category: String(category), notes: leaves, replaces, at: services.clock.now() } : undefined;
    if (!(await settleNoted(services.ds, { taskId: owner.taskId, category: String(category), erased: n }, notes, guard, left))) throw new Stopped("lease-lost");
    if (n) own[String(category)] = (own[String(category)] ?? 0) + n;
    leftByMe = left ? left.notes : replaces;
    if (left?.notes.length) notesLeft = true;
  };
  const erasedByOthers = async () => {
    await otherUnitsEnded(services.ds, owner.taskId, mine, leaseMs, heartbeat, signal);
    const all = await countedByOthers(services.ds, owner.taskId, mine);
    return Object.fromEntries(Object.entries(all).flatMap(([c, n]) => (n - (own[c] ?? 0) > 0 ? [[c, n - (own[c] ?? 0)]] : [])));
  };
  return {
    holds: start.holds,
    ctx: { ...ctx, heartbeat, eraseUnit, settleNotes, unfinishedUnits: async () => unfinished, unitTimeLeft: () => running?.() },
    end: (how) => endTaskUnits(services.ds, owner.taskId, how === "failed" ? services.clock.now() : undefined, how === "completing"),
    erasedByOthers,
    ownCounted: () => ({ ...own }),
    notedCategories: new Set(noted.flatMap((n) => n.categories)),
  };
}

/**
 * The time a unit's writes have left, in ms: until the unit's end as a hold placement reads it (its
 * `expiresAt`, on the service's clock; heartbeats only move it later, so the end read at its start is
 * safe), and no longer than that much real time from now either (a clock moved by hand, or stepped),
 * less a quarter lease kept for the commit, the round trip and the hosts' clocks. A unit's work is
 * not interrupted by heartbeats, so nothing extends it while its statement runs anyway.
 */
export function unitClock(clock: { now(): Date }, expiresAt: Date, leaseMs: number): () => number {
  const realEnd = performance.now() + (expiresAt.getTime() - clock.now().getTime());
  const reserve = leaseMs - unitMsOf(leaseMs);
  return () => Math.min(expiresAt.getTime() - clock.now().getTime(), realEnd - performance.now()) - reserve;
}

/** The time a unit of erasure has for its writes under a task lease (unitClock at the unit's start): three quarters of it. */
export const unitMsOf = (leaseMs: number): number => leaseMs - leaseMs / 4;

/** The least whole-ms lease whose units have `minUnitMs` for their writes (unitMsOf's inverse). */
export const leastLeaseFor = (minUnitMs: number): number => Math.ceil((minUnitMs * 4) / 3);

/**
 * The connectors whose units of erasure would be too short under this lease for their erase to write
 * anything (ConnectorSpec.minUnitMs), each as a problem naming DSR_TASK_LEASE_MS and the least lease.
 */
export function leaseProblems(connectors: readonly { spec: Pick<ConnectorSpec, "name" | "minUnitMs"> }[], leaseMs: number): string[] {
  return connectors.flatMap(({ spec }) => {
    if (spec.minUnitMs === undefined || unitMsOf(leaseMs) >= spec.minUnitMs) return [];
    const least = leastLeaseFor(spec.minUnitMs);
    return [`DSR_TASK_LEASE_MS is ${leaseMs} ms, too short for connector ${spec.name}: a unit of erasure lasts three quarters of the lease, and its erase needs ${spec.minUnitMs} ms of one to write anything; set DSR_TASK_LEASE_MS to ${least} or more`];
  });
}

/** The categories of an instruction that a hold keeps now, what is left to verify, and the hold's exceptions. */
export interface Withdrawn {
  categories: string[];
  /** The instruction without them: what the erasure was still allowed to finish. */
  instruction: ErasureInstruction;
  /** The exceptions of the holds for what is left of those categories (counts per category from a fresh look). */
  exceptions(left: Readonly<Record<string, number>>): KeptException[];
}

/** Compares an instruction with the holds active now: a hold placed while the erasure ran keeps what is left. */
export function withdrawnCategories(instruction: ErasureInstruction, holds: readonly ActiveHold[]): Withdrawn {
  const categories = instruction.categories.map(String).filter((c) => holdFor(c, holds));
  const remaining = instruction.categories.filter((c) => !categories.includes(String(c)));
  const keep = instruction.keepRecordedSince ? Object.fromEntries(Object.entries(instruction.keepRecordedSince).filter(([c]) => !categories.includes(c))) : undefined;
  const narrowed: ErasureInstruction = keep && Object.keys(keep).length ? { categories: remaining, keepRecordedSince: keep } : { categories: remaining };
  return {
    categories,
    instruction: narrowed,
    exceptions: (left) =>
      holdExceptions(
        categories.map((category) => ({ category, found: left[category] ?? 0 })),
        { holds },
        narrowed,
      ),
  };
}
