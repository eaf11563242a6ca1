import { EntityManager } from "typeorm";
import { RequestType } from "../domain/enums";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { RequestRow, TaskRow } from "../entities";

/** A correction's RECTIFY tasks, by connector (correctionOutcome reads them). */
export function rectifyTasksOf(em: EntityManager, requestId: string): Promise<TaskRow[]> {
  return em.getRepository(TaskRow).find({ where: { requestId, step: TaskStep.RECTIFY }, order: { connector: "ASC" } });
}

/**
 * correctedOnlyIn's words from the RECTIFY `tasks`. `forSubject`: as the subject's side (a SERVICE token)
 * is told it, fields kept "for legal reasons" with no hold, case or held category named (presenters/holdPrivacy.ts).
 */
export function correctionOutcome(request: Pick<RequestRow, "corrections">, tasks: readonly TaskRow[], forSubject = false): { reason: string | null; nothing: boolean } {
  const changed = [...new Set(tasks.flatMap((t) => t.result?.changed ?? []))].sort();
  const held = tasks.filter((t) => t.result?.keptByHold?.length);
  const keptByHold = new Set(held.flatMap((t) => t.result!.keptByHold!));
  const nowhere = [...new Set((request.corrections ?? []).map((c) => c.field))].filter((f) => !changed.includes(f) && !keptByHold.has(f)).sort();
  const skipped = tasks.filter((t) => t.status === TaskStatus.SKIPPED).map((t) => (t.note ? `${t.connector} (${t.note})` : t.connector));
  // A hold placed while a system's correction ran: some of its records hold the new value, the rest the old.
  const inPart = held.flatMap((t) => {
    const both = t.result!.keptByHold!.filter((f) => t.result!.changed?.includes(f));
    return both.length ? [{ connector: t.connector, both }] : [];
  });
  if (!nowhere.length && !skipped.length && !held.length) return { reason: null, nothing: false };
  const keptIn = (fields: (list: string[]) => string) =>
    held
      .map((t) => (forSubject ? `${t.connector} (${fields(t.result!.keptByHold!)})` : `${t.connector} (${fields(t.result!.keptByHold!)}; hold ${(t.result!.holdCases ?? []).join(", ")} on ${(t.result!.heldCategories ?? []).join(", ")})`))
      .join("; ");
  // Every part must survive the 500 characters: cut at the end, a long list of fields would drop the
  // systems that may still hold the old values. Lists that do not fit are counted instead (the tasks' outcomes name them).
  const write = (fields: (list: string[]) => string, systems: string[]) =>
    [
      changed.length
        ? `Corrected: ${fields(changed)}.`
        : held.length
          ? forSubject
            ? "Nothing was corrected: the data that holds these fields is kept for legal reasons."
            : "Nothing was corrected: a legal hold keeps the data that holds these fields."
          : "Nothing was corrected: no system that corrects data holds these fields for this person.",
      held.length ? (forSubject ? `Kept as they were for legal reasons: ${keptIn(fields)}.` : `Kept as they were under legal hold: ${keptIn(fields)}, until the hold is released.`) : "",
      inPart.length
        ? `${forSubject ? "Corrected in part (some records hold the new value, the rest the old, kept for legal reasons)" : "Corrected in part before the hold was placed (some records hold the new value, the rest the old)"}: ${inPart.map((p) => `${p.connector} (${fields(p.both)})`).join("; ")}.`
        : "",
      nowhere.length ? `Held by no system that corrected data: ${fields(nowhere)}.` : "",
      skipped.length ? `Not corrected in ${systems.join("; ")}: these systems may still hold the old values.` : "",
    ]
      .filter(Boolean)
      .join(" ");
  const named = write((list) => list.join(", "), skipped);
  const counted = (list: string[]) => (list.join(", ").length <= 150 ? list.join(", ") : `${list.length} fields (named in the RECTIFY tasks' outcomes)`);
  const reason = [named, write(counted, skipped), write(counted, tasks.filter((t) => t.status === TaskStatus.SKIPPED).map((t) => t.connector))].find((r) => r.length <= 500);
  return { reason: (reason ?? write(counted, [`${skipped.length} systems (their RECTIFY tasks say why)`])).slice(0, 500), nothing: !changed.length };
}

