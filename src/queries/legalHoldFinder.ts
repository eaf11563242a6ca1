import { DataSource, EntityManager } from "typeorm";
import { normalizeEmail } from "../domain/identities";
import { ActiveHold } from "../domain/retention";
import { heldCategories, LegalHoldRow, LegalHoldStatus } from "../entities";

/** Holds, newest first; by subject (in matching form, so case-insensitive) and status when given. */
export function findLegalHolds(ds: DataSource, filter: { subjectEmail?: string | null; status?: LegalHoldStatus | null }): Promise<LegalHoldRow[]> {
  return ds.getRepository(LegalHoldRow).find({
    where: {
      ...(filter.subjectEmail ? { subjectEmail: normalizeEmail(filter.subjectEmail) } : {}),
      ...(filter.status ? { status: filter.status } : {}),
    },
    order: { placedAt: "DESC", id: "ASC" },
    take: 500,
  });
}

/** The subject's active holds, as erasure sees them. */
export async function activeHoldsFor(em: EntityManager | DataSource, subjectEmail: string): Promise<ActiveHold[]> {
  const rows = await em.getRepository(LegalHoldRow).findBy({ subjectEmail: normalizeEmail(subjectEmail), status: LegalHoldStatus.ACTIVE });
  return rows.map((r) => ({ id: r.id, categories: heldCategories(r), caseReference: r.caseReference }));
}
