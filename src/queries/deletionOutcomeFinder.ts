import { TaskStep } from "../domain/tasks";
import { TaskRow } from "../entities";
import type { DeletionOutcomeLine, ErasedResidueSet, ResidualRecordSet } from "../schema/deletionPlan.type";

/**
 * Of one request's tasks, those of `steps`, by step (in the order given) and then connector: the order its
 * outcome, its residue, its unsearched kinds and its certificate list them in.
 */
export function tasksOf(tasks: readonly TaskRow[], ...steps: TaskStep[]): TaskRow[] {
  return tasks.filter((t) => steps.includes(t.step)).sort((a, b) => steps.indexOf(a.step) - steps.indexOf(b.step) || (a.connector < b.connector ? -1 : a.connector > b.connector ? 1 : 0));
}

/** What each finished ERASE of a request's tasks did, per connector and category, beside the plan (empty until one finished). */
export function deletionOutcomeOf(tasks: readonly TaskRow[]): DeletionOutcomeLine[] {
  return tasksOf(tasks, TaskStep.ERASE).flatMap((t) =>
    (t.result?.lines ?? []).map((l) => ({
      connector: t.connector,
      category: l.category,
      plannedFound: l.planned?.found ?? null,
      plannedToErase: l.planned?.toErase ?? null,
      plannedToKeep: l.planned?.toKeep ?? null,
      plannedToLeaveResidual: l.planned ? (l.planned.toLeaveResidual ?? 0) : null,
      erased: l.erased,
      redacted: l.redacted,
      kept: l.kept,
      residual: l.residual,
      matchesPlan: l.differences.length === 0,
      differences: l.differences,
    })),
  );
}

/**
 * What one deletion's ERASE and PURGE tasks name residual now, each record once: every pass names all
 * the residue it meets (a purge meets again what its erasure left, such as a shared ticket thread), so
 * a purge's sets replace the erasure's for the categories it purged (`purgedCategories`).
 */
export function currentResidualSets(tasks: readonly TaskRow[]): ResidualRecordSet[] {
  return currentResidue(tasksOf(tasks, TaskStep.ERASE, TaskStep.PURGE)).map((r) => r.set);
}

/** currentResidualSets, each set with the task that names it (when it was said: its finishedAt). Tasks of one request. */
export function currentResidue(tasks: readonly TaskRow[]): { task: TaskRow; set: ResidualRecordSet }[] {
  const purged = new Map(tasks.filter((t) => t.step === TaskStep.PURGE && t.result?.purgedCategories).map((t) => [t.connector, new Set(t.result!.purgedCategories)]));
  return tasks.flatMap((t) => residualSetsOf(t).filter((r) => t.step !== TaskStep.ERASE || !purged.get(t.connector)?.has(r.category)).map((set) => ({ task: t, set })));
}

/**
 * SQL over a task aliased `t`: an ERASE or PURGE whose outcome reports at least one residual set (the
 * simple-json text of its result). Breach rosters find residue with it, and a request record keeps its
 * subject while it is true (recordRetention.ts).
 */
export const REPORTS_RESIDUE = `t.step IN ('${TaskStep.ERASE}', '${TaskStep.PURGE}') AND t.result LIKE '%"residualSets":[{%'`;

/** The residual sets an ERASE or PURGE task reported, as the request (and an export) names them. */
export function residualSetsOf(t: TaskRow): ResidualRecordSet[] {
  return (t.result?.residualSets ?? []).map((r) => ({ connector: t.connector, category: r.category, recordType: r.type, records: r.count, fields: r.fields, reason: r.reason }));
}

/** The residue PURGE tasks erased, as the request (and its certificate) names it. */
export function erasedResidueOf(tasks: readonly TaskRow[]): ErasedResidueSet[] {
  return tasksOf(tasks, TaskStep.PURGE).flatMap((t) => (t.result?.residueErased ?? []).map((r) => ({ connector: t.connector, category: r.category, recordType: r.type, records: r.count, reason: r.reason, erasedAt: new Date(r.erasedAt) })));
}
