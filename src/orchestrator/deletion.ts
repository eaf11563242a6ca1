import type { Connector, ErasureInstruction, Identities, KeptRecords, RecordRef, ResidualRecords, TaskContext } from "../connectors/sdk";
import { CountedSet, DeletionCount, Disposition, KeptByDeletion, KeptIds, planLines } from "../domain/counting";
import { DeletionContext, deletionInstruction, exceptionFor, holdFor, PlannedDeletion, RetentionRule } from "../domain/retention";
import { DeletionPlanItemRow, keptSubjectEmail, KeptBy, RequestRow } from "../entities";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import type { Services } from "../services";
import type { KeptException } from "./sql/completeTask";
import type { SurveyedRef } from "./surveyedIds";

/** Heartbeat while streaming, at least every this many records. */
export const HEARTBEAT_EVERY = 2000;

/** Holds, rules and the minor flag of a deletion, read now (holds placed after approval still count). */
export async function deletionContextFor(services: Services, request: Pick<RequestRow, "id" | "subjectEmail" | "concernsMinor">): Promise<DeletionContext> {
  return { rules: services.retentionRules, holds: await activeHoldsFor(services.ds, keptSubjectEmail(request)), now: services.clock.now(), minor: request.concernsMinor };
}

/** What a survey found in one connector: the plan's lines, and the refs a verification looks up again. */
export interface Survey {
  lines: PlannedDeletion[];
  /** For connectors that can look records up by id: every record found, with what the rule does with it. */
  refs: { ref: RecordRef; disposition: Disposition }[];
}

/**
 * Counts what a connector holds about the subject under the counting rule (src/domain/counting.ts):
 * the input of the deletion plan. Streams; nothing is stored but the counts (and the record refs of a
 * connector that can look records up by id, for the verification pass).
 */
