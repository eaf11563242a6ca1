import type { ErasureInstruction, ErasureOutcome, KeptRecords, ResidualRecords } from "../connectors/sdk";
import { CategoryOutcome, compareWithPlan, OutcomeLine } from "../domain/counting";
import type { DeletionContext } from "../domain/retention";
import { holdFor } from "../domain/retention";
import type { DeletionPlanItemRow, PartialErasure, SettledErasure, StoredResidual, TaskResult } from "../entities";
import type { KeptException } from "./sql/completeTask";

/** An erasure's outcome so far, across erase and the polls of its remote work. */
export interface ErasureSoFar {
  erased: number;
  redacted: number;
  erasedIn: Record<string, number>;
  /** Of redacted, per category, where the connector said it. */
  redactedIn: Record<string, number>;
  kept: KeptRecords[];
  residual: StoredResidual[];
  /** A closing pass (armClosingPasses): the first pass's erasure is counted in. */
  closingPass?: boolean;
  /** A closing pass: the residue its first pass named. */
  firstResidual?: StoredResidual[];
  /** An erase started anew (retryTask) after a run that failed: the residue that run named (see PartialErasure.priorResidual). */
  priorResidual?: StoredResidual[];
  /** Of the counts, what remote work that ended erased and redacted (see PartialErasure.settled). */
  settled: SettledErasure;
}

/** Adds counts per category into `into`. */
export function addIn(into: Record<string, number>, more: Readonly<Record<string, number | undefined>>): Record<string, number> {
  const out = { ...into };
  for (const [category, n] of Object.entries(more)) if (n) out[category] = (out[category] ?? 0) + n;
  return out;
}

/**
 * Adds one call's outcome (erase, or a poll of its remote work: `polled`) to what the task did before,
 * read back from the task row: a restart between the two loses nothing.
 */
export function addOutcome(before: TaskResult | null, outcome: ErasureOutcome, instruction: ErasureInstruction, connectorCategories: readonly string[], polled = false, unitCounted: Readonly<Record<string, number>> = {}): ErasureSoFar {
  const p: PartialErasure = before?.partial ?? { erased: before?.erased ?? 0, redacted: 0, erasedIn: {}, kept: [], residual: [] };
  // Without a breakdown, a connector's erased records are in the one category it erased (its redacted, of them, too).
  const category = String(instruction.categories[0] ?? connectorCategories[0]);
  const given = outcome.erasedIn ?? (outcome.erased ? { [category]: outcome.erased } : {});
  // Redacted records without a breakdown are in that category too, as a poll of redaction jobs reports
  // them: a closing pass starts from its first pass's breakdown, which would otherwise hide them.
  const redactedGiven = outcome.redactedIn ?? (outcome.redacted && !outcome.erasedIn ? { [category]: outcome.redacted } : {});
  const settled = p.settled ?? { erasedIn: {}, redacted: 0, redactedIn: {} };
  return {
    erased: p.erased + outcome.erased,
    redacted: p.redacted + (outcome.redacted ?? 0),
    erasedIn: addIn(p.erasedIn, given),
    redactedIn: addIn(p.redactedIn ?? {}, redactedGiven),
    kept: [...p.kept.map((k) => ({ ...k, newestRecordedAt: new Date(k.newestRecordedAt) })), ...(outcome.kept ?? [])],
    residual: [...p.residual, ...(outcome.residual ?? []).map(storedResidual)],
    ...(p.closingPass ? { closingPass: true, firstResidual: p.firstResidual ?? [] } : {}),
    ...(p.priorResidual?.length ? { priorResidual: p.priorResidual } : {}),
    // Of a poll's erased, what its units counted is in erasure_progress, which a new erase carries over: not settled too.
    settled: polled ? { erasedIn: addIn(settled.erasedIn, beyond(given, unitCounted)), redacted: settled.redacted + (outcome.redacted ?? 0), redactedIn: addIn(settled.redactedIn, redactedGiven) } : settled,
  };
}

/** Per category, what `given` holds beyond `counted` (none below 0). */
function beyond(given: Readonly<Record<string, number | undefined>>, counted: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(given).flatMap(([c, n]) => ((n ?? 0) - (counted[c] ?? 0) > 0 ? [[c, (n ?? 0) - (counted[c] ?? 0)]] : [])));
}

/** A residual set as the task row keeps it: with the ids of records only kept records hold back. */
export function storedResidual(r: ResidualRecords): StoredResidual {
  return { category: String(r.category), type: r.type, count: r.count, fields: [...r.fields], reason: r.reason, ...(r.heldBackIds?.length ? { ids: [...r.heldBackIds] } : {}) };
}