/**
 * The systems a FAILED correction may have changed all the same: a RECTIFY task that ended FAILED after
 * a unit of its writes counted records (erasure_progress), or was left in doubt (RECTIFY_IN_DOUBT: it
 * threw where the write may have committed), or never ended (the process died in it). Without this the
 * request read "N task(s) failed" while the system held the new value, as if nothing had been corrected.
 */
export async function writtenBeforeFailing(em: EntityManager, requestId: string): Promise<string[]> {
  const rows: Array<{ connector: string }> = await em
    .getRepository(TaskRow)
    .createQueryBuilder("t")
    .select("t.connector", "connector")
    .where("t.requestId = :requestId AND t.step = :step AND t.status = :failed", { requestId, step: TaskStep.RECTIFY, failed: TaskStatus.FAILED })
    .andWhere("(EXISTS (SELECT 1 FROM erasure_progress p WHERE p.taskId = t.id AND p.erased > 0) OR EXISTS (SELECT 1 FROM erasure_units u WHERE u.taskId = t.id))")
    .orderBy("t.connector", "ASC")
    .getRawMany();
  return rows.map((r) => r.connector);
}

/** A FAILED correction's statusReason (`failed`: its tasks' failures), naming the systems that may hold the new values anyway (writtenBeforeFailing). */
export function failedCorrectionReason(failed: string, request: Pick<RequestRow, "corrections">, written: readonly string[]): string {
  if (!written.length) return failed.slice(0, 500);
  const fields = [...new Set((request.corrections ?? []).map((c) => c.field))].sort().join(", ");
  const said = ` Yet ${written.join(", ")} may hold the new values already (${fields.length <= 150 ? fields : "the fields asked"}): a write of this correction there committed, or its answer was lost, before the task failed. Retry the task (retryTask) or check the system.`;
  return `${failed.slice(0, Math.max(0, 500 - said.length))}${said}`.slice(0, 500);
}

/** The statusReason of a request that followed `originalId` to its end (settleDuplicates). */
export function answeredTogether(originalId: string | null, reason: string | null): string {
  return `answered together with ${originalId ? `request ${originalId}` : "an earlier request of the same person"}${reason ? `: ${reason}` : ""}`.slice(0, 500);
}

/**
 * The statusReason the subject's side (a SERVICE token, the settings page's status callbacks) is told:
 * a correction's names the fields a legal hold kept as kept for legal reasons, without the hold's case
 * or categories (correctionOutcome); a request that followed another to its end names neither that
 * request (another token's, maybe: withoutOthersRequests) nor a hold in its reason, which it repeats.
 */
export async function statusReasonForSubject(em: EntityManager, row: RequestRow): Promise<string | null> {
  if (row.duplicateOf && row.statusReason?.startsWith(answeredTogether(row.duplicateOf, null))) {
    const original = await em.getRepository(RequestRow).findOneBy({ id: row.duplicateOf });
    return answeredTogether(null, original ? await ownReasonForSubject(em, original) : null);
  }
  return ownReasonForSubject(em, row);
}

async function ownReasonForSubject(em: EntityManager, row: RequestRow): Promise<string | null> {
  if (row.type !== RequestType.CORRECTION || !row.statusReason) return row.statusReason;
  const tasks = await rectifyTasksOf(em, row.id);
  // Only the reason the correction's outcome wrote (not a failure's), said again without the hold.
  if (!tasks.some((t) => t.result?.keptByHold?.length) || correctionOutcome(row, tasks).reason !== row.statusReason) return row.statusReason;
  return correctionOutcome(row, tasks, true).reason;
}
