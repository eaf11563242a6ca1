import { LessThanOrEqual } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { decideWithin } from "../commands/requestDecider";
import { inTransaction, lockedRequest } from "../db/transaction";
import { RequestStatus } from "../domain/enums";
import { RequestRow } from "../entities";
import type { Services } from "../services";

/** Why a request was closed unverified: told to whoever asks about it (no personal data). */
export const UNVERIFIED_REASON = "The subject's identity was not verified by the request's due date, so nothing was disclosed or changed; a new request can be submitted";

/** Why a verified request nobody decided was closed: told to whoever asks about it (no personal data). */
export const undecidedReason = (graceDays: number) =>
  `No one approved or rejected the request within ${graceDays} day(s) after its due date, so nothing was disclosed or changed and the subject's data is not kept waiting for a decision; a new request can be submitted`;

const DAY_MS = 86_400_000;

/** Requests closed per sweep at most (each in a transaction of its own); the next sweep takes the rest. */
export const UNVERIFIED_BATCH = 100;

/**
 * Closes requests still PENDING_VERIFICATION at their due date (`dueAt`, as extended): REJECTED by the
 * system with UNVERIFIED_REASON, audited and called back as any rejection. The policy discloses or
 * changes nothing before the identity is verified, and a request nobody verified would otherwise stay
 * open for ever, its subject's address with it: once closed, its record's personal data is removed
 * after DSR_REQUEST_RECORD_RETENTION_DAYS (recordRetention.ts) like any ended request's. The worker's
 * sweep runs it on the service clock (not while this host's clock is off the database's). Returns how
 * many it closed.
 */
export async function closeUnverifiedRequests(services: Services, now: Date, limit = UNVERIFIED_BATCH): Promise<number> {
  return closeWaiting(services, RequestStatus.PENDING_VERIFICATION, now, UNVERIFIED_REASON, limit);
}

/**
 * Closes verified requests nobody approved or rejected (PENDING_APPROVAL) DSR_UNDECIDED_GRACE_DAYS after
 * their due date (as extended): REJECTED by the system with undecidedReason, audited (`request.rejected`
 * by `system`, the reason in the event) and called back as any rejection. Left waiting, such a request
 * kept the person's identities (its record and request_identities) for ever, since only ended requests'
 * records are cleared; closed, they go after DSR_REQUEST_RECORD_RETENTION_DAYS. Returns how many it closed.
 */
export async function closeUndecidedRequests(services: Services, now: Date, limit = UNVERIFIED_BATCH): Promise<number> {
  const graceDays = services.config.DSR_UNDECIDED_GRACE_DAYS;
  return closeWaiting(services, RequestStatus.PENDING_APPROVAL, new Date(now.getTime() - graceDays * DAY_MS), undecidedReason(graceDays), limit);
}

/** Rejects, as the system, up to `limit` requests still in `status` whose due date is at or before `dueBy`, each in a transaction of its own. */
async function closeWaiting(services: Services, status: RequestStatus, dueBy: Date, reason: string, limit: number): Promise<number> {
  const due = await services.ds.getRepository(RequestRow).find({
    select: { id: true },
    where: { status, dueAt: LessThanOrEqual(dueBy) },
    order: { dueAt: "ASC", id: "ASC" },
    take: limit,
  });
  let closed = 0;
  for (const { id } of due) {
    const done = await inTransaction(services.ds, async (em) => {
      // Read again under the row's lock: verified, decided or extended meanwhile, it stays as it is.
      const row = await lockedRequest(em, id);
      if (row.status !== status || row.dueAt > dueBy) return false;
      await decideWithin(em, services, SYSTEM_ACTOR, "reject", row, reason);
      return true;
    });
    if (done) closed += 1;
  }
  return closed;
}
