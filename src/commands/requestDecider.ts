import { Actor } from "../audit/actor";
import { inTransaction } from "../db/transaction";
import { RequestStatus } from "../domain/enums";
import { RequestRow } from "../entities";
import { Services } from "../services";
import { loadRequest, moveRequest } from "./requestTransition";

/** The privacy team's decisions on a request: each is one status move with its audit event. */
const DECISIONS = {
  approve: { to: RequestStatus.IN_PROGRESS, action: "request.approved" },
  reject: { to: RequestStatus.REJECTED, action: "request.rejected" },
  cancel: { to: RequestStatus.CANCELLED, action: "request.cancelled" },
} as const;

export type Decision = keyof typeof DECISIONS;

/**
 * approve: PENDING_APPROVAL -> IN_PROGRESS. reject (reason required): from either pending status.
 * cancel: before work starts. Anything else is CONFLICT and writes nothing.
 */
export async function decideRequest(services: Services, actor: Actor, decision: Decision, id: string, reason?: string | null): Promise<RequestRow> {
  const { to, action } = DECISIONS[decision];
  const statusReason = reason?.trim() || null;
  return inTransaction(services.ds, async (em) => {
    const row = await loadRequest(em, id);
    return moveRequest(em, row, to, { actor, action, details: statusReason ? { reason: statusReason } : {} }, services.clock.now(), {
      ...(statusReason ? { statusReason } : {}),
      // A decided request no longer needs a code: forget it.
      verificationCodeHash: null,
      verificationExpiresAt: null,
    });
  });
}
