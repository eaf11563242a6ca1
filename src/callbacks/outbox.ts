import { randomUUID } from "node:crypto";
import { EntityManager } from "typeorm";
import { RequestSource, RequestStatus, RequestType } from "../domain/enums";
import { TaskStep } from "../domain/tasks";
import { RequestRow, RetentionExceptionRow, RetentionExceptionStatus, StatusCallbackRow, StatusCallbackStatus, TaskRow } from "../entities";
import { statusReasonForSubject } from "../orchestrator/correctionReason";
import { answeringRequestId } from "../queries/exportFinder";

/** The JSON body of a status callback. Ids and statuses only: never the subject's identities. */
export interface StatusCallbackEvent {
  /** Event id (also header Dsr-Event-Id): a receiver that sees it twice acts once. */
  id: string;
  type: "request.status_changed";
  requestId: string;
  /** The key the settings page sent with requestAccountDeletion. */
  idempotencyKey: string | null;
  requestType: string;
  previousStatus: RequestStatus;
  status: RequestStatus;
  /** Why it failed, was rejected or cancelled (user words, no internals). */
  statusReason: string | null;
  /**
   * A COMPLETED deletion only: records still kept (retention rules or legal holds, the request's
   * retentionExceptions) and records left holding personal data that could not be erased (residualRecords).
   * Anything above 0 means the person's data is not all gone: do not tell them it is.
   */
  keptRecords?: number;
  residualRecords?: number;
  /** Orders one request's callbacks (they are also delivered in this order). */
  sequence: number;
  occurredAt: string;
}

/** Requests whose status changes are called back: those the settings page brought in. */
export const wantsStatusCallbacks = (row: RequestRow): boolean => row.source === RequestSource.SETTINGS;

/** What a completed deletion (or the one whose work answered it) left in the systems: counts only. */
async function leftBehind(em: EntityManager, requestId: string): Promise<{ keptRecords: number; residualRecords: number }> {
  const kept = await em.getRepository(RetentionExceptionRow).findBy({ requestId, status: RetentionExceptionStatus.OPEN });
  const erasures = await em.getRepository(TaskRow).findBy({ requestId, step: TaskStep.ERASE });
  return { keptRecords: kept.reduce((n, e) => n + e.recordCount, 0), residualRecords: erasures.reduce((n, t) => n + (t.result?.residual ?? 0), 0) };
}

/**
 * Puts a status change in the outbox. MUST run in the transaction that changed the status: the
 * callback then exists exactly when the change committed, and a crash cannot lose or invent one.
 */
export async function enqueueStatusCallback(em: EntityManager, moved: RequestRow, previousStatus: RequestStatus, now: Date): Promise<void> {
  if (!wantsStatusCallbacks(moved)) return;
  const id = randomUUID();
  const event: StatusCallbackEvent = {
    id,
    type: "request.status_changed",
    requestId: moved.id,
    idempotencyKey: moved.idempotencyKey,
    requestType: moved.type,
    previousStatus,
    status: moved.status,
    // The settings page is the subject's side: told no hold, and no other token's request (statusReasonForSubject).
    statusReason: await statusReasonForSubject(em, moved),
    ...(moved.type === RequestType.DELETION && moved.status === RequestStatus.COMPLETED ? await leftBehind(em, answeringRequestId(moved)) : {}),
    sequence: moved.version,
    occurredAt: now.toISOString(),
  };
  await em.getRepository(StatusCallbackRow).insert({
    id,
    requestId: moved.id,
    requestVersion: moved.version,
    payload: JSON.stringify(event),
    status: StatusCallbackStatus.PENDING,
    attempts: 0,
    nextAttemptAt: now,
    claimedBy: null,
    lastError: null,
    createdAt: now,
    deliveredAt: null,
  });
}
