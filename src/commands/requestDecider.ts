import { EntityManager } from "typeorm";
import { Actor } from "../audit/actor";
import { reasonDetails } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { RequestStatus, VerificationMethod } from "../domain/enums";
import { badInput } from "../errors";
import { TaskStep } from "../domain/tasks";
import { exportTools } from "../export/context";
import { makeStagingKey } from "../export/stagingKeys";
import { keptSubjectEmail, RequestRow } from "../entities";
import { refuseApprovalOutOfOrder } from "../orchestrator/correctionOrder";
import { lockSubject } from "../orchestrator/holdFence";
import { planRequest } from "../orchestrator/requestPlanner";
import { Services } from "../services";
import { IDENTITY_CORRECTION_UNVOUCHED, unconfirmedIdentityProblems, unvouchedIdentityProblem } from "./requestSubmitter";
import { loadRequest, moveRequest } from "./requestTransition";

/** The privacy team's decisions on a request: each is one status move with its audit event. */
const DECISIONS = {
  approve: { to: RequestStatus.IN_PROGRESS, action: "request.approved" },
  reject: { to: RequestStatus.REJECTED, action: "request.rejected" },
  cancel: { to: RequestStatus.CANCELLED, action: "request.cancelled" },
} as const;

export type Decision = keyof typeof DECISIONS;

/**
 * approve: PENDING_APPROVAL -> IN_PROGRESS, and the request's tasks are planned in the same
 * transaction (its status then follows them). reject (reason required): from either pending status.
 * cancel: before work starts. Anything else is CONFLICT and writes nothing.
 */
export async function decideRequest(services: Services, actor: Actor, decision: Decision, id: string, reason?: string | null): Promise<RequestRow> {
  const decided = await inTransaction(services.ds, async (em) => decideWithin(em, services, actor, decision, await loadRequest(em, id), reason));
  if (decision === "approve") services.wakeWorkers();
  return decided;
}

/** decideRequest inside the caller's transaction (the settings trigger submits and approves in one). */
export async function decideWithin(em: EntityManager, services: Services, actor: Actor, decision: Decision, row: RequestRow, reason?: string | null): Promise<RequestRow> {
  const { to, action } = DECISIONS[decision];
  const statusReason = reason?.trim() || null;
  const now = services.clock.now();
  // An approval plans: first the subject's lock (taken before any request row, as submissions take it),
  // so that of two requests of one person approved at once the later sees the earlier at work.
  if (decision === "approve") await lockSubject(em, keptSubjectEmail(row), now);
  // Corrections of a field take effect in the order they were received (correctionOrder.ts).
  if (decision === "approve") await refuseApprovalOutOfOrder(em, row, now);
  // One stored before submissions refused it, or before the connectors found people by what it writes: the code proved the old address alone.
  const identity = decision === "approve" && row.verificationMethod === VerificationMethod.CODE ? unvouchedIdentityProblem(row.corrections, services.connectors.list().map((c) => c.spec)) : null;
  if (identity) throw badInput("The request cannot be approved", [identity], { reason: IDENTITY_CORRECTION_UNVOUCHED });
  // One stored before submissions refused it, or before the connector that confirmed its user id or phone was taken away.
  const unconfirmed = decision === "approve" && row.verificationMethod === VerificationMethod.CODE ? unconfirmedIdentityProblems({ userId: row.subjectUserId, phone: row.subjectPhone }, services.connectors.list().map((c) => c.spec)) : [];
  if (unconfirmed.length) throw badInput("The request cannot be approved", unconfirmed);
  const moved = await moveRequest(em, row, to, { actor, action, details: statusReason ? reasonDetails(actor, statusReason) : {} }, now, {
    ...(statusReason ? { statusReason } : {}),
    // A decided request no longer needs a code: forget it.
    verificationCodeHash: null,
    verificationExpiresAt: null,
  });
  if (decision !== "approve") return moved;
  const { request, planned } = await planRequest(em, moved, services.connectors, actor, now, services.config.DSR_TASK_MAX_ATTEMPTS);
  // A plan whose EXPORT waits for COLLECTs stages their records: the key they stage under is made now
  // (one statement) rather than by the first COLLECT to finish, on every access request's critical path.
  if (planned.some((p) => p.step === TaskStep.EXPORT && p.dependsOn.length > 0)) {
    await makeStagingKey(em, exportTools(services).keys, request.id, now);
  }
  return request;
}
