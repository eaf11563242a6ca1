import { EntityManager } from "typeorm";
import { TERMINAL_STATUSES } from "../domain/enums";
import { RequestIdentityRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";
import type { Services } from "../services";

const MINUTE_MS = 60_000;

/**
 * How long a request keeps the identities its tasks work from (request_identities: those it was given,
 * and those its RESOLVE tasks found, such as a phone number or a payment customer id): while it is open,
 * then DSR_STAGED_GRACE_MINUTES after it ended (the window in which a failed task may be retried), and
 * for as long as a retention exception it kept is OPEN (the purge that ends it erases through them).
 * After that they serve nothing, and a deleted person's identities would otherwise outlive her data in
 * every system the deletion reached.
 */
function cutoff(now: Date, graceMinutes: number): Date {
  return new Date(now.getTime() - graceMinutes * MINUTE_MS);
}

/** The rule as SQL over a request id `:id`: ended by `:cutoff`, and no exception of it OPEN. */
const PAST_PURPOSE = `EXISTS (SELECT 1 FROM requests r WHERE r.id = :id AND r.status IN (:...ended) AND r.closedAt <= :cutoff)
  AND NOT EXISTS (SELECT 1 FROM retention_exceptions e WHERE e.requestId = :id AND e.status = :open)`;

/** Whether `request` is past the purpose of its identities at `now` (whether or not the purge removed them yet). */
export async function identitiesPastPurpose(em: EntityManager, request: RequestRow, now: Date, graceMinutes: number): Promise<boolean> {
  if (!request.closedAt || !TERMINAL_STATUSES.includes(request.status) || request.closedAt > cutoff(now, graceMinutes)) return false;
  return !(await em.getRepository(RetentionExceptionRow).existsBy({ requestId: request.id, status: RetentionExceptionStatus.OPEN }));
}

/**
 * Removes the identities of every request past their purpose (see cutoff), one request a statement, each
 * alone; the statement re-checks the rule, so a request reopened meanwhile (retryTask, before its
 * cutoff) keeps them. Returns the identities removed.
 */
export async function purgeRequestIdentities(services: Pick<Services, "ds" | "clock" | "config">): Promise<number> {
  const { ds, clock, config } = services;
  const requests: Array<{ requestId: string }> = await ds.getRepository(RequestIdentityRow).createQueryBuilder("i").select("DISTINCT i.requestId", "requestId").getRawMany();
  let removed = 0;
  for (const { requestId } of requests) {
    const { affected } = await ds
      .getRepository(RequestIdentityRow)
      .createQueryBuilder()
      .delete()
      .where("requestId = :id", { id: requestId })
      .andWhere(PAST_PURPOSE, { id: requestId, ended: [...TERMINAL_STATUSES], cutoff: cutoff(clock.now(), config.DSR_STAGED_GRACE_MINUTES), open: RetentionExceptionStatus.OPEN })
      .execute();
    removed += affected ?? 0;
  }
  return removed;
}
