import { DataSource, In, Not } from "typeorm";
import { holdFor } from "../domain/retention";
import { activeHoldsFor } from "./legalHoldFinder";
import { answers } from "../commands/requestSubmitter";
import { RequestType, TERMINAL_STATUSES } from "../domain/enums";
import type { Identities } from "../connectors/sdk";
import { DeletionPlanItemRow, keptSubjectEmail, RequestIdentityRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";

/** A request's retention exceptions, soonest purge first. */
export function findRetentionExceptions(ds: DataSource, requestId: string): Promise<RetentionExceptionRow[]> {
  return ds.getRepository(RetentionExceptionRow).find({ where: { requestId }, order: { retainUntil: "ASC", id: "ASC" } });
}

/**
 * For each open set a retention rule keeps (it has a retainUntil and no hold), the active legal hold on
 * the subject that covers its category, by the set's id: that hold keeps the set past retainUntil, until
 * it is released (the purge then names it in the set itself, `holdId`). Placed while the rule's period
 * runs, the hold would otherwise show nowhere on the set until then, and a certificate issued meanwhile
 * would promise the purge at retainUntil.
 */
export async function holdsExtending(ds: DataSource, subjectEmail: string | null, rows: readonly RetentionExceptionRow[]): Promise<Map<string, string>> {
  const ruled = rows.filter((r) => r.status === RetentionExceptionStatus.OPEN && r.holdId === null && r.retainUntil !== null);
  const extending = new Map<string, string>();
  // A request keeps its subject while any of its sets is open (DSR_REQUEST_RECORD_RETENTION_DAYS counts from the last one closed).
  if (!ruled.length || subjectEmail === null) return extending;
  const holds = await activeHoldsFor(ds, subjectEmail);
  for (const row of ruled) {
    const hold = holdFor(row.category, holds);
    if (hold) extending.set(row.id, hold.id);
  }
  return extending;
}

/** A deletion's stored plan, by connector and category. */
export function findDeletionPlan(ds: DataSource, requestId: string): Promise<DeletionPlanItemRow[]> {
  return ds.getRepository(DeletionPlanItemRow).find({ where: { requestId }, order: { connector: "ASC", category: "ASC" } });
}

/**
 * The open exceptions of the person's ended deletions, of `connector` and `categories`, that `request`'s
 * erasure reached with every identity they were kept under (its work answers theirs, and each identity
 * the connector finds people by, `needs`, that their erasure worked from is one `reachedWith` holds):
 * once it read the system back and keeps nothing of those categories, the records they say are kept are
 * gone. An erasure that lacked one (the account database, which provided the payment customer id, erased
 * by the earlier deletion) read back nothing because it could not look, not because nothing is there.
 */
export async function exceptionsErasedBy(
  ds: DataSource,
  request: RequestRow,
  connector: string,
  categories: readonly string[],
  reachedWith: Identities,
  needs: readonly string[],
): Promise<RetentionExceptionRow[]> {
  if (!categories.length) return [];
  const earlier = await ds.getRepository(RequestRow).findBy({ type: RequestType.DELETION, subjectEmail: keptSubjectEmail(request), status: In([...TERMINAL_STATUSES]), id: Not(request.id) });
  const answered = earlier.filter((e) => answers(request, e)).map((e) => e.id);
  if (!answered.length) return [];
  const theirs = needs.length ? await ds.getRepository(RequestIdentityRow).findBy({ requestId: In(answered), kind: In([...needs]) }) : [];
  const own = reachedWith as Record<string, string | undefined>;
  const missed = new Set(theirs.filter((i) => own[i.kind] !== i.value).map((i) => i.requestId));
  const reached = answered.filter((id) => !missed.has(id));
  if (!reached.length) return [];
  return ds.getRepository(RetentionExceptionRow).findBy({ requestId: In(reached), connector, category: In([...categories]), status: RetentionExceptionStatus.OPEN });
}
