import { ActiveHold, holdFor } from "../domain/retention";

/**
 * What legal holds keep of a manual connector's categories. A person does a manual erasure, so the
 * hold fence cannot stop it: the task tells them what not to erase, and a completion that says it
 * erased records of a connector held whole is refused (completeManualTask).
 */
export interface ManualHold {
  /** The connector's categories a hold keeps. */
  categories: string[];
  /** The holds' case references. */
  cases: string[];
  /** Every category of the connector is held: nothing of it may be erased. */
  whole: boolean;
}

/** The holds over `categories` (a manual connector's), or null when none keeps any of them. */
export function manualHold(categories: readonly string[], holds: readonly ActiveHold[]): ManualHold | null {
  const held = categories.filter((c) => holdFor(c, holds));
  if (!held.length) return null;
  const cases = [...new Set(held.map((c) => holdFor(c, holds)!.caseReference))].sort();
  return { categories: held, cases, whole: held.length === categories.length };
}

/**
 * What a hold means for a person correcting the system by hand, in words (no personal data): a hold on
 * any of its categories keeps all of it as it was, as for a connector (heldCorrection.ts).
 */
export function describeManualRectifyHold(connector: string, hold: ManualHold): string {
  return `Legal hold ${hold.cases.join(", ")} keeps ${hold.categories.join(", ")} of the subject in ${connector}: change nothing of it (held data is evidence), and complete this task with changedFields [].`;
}

/** What a correction kept as it was under `hold`: every field asked for, with the holds' cases and the categories they keep (TaskResult). */
export function keptByHoldResult(asked: readonly string[], hold: ManualHold) {
  return { changed: [] as string[], notHeld: [] as string[], keptByHold: [...new Set(asked)].sort(), holdCases: hold.cases, heldCategories: hold.categories };
}

/** What the hold means for the person, in words (no personal data). */
export function describeManualHold(connector: string, hold: ManualHold): string {
  const by = `Legal hold ${hold.cases.join(", ")} keeps`;
  return hold.whole
    ? `${by} everything ${connector} holds of the subject (${hold.categories.join(", ")}): erase nothing, and complete this task with erasedCount 0.`
    : `${by} ${hold.categories.join(", ")}: erase nothing of ${hold.categories.length === 1 ? "it" : "them"}.`;
}