/**
 * Where an ERASE's closing pass starts: what its first pass erased (per category, from its lines) and
 * what this pass's earlier attempts' units erased. What is kept or residual is counted anew by this
 * pass: the erase reports it again, as the system holds it now.
 */
export function closingBase(first: TaskResult, earlier: Readonly<Record<string, number>> | null): TaskResult {
  const erasedIn: Record<string, number> = {};
  for (const line of first.lines ?? []) if (line.erased) erasedIn[line.category] = line.erased;
  for (const [category, n] of Object.entries(earlier ?? {})) erasedIn[category] = (erasedIn[category] ?? 0) + n;
  const redactedIn: Record<string, number> = {};
  for (const line of first.lines ?? []) if (line.redacted) redactedIn[line.category] = line.redacted;
  const erased = Object.values(erasedIn).reduce((n, x) => n + x, 0);
  return { erased, partial: { erased, redacted: first.redacted ?? 0, erasedIn, redactedIn, kept: [], residual: [], closingPass: true, firstResidual: first.residualSets ?? [] } };
}

/**
 * A closing pass's residue: what its first pass named, and what this pass names beyond it per
 * category and record type. This pass meets the first one's residue again (its erase cannot tell it
 * from new residue) or no longer at all (cut off from the subject, yet still there): so each set is
 * counted once, under the first pass's reason, and only records past that count are new.
 */
export function closingResidual(first: readonly StoredResidual[], found: readonly StoredResidual[]): StoredResidual[] {
  const key = (r: StoredResidual) => `${r.category}\u0000${r.type}`;
  const named = new Map<string, number>();
  for (const r of first) named.set(key(r), (named.get(key(r)) ?? 0) + r.count);
  const out = first.map((r) => ({ ...r, fields: [...r.fields] }));
  for (const r of found) {
    const before = named.get(key(r)) ?? 0;
    named.set(key(r), Math.max(0, before - r.count));
    if (r.count > before) out.push({ ...r, fields: [...r.fields], count: r.count - before });
  }
  return out;
}

/**
 * A closing pass's residue as the system holds it now. The first pass's residue is carried over
 * (closingResidual) even when this pass does not meet it; but this pass may have erased it (a
 * redaction Stripe refused the first time and ran this time), and residue that is gone counted beside
 * the erasure that removed it would count those records twice and name data no longer held. So each
 * category x record type keeps no more than the verification pass still finds of it holding personal
 * data, and never less than this pass named itself (it checked those records; some may be out of the
 * verification's sight). Only for a connector whose verification looks every surveyed record up by id.
 */
export function residualStillHeld(residual: readonly StoredResidual[], own: readonly StoredResidual[], held: readonly { category: string; type: string; count: number }[]): StoredResidual[] {
  const key = (r: { category: string; type: string }) => `${r.category}\u0000${r.type}`;
  const tally = (sets: readonly { category: string; type: string; count: number }[]) => {
    const out = new Map<string, number>();
    for (const r of sets) out.set(key(r), (out.get(key(r)) ?? 0) + r.count);
    return out;
  };
  const [all, named, seen] = [tally(residual), tally(own), tally(held)];
  const left = new Map([...all].map(([k, n]) => [k, Math.max(named.get(k) ?? 0, Math.min(n, seen.get(k) ?? 0))]));
  return residual.flatMap((r) => {
    const count = Math.min(r.count, left.get(key(r)) ?? 0);
    left.set(key(r), (left.get(key(r)) ?? 0) - count);
    return count ? [{ ...r, fields: [...r.fields], count }] : [];
  });
}

/**
 * What an erase that starts anew carries over, as the task's result before this call: earlier attempts'
 * units left (erasure_progress), and what remote work of an erasure that then failed erased once it
 * ended (`settled`, kept on the task row: an operator's retryTask starts the erase anew, and Stripe's
 * redacted objects are no longer found to be counted), and the residue that run named (`residual`:
 * still there, and maybe no longer met: named again at the end, see PartialErasure.priorResidual).
 */
