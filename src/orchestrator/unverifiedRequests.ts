import { LessThanOrEqual } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { decideWithin } from "../commands/requestDecider";
import { inTransaction, lockedRequest } from "../db/transaction";
import { RequestStatus } from "../domain/enums";
import { RequestRow } from "../entities";
import type { Services } from "../services";

/** Why a request was closed unverified: told to whoever asks about it (no personal data). */
export const UNVERIFIED_REASON = "The subject's identity was not verified by the request's due date, so nothing was disclosed or changed; a new request can be submitted";

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
  const due = await services.ds.getRepository(RequestRow).find({
    select: { id: true },
    where: { status: RequestStatus.PENDING_VERIFICATION, dueAt: LessThanOrEqual(now) },
    order: { dueAt: "ASC", id: "ASC" },
    take: limit,
  });
  let closed = 0;
  for (const { id } of due) {
    const done = await inTransaction(services.ds, async (em) => {
      // Read again under the row's lock: verified, decided or extended meanwhile, it stays as it is.
      const row = await lockedRequest(em, id);
      if (row.status !== RequestStatus.PENDING_VERIFICATION || row.dueAt > now) return false;
      await decideWithin(em, services, SYSTEM_ACTOR, "reject", row, UNVERIFIED_REASON);
      return true;
    });
    if (done) closed += 1;
  }
  return closed;
}
