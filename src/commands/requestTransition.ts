import { EntityManager } from "typeorm";
import { Actor } from "../audit/actor";
import { enqueueStatusCallback } from "../callbacks/outbox";
import { appendAuditEvent, AuditDetails } from "../audit/auditTrail";
import { RequestStatus, TERMINAL_STATUSES } from "../domain/enums";
import { canMove, statusesLeadingTo } from "../domain/lifecycle";
import { RequestRow } from "../entities";
import { badField, conflict, notFound } from "../errors";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Loads a request by id; a malformed id is BAD_USER_INPUT, an unknown one NOT_FOUND. */
export async function loadRequest(em: EntityManager, id: string): Promise<RequestRow> {
  if (!UUID.test(id)) throw badField("id", "id must be a request id (a UUID)");
  const row = await em.getRepository(RequestRow).findOneBy({ id: id.toLowerCase() });
  if (!row) throw notFound("Request", id);
  return row;
}

export type RequestPatch = Partial<Omit<RequestRow, "id" | "version" | "status">>;

/**
 * Writes `patch` to a request if nobody changed it since it was read (compare-and-set on version),
 * and appends the audit event in the same transaction. Returns the updated row.
 */
export async function updateRequest(
  em: EntityManager,
  row: RequestRow,
  patch: RequestPatch & { status?: RequestStatus },
  audit: { actor: Actor; action: string; details?: AuditDetails },
  now: Date,
): Promise<RequestRow> {
  const next = { ...patch, version: row.version + 1, updatedAt: now };
  const result = await em.getRepository(RequestRow).update({ id: row.id, version: row.version }, next);
  if (result.affected !== 1) throw conflict(`Request ${row.id} was changed by someone else at the same time; read it again and retry`);
  await appendAuditEvent(em, { requestId: row.id, actor: audit.actor, action: audit.action, details: audit.details }, now);
  return Object.assign(new RequestRow(), row, next);
}

/**
 * Moves a request to another status. A move the lifecycle does not allow is CONFLICT and writes nothing.
 * Every move is an audit event `request.<verb>` with the statuses it moved between, and (for requests
 * that asked for them) a status callback in the outbox, both in the caller's transaction.
 */
export async function moveRequest(
  em: EntityManager,
  row: RequestRow,
  to: RequestStatus,
  audit: { actor: Actor; action: string; details?: AuditDetails },
  now: Date,
  patch: RequestPatch = {},
): Promise<RequestRow> {
  if (!canMove(row.status, to)) {
    throw conflict(
      `Request ${row.id} is ${row.status}; it can become ${to} only from ${statusesLeadingTo(to).join(" or ") || "no status"}`,
      { status: row.status },
    );
  }
  const closedAt = TERMINAL_STATUSES.includes(to) ? now : row.closedAt;
  const moved = await updateRequest(
    em,
    row,
    { ...patch, status: to, closedAt },
    { ...audit, details: { from: row.status, to, ...audit.details } },
    now,
  );
  await enqueueStatusCallback(em, moved, row.status, now);
  return moved;
}
