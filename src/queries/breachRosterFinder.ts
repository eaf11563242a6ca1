import { DataSource, EntityManager } from "typeorm";
import { BreachRosterRow, BreachRosterStatus } from "../entities";
import { notFound } from "../errors";

/** The roster with this id (any case), or NOT_FOUND. */
export async function findBreachRoster(em: EntityManager | DataSource, id: string): Promise<BreachRosterRow> {
  const row = await em.getRepository(BreachRosterRow).findOneBy({ id: id.toLowerCase() });
  if (!row) throw notFound("Breach roster", id);
  return row;
}

/** The newest `first` rosters. */
export function findBreachRosters(ds: DataSource, first: number): Promise<BreachRosterRow[]> {
  return ds.getRepository(BreachRosterRow).find({ order: { createdAt: "DESC", id: "ASC" }, take: first });
}

/** Why a roster has no file to download, or null when it has one. */
export function noRosterFileReason(row: BreachRosterRow): string | null {
  if (row.status === BreachRosterStatus.COMPLETED) return row.objectKey ? null : "this roster's file was removed when its retention ended; draw a new roster";
  if (row.status === BreachRosterStatus.FAILED) return "this roster failed: it has no file (see lastError), draw a new one";
  return `this roster is ${row.status}: its file is not written yet`;
}
