import { clockSkewProblemNow } from "../db/clockSkew";
import { randomUUID } from "node:crypto";
import { Actor } from "../audit/actor";
import { appendAuditEvent, reasonDetails } from "../audit/auditTrail";
import { inTransaction, lockRow } from "../db/transaction";
import { emailProblem, normalizeEmail } from "../domain/identities";
import { In } from "typeorm";
import { TaskStep } from "../domain/tasks";
import { LegalHoldRow, LegalHoldStatus, TaskRow } from "../entities";
import { badField, conflict, notFound } from "../errors";
import { describeUnits, placeUnderFence, remoteUnits } from "../orchestrator/holdFence";
import { Services } from "../services";

export interface PlaceLegalHoldCommand {
  subjectEmail: string;
  /** Held categories; empty or absent: every category. */
  categories?: string[] | null;
  reason: string;
  caseReference: string;
}

const CATEGORY = /^[A-Z][A-Z0-9_]{1,39}$/;

/**
 * Places a legal hold on a subject: from now on no deletion erases the held categories, and kept sets
 * wait for its release. A running erasure sees the hold at its next unit of work; a unit already under
 * way on a held category is waited for (DSR_HOLD_WAIT_MS), and if it does not end in time the hold is
 * refused with CONFLICT, naming it, and nothing changes.
 */
export async function placeLegalHold(services: Services, actor: Actor, input: PlaceLegalHoldCommand): Promise<LegalHoldRow> {
  const categories = [...new Set((input.categories ?? []).map((c) => c.trim()))];
  const bad = categories.filter((c) => !CATEGORY.test(c));
  if (bad.length) throw badField("categories", `categories are upper-case names such as PAYMENTS; not: ${bad.join(", ")}`);
  if (categories.join(",").length > 400) throw badField("categories", "too many categories");
  const emailWrong = emailProblem(input.subjectEmail);
  if (emailWrong) throw badField("subjectEmail", `subjectEmail ${emailWrong}`);
  const now = services.clock.now();
  const subjectEmail = normalizeEmail(input.subjectEmail);
  const row: LegalHoldRow = Object.assign(new LegalHoldRow(), {
    id: randomUUID(),
    subjectEmail,
    categories: categories.sort().join(","),
    reason: input.reason.trim(),
    caseReference: input.caseReference.trim(),
    status: LegalHoldStatus.ACTIVE,
    placedBy: actor.id,
    placedAt: now,
    releasedBy: null,
    releasedAt: null,
    releaseReason: null,
    subjectRemovedAt: null,
  });
  // The fence compares times written by other hosts with this one's clock: not while it is off (db/clockSkew.ts).
  const skew = await clockSkewProblemNow(services.ds);
  if (skew) throw conflict(`The hold was not placed: ${skew}. Nothing changed; send it again once the clock is synchronised, or through another service process.`, { retryable: true });
  // Under the subject's hold fence: erasure units of these categories already under way end first.
  const outcome = await placeUnderFence(services, subjectEmail, categories, services.config.DSR_HOLD_WAIT_MS, async (em) => {
    await em.getRepository(LegalHoldRow).insert(row);
    await appendAuditEvent(
      em,
      { requestId: null, actor, action: "legal_hold.placed", details: { holdId: row.id, categories: categories.length ? categories : ["ALL"], caseReference: row.caseReference } },
      now,
    );
    return row;
  });
  if ("late" in outcome) {
    throw conflict(
      `The hold was not placed: another legal hold on this subject was being placed, or the database was too slow to record this one in time (within ${Math.ceil(services.config.DSR_HOLD_WAIT_MS / 1000)} s). Place the hold again in a moment.`,
    );
  }
  if ("busy" in outcome) {
    const again = remoteUnits(outcome.busy).length
      ? "Place the hold again once that deletion's task has left REMOTE_PROCESSING: it then keeps everything not erased by then."
      : "Place the hold again in a moment: it then keeps everything not erased by then.";
    const corrections = await services.ds.getRepository(TaskRow).find({ select: { id: true }, where: { id: In(outcome.busy.map((u) => u.taskId)), step: TaskStep.RECTIFY } });
    const met = describeUnits(outcome.busy, new Set(corrections.map((c) => c.id)));
    throw conflict(
      `The hold was not placed: records of this subject are being ${met.doing} right now (${met.units}) and that step did not end within ${Math.ceil(services.config.DSR_HOLD_WAIT_MS / 1000)} s. ${again}`,
    );
  }
  return outcome.placed;
}

/** Releases a hold: what it kept becomes purgeable at the next purge run, unless a rule still keeps it. */
export async function releaseLegalHold(services: Services, actor: Actor, id: string, reason: string): Promise<LegalHoldRow> {
  const now = services.clock.now();
  const released = await inTransaction(services.ds, async (em) => {
    await lockRow(em, "legal_holds", id);
    const row = await em.getRepository(LegalHoldRow).findOneBy({ id });
    if (!row) throw notFound("Legal hold", id);
    if (row.status !== LegalHoldStatus.ACTIVE) throw conflict(`Legal hold ${id} was already released`);
    Object.assign(row, { status: LegalHoldStatus.RELEASED, releasedBy: actor.id, releasedAt: now, releaseReason: reason.trim() });
    await em.getRepository(LegalHoldRow).update({ id }, { status: row.status, releasedBy: row.releasedBy, releasedAt: now, releaseReason: row.releaseReason });
    await appendAuditEvent(em, { requestId: null, actor, action: "legal_hold.released", details: { holdId: id, caseReference: row.caseReference, ...reasonDetails(actor, row.releaseReason!) } }, now);
    return row;
  });
  services.wakeWorkers();
  return released;
}
