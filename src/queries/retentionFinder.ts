import { DataSource, In, Not } from "typeorm";
import { answers } from "../commands/requestSubmitter";
import { RequestType, TERMINAL_STATUSES } from "../domain/enums";
import { DeletionPlanItemRow, keptSubjectEmail, RequestRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";

/** A request's retention exceptions, soonest purge first. */
export function findRetentionExceptions(ds: DataSource, requestId: string): Promise<RetentionExceptionRow[]> {
  return ds.getRepository(RetentionExceptionRow).find({ where: { requestId }, order: { retainUntil: "ASC", id: "ASC" } });
}

/** A deletion's stored plan, by connector and category. */
export function findDeletionPlan(ds: DataSource, requestId: string): Promise<DeletionPlanItemRow[]> {
  return ds.getRepository(DeletionPlanItemRow).find({ where: { requestId }, order: { connector: "ASC", category: "ASC" } });
}

/**
 * The open exceptions of the person's ended deletions, of `connector` and `categories`, that `request`'s
 * erasure reached with every identity they were kept under (its work answers theirs): once it read the
 * system back and keeps nothing of those categories, the records they say are kept are gone.
 */
export async function exceptionsErasedBy(ds: DataSource, request: RequestRow, connector: string, categories: readonly string[]): Promise<RetentionExceptionRow[]> {
  if (!categories.length) return [];
  const earlier = await ds.getRepository(RequestRow).findBy({ type: RequestType.DELETION, subjectEmail: keptSubjectEmail(request), status: In([...TERMINAL_STATUSES]), id: Not(request.id) });
  const reached = earlier.filter((e) => answers(request, e)).map((e) => e.id);
  if (!reached.length) return [];
  return ds.getRepository(RetentionExceptionRow).findBy({ requestId: In(reached), connector, category: In([...categories]), status: RetentionExceptionStatus.OPEN });
}
