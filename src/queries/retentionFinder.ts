import { DataSource } from "typeorm";
import { DeletionPlanItemRow, RetentionExceptionRow } from "../entities";

/** A request's retention exceptions, soonest purge first. */
export function findRetentionExceptions(ds: DataSource, requestId: string): Promise<RetentionExceptionRow[]> {
  return ds.getRepository(RetentionExceptionRow).find({ where: { requestId }, order: { retainUntil: "ASC", id: "ASC" } });
}

/** A deletion's stored plan, by connector and category. */
export function findDeletionPlan(ds: DataSource, requestId: string): Promise<DeletionPlanItemRow[]> {
  return ds.getRepository(DeletionPlanItemRow).find({ where: { requestId }, order: { connector: "ASC", category: "ASC" } });
}
