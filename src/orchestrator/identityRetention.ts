import { TERMINAL_STATUSES } from "../domain/enums";
import { RequestRow } from "../entities";

const MINUTE_MS = 60_000;

/**
 * The instant before which a request must have ended for what it keeps only for retries (staged
 * records, surveyed record ids, the identities its tasks work from) to be removed: DSR_STAGED_GRACE_MINUTES
 * before `now`, the window in which a failed task may be retried.
 */
export function graceCutoff(now: Date, graceMinutes: number): Date {
  return new Date(now.getTime() - graceMinutes * MINUTE_MS);
}

/**
 * How long a request keeps the identities its tasks work from (request_identities: those it was given,
 * and those its RESOLVE tasks found, such as a phone number or a payment customer id): while it is open,
 * then until the grace after it ended (graceCutoff), and for as long as a retention exception it kept is
 * OPEN (the purge that ends it erases through them). After that they serve nothing, and a deleted
 * person's identities would otherwise outlive her data in every system the deletion reached.
 *
 * The rule as SQL over a request id `:id` (the purge's delete re-checks it): ended by `:cutoff`, and no
 * exception of it OPEN.
 */
export const PAST_PURPOSE = `EXISTS (SELECT 1 FROM requests r WHERE r.id = :id AND r.status IN (:...ended) AND r.closedAt <= :cutoff)
  AND NOT EXISTS (SELECT 1 FROM retention_exceptions e WHERE e.requestId = :id AND e.status = :open)`;

/**
 * Whether `request` ended (any terminal state) by the grace's cutoff at `now`: from then on the purge
 * removes what it collected and surveyed (staged records, surveyed record ids), whatever it kept.
 */
export function endedBeforeGrace(request: Pick<RequestRow, "status" | "closedAt">, now: Date, graceMinutes: number): boolean {
  return !!request.closedAt && TERMINAL_STATUSES.includes(request.status) && request.closedAt <= graceCutoff(now, graceMinutes);
}
