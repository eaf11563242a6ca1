import { Role } from "../domain/enums";
import { DifferenceKind } from "../domain/counting";
import type { Caller } from "../graphql/context";
import type { DeletionCertificateBody } from "../certificates/deletionCertificate";
import type { DeletionOutcomeLine, DeletionPlanLine } from "../schema/deletionPlan.type";
import type { RetentionException } from "../schema/retention.type";
import type { Task } from "../schema/task.type";
import type { RetentionExceptionRow } from "../entities";
import { keptSetSummary } from "./retention.presenter";

/**
 * What a legal hold is to the subject's side (docs/settings-trigger.md): records "kept for legal
 * reasons", counted truly, never which hold, under which case, or why. Telling a person that their data
 * is under a litigation or investigation hold can tip them off. The settings page's backend (a SERVICE
 * token) acts for the subject, so every answer it gets says only this; ADMIN, PRIVACY_OFFICER and
 * AUDITOR see the holds as they are.
 */
export const HOLD_READERS: readonly Role[] = [Role.ADMIN, Role.PRIVACY_OFFICER, Role.AUDITOR];

/** The legal basis a SERVICE token is told of a set a legal hold keeps. */
export const KEPT_FOR_LEGAL_REASONS = "kept for legal reasons";
/** keptBy of a plan line a hold keeps, as a SERVICE token is told it. */
export const KEPT_BY_LEGAL_REASONS = "LEGAL_REASONS";

/** Whether the caller may learn of legal holds (their existence, ids, cases, reasons). */
export function seesLegalHolds(caller: Caller): boolean {
  return HOLD_READERS.includes(caller.role);
}

/**
 * A task note as the subject's side may read it. A manual task's note tells the person doing it which
 * hold keeps what (runner, manualHold.ts: the sentence begins "Legal hold <cases> keeps"): from there on
 * it becomes the plain fact that some of the data there is kept for legal reasons.
 */
export function noteForSubject(note: string | null): string | null {
  if (note === null) return null;
  const at = note.startsWith("Legal hold ") ? 0 : note.indexOf(" Legal hold ");
  if (at < 0) return note;
  return `${note.slice(0, at)}${at ? " " : ""}Some of the subject's data in this system is kept for legal reasons.`;
}

/**
 * A kept set as the person's own export states it (the subject's side too: the archive is handed to
 * them): a hold's set "kept for legal reasons", never its case or reason (its legalBasis names both).
 */
export function keptSetForSubject(row: RetentionExceptionRow): ReturnType<typeof keptSetSummary> {
  const set = keptSetSummary(row);
  return row.holdId ? { ...set, legalBasis: KEPT_FOR_LEGAL_REASONS } : set;
}

/** A retention exception as the subject's side sees it: a hold's set kept "for legal reasons", a rule's set a hold extends without a date. */
export function exceptionForSubject(e: RetentionException): RetentionException {
  if (e.holdId) return { ...e, legalBasis: KEPT_FOR_LEGAL_REASONS, holdId: null, extendedByHoldId: null };
  if (e.extendedByHoldId) return { ...e, extendedByHoldId: null, retainUntil: null };
  return e;
}

/** A plan line as the subject's side sees it (counts unchanged). */
export function planLineForSubject(line: DeletionPlanLine): DeletionPlanLine {
  if (line.keptBy !== "HOLD" && !line.holdId) return line;
  return { ...line, keptBy: KEPT_BY_LEGAL_REASONS, legalBasis: KEPT_FOR_LEGAL_REASONS, holdId: null };
}

/** An outcome line as the subject's side sees it: a hold placed or released since the plan is a change in what is kept for legal reasons. */
export function outcomeLineForSubject(line: DeletionOutcomeLine): DeletionOutcomeLine {
  if (!line.differences.some((d) => d.kind === DifferenceKind.HELD_SINCE_PLAN || d.kind === DifferenceKind.RELEASED_SINCE_PLAN)) return line;
  return {
    ...line,
    differences: line.differences.map((d) =>
      d.kind === DifferenceKind.HELD_SINCE_PLAN
        ? { ...d, kind: DifferenceKind.KEPT_FOR_LEGAL_REASONS_SINCE_PLAN, reason: "records came to be kept for legal reasons after the plan" }
        : d.kind === DifferenceKind.RELEASED_SINCE_PLAN
          ? { ...d, kind: DifferenceKind.KEPT_FOR_LEGAL_REASONS_SINCE_PLAN, reason: "records the plan counted as kept for legal reasons were no longer kept for them at erasure" }
          : d,
    ),
  };
}

/** A task as the subject's side sees it: no hold's case (holdCases), no fields said to be kept by a hold (the request's statusReason names them as kept for legal reasons), no hold in its note. */
export function taskForSubject(task: Task): Task {
  task.note = noteForSubject(task.note);
  if (task.outcome) {
    task.outcome.keptByHold = null;
    task.outcome.holdCases = null;
  }
  return task;
}

/**
 * A deletion certificate as the subject's side receives it, before it is signed (so the signed file says
 * the same and still verifies): kept sets a hold keeps are kept "for legal reasons" with no hold id; a
 * rule's set a hold extends has no extending hold and no date; notes name no hold. Counts stay.
 */
export function certificateForSubject(body: DeletionCertificateBody): DeletionCertificateBody {
  return {
    ...body,
    erased: body.erased.map((e) => ({ ...e, note: noteForSubject(e.note) })),
    kept: body.kept.map((k) =>
      k.holdId
        ? { ...k, legalBasis: KEPT_FOR_LEGAL_REASONS, holdId: null, extendedByHoldId: null }
        : k.extendedByHoldId
          ? { ...k, extendedByHoldId: null, retainUntil: null }
          : k,
    ),
  };
}