export function carriedOver(erasedIn: Readonly<Record<string, number>> | null, settled?: SettledErasure, residual: readonly StoredResidual[] = []): TaskResult | null {
  const all = addIn(addIn({}, erasedIn ?? {}), settled?.erasedIn ?? {});
  if (Object.keys(all).length === 0 && !residual.length) return null;
  const erased = Object.values(all).reduce((n, x) => n + x, 0);
  const prior = residual.length ? { priorResidual: residual.map((r) => ({ ...r, fields: [...r.fields] })) } : {};
  return { erased, partial: { erased, redacted: settled?.redacted ?? 0, erasedIn: all, redactedIn: { ...(settled?.redactedIn ?? {}) }, kept: [], residual: [], ...(settled ? { settled } : {}), ...prior } };
}

/**
 * What a poll carries from its own earlier attempts: what the task's units counted beyond what they had
 * counted when it was parked (`parked`, PartialErasure.unitsCounted), per category. Null when the row does
 * not say (parked before it was kept): the poll then carries nothing, as before.
 */
export function countedSincePark(all: Readonly<Record<string, number>>, parked: Readonly<Record<string, number>> | undefined): Record<string, number> | null {
  if (!parked) return null;
  return Object.fromEntries(Object.entries(all).flatMap(([c, n]) => (n - (parked[c] ?? 0) > 0 ? [[c, n - (parked[c] ?? 0)]] : [])));
}

/** A poll's starting point: the parked result, with what its earlier attempts' units counted (countedSincePark) added to its erased records. */
export function withPollUnits(result: TaskResult | null, earlier: Readonly<Record<string, number>> | null): TaskResult | null {
  const n = Object.values(earlier ?? {}).reduce((a, b) => a + b, 0);
  if (!result?.partial || !n) return result;
  return { ...result, erased: (result.erased ?? 0) + n, partial: { ...result.partial, erased: result.partial.erased + n, erasedIn: addIn(result.partial.erasedIn, earlier!) } };
}

/** What an erase call was told (its cutoffs' instant, the holds then), kept for the polls of its remote work. */
export function instructedBy(dctx: Pick<DeletionContext, "now" | "holds">): NonNullable<PartialErasure["instructed"]> {
  return { at: dctx.now.toISOString(), holds: dctx.holds.map((h) => ({ id: h.id, categories: [...h.categories], caseReference: h.caseReference })) };
}

/** What a task row keeps while the remote work goes on. */
export function partialOf(s: ErasureSoFar): PartialErasure {
  return {
    erased: s.erased,
    redacted: s.redacted,
    erasedIn: s.erasedIn,
    redactedIn: s.redactedIn,
    kept: s.kept.map((k) => ({ category: String(k.category), type: k.type, count: k.count, newestRecordedAt: new Date(k.newestRecordedAt).toISOString(), ...(k.redactedFields ? { redactedFields: [...k.redactedFields] } : {}) })),
    residual: s.residual,
    ...(s.closingPass ? { closingPass: true, firstResidual: s.firstResidual ?? [] } : {}),
    ...(s.priorResidual?.length ? { priorResidual: s.priorResidual } : {}),
    ...(Object.keys(s.settled.erasedIn).length ? { settled: s.settled } : {}),
  };
}

/** The outcome's lines beside the plan's, counted by the one rule (src/domain/counting.ts). */
export function outcomeLines(plan: readonly DeletionPlanItemRow[], s: ErasureSoFar, kept: readonly KeptException[], dctx: DeletionContext, goneAfterFailure: Readonly<Record<string, number>> = {}): OutcomeLine[] {
  const categories = new Set([...Object.keys(s.erasedIn), ...kept.map((k) => k.category), ...s.residual.map((r) => r.category), ...Object.keys(goneAfterFailure)]);
  const outcome: CategoryOutcome[] = [...categories].map((category) => {
    const hold = holdFor(category, dctx.holds);
    const residual = s.residual.filter((r) => r.category === category);
    return {
      category,
      erased: s.erasedIn[category] ?? 0,
      // Per category as the connector said it; otherwise (one total) in the one category it erased.
      redacted: s.redactedIn[category] ?? (Object.keys(s.erasedIn).length === 1 && s.erasedIn[category] !== undefined ? s.redacted : 0),
      kept: kept.filter((k) => k.category === category).reduce((n, k) => n + k.recordCount, 0),
      keptByHold: hold !== undefined && kept.some((k) => k.category === category && k.holdId),
      holdCase: hold?.caseReference ?? null,
      residual: residual.reduce((n, r) => n + r.count, 0),
      residualReasons: [...new Set(residual.map((r) => `${r.type} x${r.count} with ${r.fields.join(", ")} (${r.reason})`))],
      goneAfterFailure: goneAfterFailure[category] ?? 0,
    };
  });
  return compareWithPlan(plan, outcome);
}
