import { DataSource } from "typeorm";
import { RetentionExceptionRow } from "../entities";

/** A request's retention exceptions, soonest purge first. */
export function findRetentionExceptions(ds: DataSource, requestId: string): Promise<RetentionExceptionRow[]> {
  return ds.getRepository(RetentionExceptionRow).find({ where: { requestId }, order: { retainUntil: "ASC", id: "ASC" } });
}