export async function surveyConnector(connector: Connector, ids: Identities, ctx: TaskContext, dctx: DeletionContext, keepRefs = true): Promise<Survey> {
  const count = new DeletionCount(deletionInstruction(connector.spec.categories, dctx), keepRefs && lookedUp(connector));
  let seen = 0;
  for await (const record of connector.collect(ids, ctx)) {
    count.add(record);
    if (++seen % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    if (ctx.signal.aborted) throw new Error("survey aborted");
  }
  const { sets, refs } = count.result();
  return { lines: planLines(sets, dctx), refs };
}

/** The record types a connector's lookup finds, as DeletionCount keeps their refs (false: it has none). */
function lookedUp(connector: Connector): boolean | ((type: string) => boolean) {
  if (!connector.lookup) return false;
  const types = connector.lookupTypes;
  return types ? (type) => types.includes(type) : true;
}

/** Plan lines as stored with the request. */
export function planRows(planned: readonly PlannedDeletion[]): Omit<DeletionPlanItemRow, "id" | "requestId" | "connector" | "computedAt">[] {
  return planned.map((p) => ({ ...p, category: String(p.category), keptBy: p.keptBy as KeptBy | null }));
}

/** Sets a connector reported kept, as exceptions: until the rule's period has passed from the newest. */
export function ruleExceptions(kept: readonly KeptRecords[], rules: readonly RetentionRule[]): KeptException[] {
  return kept
    .filter((k) => k.count > 0)
    .map((k) => ({
      category: String(k.category).slice(0, 40),
      recordType: String(k.type).slice(0, 64),
      recordCount: k.count,
      redactedFields: k.redactedFields?.length ? k.redactedFields.join(",").slice(0, 1000) : null,
      holdId: null,
      ...exceptionFor(k, rules),
    }));
}

/**
 * Sets a legal hold kept (the connector never saw them), counted by the plan's survey. A hold placed
 * after the survey still keeps its categories: the survey's count of them is what it keeps.
 */
export function holdExceptions(plan: readonly Pick<DeletionPlanItemRow, "category" | "found">[], dctx: Pick<DeletionContext, "holds">, instruction: ErasureInstruction): KeptException[] {
  return plan.flatMap((p) => {
    const hold = holdFor(p.category, dctx.holds);
    if (!hold || p.found === 0 || instruction.categories.includes(p.category)) return [];
    return [{ category: p.category, recordType: "all", recordCount: p.found, legalBasis: `legal hold ${hold.caseReference}`.slice(0, 200), holdId: hold.id, retainUntil: null, redactedFields: null }];
  });
}

/** What the verification pass found after an erasure. */
export interface Verification {
  /** Records still there, all allowed (held, kept under the rule, or reported residual). */
  remaining: number;
  /** Records still there that nothing allows, per category. */
  unexpected: Record<string, number>;
  /**
   * Records still there, per category, that only the surveyed ids found: the person's identities no
   * longer lead to them (moved since the plan, as by an address corrected or changed meanwhile, or cut off by the erasure).
   */
  byIdOnly: Record<string, number>;
  /** Every record still there, per category (what a hold placed during the erasure keeps). */
  byCategory: Record<string, number>;
  /** What is still there, per category x type, counted by the rule (what it keeps, and since when). */
  sets: CountedSet[];
  /** Records still there that the rule does not keep, per category x type (residual, or unexpected). */
  notKept: { category: string; type: string; count: number }[];
  /** The kept records without a date, by id: what a purge erases by id (kept_undated_ids). */
  undatedKept: KeptIds[];
}

const setKey = (category: string, type: string) => `${category}\u0000${type}`;

/**
 * The sets an erasure keeps under the rules, as the verification pass found them in the system: the
 * connector's own report was made while it erased, and records written meanwhile (a reply on a kept
 * thread, a login) are kept with the rest, so its count and newest date can be short. Each set the
 * verification counted in `categories` takes its count and date from there, with the fields the
 * connector said it blanked; a set it reported that collect never yields stays as reported.
 */
export function keptAsVerified(reported: readonly KeptRecords[], counted: readonly CountedSet[], categories: readonly string[]): KeptRecords[] {
  const seen = new Set(counted.map((s) => setKey(String(s.category), s.type)));
  const verified = counted
    .filter((s) => categories.includes(String(s.category)) && s.toKeep > 0 && s.newestKept)
    .map((s): KeptRecords => {
      const fields = [...new Set(reported.filter((k) => String(k.category) === String(s.category) && k.type === s.type).flatMap((k) => k.redactedFields ?? []))];
      return { category: s.category, type: s.type, count: s.toKeep, newestRecordedAt: s.newestKept!, ...(fields.length ? { redactedFields: fields } : {}) };
    });
  return [...verified, ...reported.filter((k) => !categories.includes(String(k.category)) || !seen.has(setKey(String(k.category), k.type)))];
}

/**
 * Collects again after an erasure and counts what is left under the counting rule: every record left
 * must be one the rule keeps (held, recent, or an anchor of a recent one) or one the connector reported
 * residual. A connector that can look records up by id is also asked for every record the survey found
 * that collecting again does not, so records cut off from the subject (a deleted customer's invoices, a
 * row whose address changed since the plan) are still seen: one the plan erases is left over, one it
 * keeps is counted kept by the rule, by its date (and remembered by id for the purge). Counts only.
 * A purge passes what its deletion kept (`keptBy`): what the person recorded since is left out.
 */
export async function verifyErasure(
  connector: Connector,
  ids: Identities,
  ctx: TaskContext,
  instruction: ErasureInstruction,
  residual: readonly ResidualRecords[],
  /** The survey's ids, to look up those collect misses; null: none (a purge's verification looks up none). */
  surveyed: AsyncIterable<readonly SurveyedRef[]> | null,
  keptBy?: KeptByDeletion,
): Promise<Verification> {
  // Counts only: the ids of what collect found of the types lookup finds are held below, for this look-up.
  const count = new DeletionCount(instruction, false, keptBy);
  const looked = lookedUp(connector);
  // The records collect found of the types lookup finds: the surveyed ids it missed are looked up.
  const byId = connector.lookup && surveyed ? surveyed : null;
  const collected = new Set<string>();
  let seen = 0;
  for await (const record of connector.collect(ids, ctx)) {
    count.add(record);
    if (byId && (typeof looked === "function" ? looked(String(record.type)) : looked)) collected.add(setKey(String(record.type), String(record.id)));
    if (++seen % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
  }
  // Found by id only, planned erased: still there, by category x type (taken with the rule's sets below).
  const erasedById = new Map<string, number>();
  const byIdOnly: Record<string, number> = {};
  if (byId) {
    // A page of surveyed ids at a time: a big survey's are never all in memory.
    for await (const page of byId) {
      const missed = page.filter((r) => !collected.has(setKey(r.type, r.id)));
      if (!missed.length) continue;
      const kept = new Set(missed.filter((r) => r.kept).map((r) => setKey(r.type, r.id)));
      for await (const found of connector.lookup!(missed, ctx)) {
        if (!found.personalFields.length) continue;
        const [category, type] = [String(found.category), found.type];
        // One the plan keeps is counted by the rule, by its date; left over (aged out since), it is by id only as one to erase is.
        if (kept.has(setKey(type, found.id)) && count.addById({ category, type, id: found.id, data: {}, ...(found.recordedAt ? { recordedAt: new Date(found.recordedAt) } : {}) })) continue;
        byIdOnly[category] = (byIdOnly[category] ?? 0) + 1;
        if (!kept.has(setKey(type, found.id))) erasedById.set(setKey(category, type), (erasedById.get(setKey(category, type)) ?? 0) + 1);
      }
    }
  }
  // A purge's: which undated records found are its deletion's, by its kept ids a page at a time.
  await count.settleKept(() => ctx.heartbeat());
  const { sets } = count.result();
  const left = new Map<string, number>();
  for (const s of sets) if (s.toErase) left.set(setKey(String(s.category), s.type), s.toErase);
  for (const [k, n] of erasedById) left.set(k, (left.get(k) ?? 0) + n);
  const remaining = sets.reduce((n, s) => n + s.found, 0) + [...erasedById.values()].reduce((n, x) => n + x, 0);
  const byCategory: Record<string, number> = {};
  for (const s of sets) byCategory[String(s.category)] = (byCategory[String(s.category)] ?? 0) + s.found;
  const unexpected: Record<string, number> = {};
  let bad = 0;
  for (const [k, n] of left) {
    const [category, type] = k.split("\u0000");
    const allowed = residual.filter((r) => r.category === category && r.type === type).reduce((m, r) => m + r.count, 0);
    const excess = Math.max(0, n - allowed);
    if (excess) {
      unexpected[category] = (unexpected[category] ?? 0) + excess;
      bad += excess;
    }
  }
  const notKept = [...left].map(([k, count]) => {
    const [category, type] = k.split("\u0000");
    return { category, type, count };
  });
  return { remaining: remaining - bad, unexpected, byIdOnly, byCategory, sets, notKept, undatedKept: count.undatedKept() };
}
