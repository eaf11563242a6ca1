import { randomUUID } from "node:crypto";
import { EntityManager } from "typeorm";
import { RequestSource, RequestStatus } from "../domain/enums";
import { RequestRow, StatusCallbackRow, StatusCallbackStatus } from "../entities";

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
  /** Orders one request's callbacks (they are also delivered in this order). */
  sequence: number;
  occurredAt: string;
}

/** Requests whose status changes are called back: those the settings page brought in. */
export const wantsStatusCallbacks = (row: RequestRow): boolean => row.source === RequestSource.SETTINGS;

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
    statusReason: moved.statusReason,
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
