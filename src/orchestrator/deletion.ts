import type { Connector, ErasureInstruction, Identities, KeptRecords, TaskContext } from "../connectors/sdk";
import { CategorySurvey, DeletionContext, deletionInstruction, exceptionFor, holdFor, PlannedDeletion, planCategory, RetentionRule } from "../domain/retention";
import { DeletionPlanItemRow, KeptBy, RequestRow } from "../entities";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import type { Services } from "../services";
import type { KeptException } from "./sql/completeTask";

/** Heartbeat while streaming, at least every this many records. */
const HEARTBEAT_EVERY = 2000;

/** Holds, rules and the minor flag of a deletion, read now (holds placed after approval still count). */
export async function deletionContextFor(services: Services, request: Pick<RequestRow, "subjectEmail" | "concernsMinor">): Promise<DeletionContext> {
  return { rules: services.retentionRules, holds: await activeHoldsFor(services.ds, request.subjectEmail), now: services.clock.now(), minor: request.concernsMinor };
}

/**
 * Counts what a connector holds about the subject, per category, against the cutoffs of the rules:
 * the input of the deletion plan. Streams; nothing is stored but the counts.
 */
export async function surveyConnector(connector: Connector, ids: Identities, ctx: TaskContext, dctx: DeletionContext): Promise<PlannedDeletion[]> {
  const cutoffs = deletionInstruction(connector.spec.categories, dctx).keepRecordedSince ?? {};
  const surveys = new Map<string, CategorySurvey>();
  let seen = 0;
  for await (const record of connector.collect(ids, ctx)) {
    const category = String(record.category);
    const survey = surveys.get(category) ?? { found: 0, recent: 0, newestRecent: null };
    survey.found += 1;
    const cutoff = cutoffs[category];
    if (cutoff && record.recordedAt && record.recordedAt >= cutoff) {
      survey.recent += 1;
      if (!survey.newestRecent || record.recordedAt > survey.newestRecent) survey.newestRecent = record.recordedAt;
    }
    surveys.set(category, survey);
    if (++seen % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    if (ctx.signal.aborted) throw new Error("survey aborted");
  }
  return [...surveys.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([category, survey]) => planCategory(category, survey, dctx));
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
  /** Records still there, all allowed (held, inside retention, or reported kept). */
  remaining: number;
  /** Records still there that nothing allows, per category. */
  unexpected: Record<string, number>;
  /** Every record still there, per category (what a hold placed during the erasure keeps). */
  byCategory: Record<string, number>;
}

/**
 * Collects again after an erasure: every record left must be in a category the erasure was not allowed
 * to touch, dated inside its retention cutoff, or one of the sets the connector reported kept (such as
 * a customer kept with its invoices). Counts only.
 */
export async function verifyErasure(connector: Connector, ids: Identities, ctx: TaskContext, instruction: ErasureInstruction, kept: readonly KeptRecords[]): Promise<Verification> {
  const keptCount = new Map<string, number>();
  for (const k of kept) keptCount.set(`${k.category}\u0000${k.type}`, (keptCount.get(`${k.category}\u0000${k.type}`) ?? 0) + k.count);
  const passedByDate = new Map<string, number>();
  const candidates = new Map<string, number>();
  const byCategory: Record<string, number> = {};
  let remaining = 0;
  let seen = 0;
  for await (const record of connector.collect(ids, ctx)) {
    remaining += 1;
    if (++seen % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
    const category = String(record.category);
    byCategory[category] = (byCategory[category] ?? 0) + 1;
    if (!instruction.categories.includes(category)) continue;
    const key = `${category}\u0000${record.type}`;
    const since = instruction.keepRecordedSince?.[category];
    if (since && record.recordedAt && record.recordedAt >= since) passedByDate.set(key, (passedByDate.get(key) ?? 0) + 1);
    else candidates.set(key, (candidates.get(key) ?? 0) + 1);
  }
  const unexpected: Record<string, number> = {};
  let bad = 0;
  for (const [key, n] of candidates) {
    // A reported kept set covers records not already explained by their date.
    const allowance = Math.max(0, (keptCount.get(key) ?? 0) - (passedByDate.get(key) ?? 0));
    const excess = Math.max(0, n - allowance);
    if (excess) {
      const category = key.split("\u0000")[0];
      unexpected[category] = (unexpected[category] ?? 0) + excess;
      bad += excess;
    }
  }
  return { remaining: remaining - bad, unexpected, byCategory };
}
