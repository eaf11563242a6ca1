import { IsNull, LessThanOrEqual, Not } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { BreachRosterRow, BreachRosterStatus } from "../entities";
import type { Services } from "../services";
import { removeRosterFiles } from "./rosterJob";

/**
 * Removes the files of rosters whose time ended: a COMPLETED roster's after DSR_ROSTER_RETENTION_DAYS,
 * whatever a FAILED roster's attempts left at once. The files go first, then the row forgets them (with
 * an audit event for a roster that had one), so a crash in between leaves a row the next run finishes.
 * The row itself stays: what was drawn up, when and for whom, in counts. Returns the rosters purged.
 */
export async function purgeRosterFiles(services: Pick<Services, "ds" | "clock" | "config" | "logger">): Promise<number> {
  const { ds, clock } = services;
  const now = clock.now();
  let purged = 0;
  for (;;) {
    const due = await ds.getRepository(BreachRosterRow).find({ where: { expiresAt: LessThanOrEqual(now), status: Not(BreachRosterStatus.RUNNING) }, order: { expiresAt: "ASC" }, take: 100 });
    for (const row of due) {
      await removeRosterFiles(services, row.id, row.attempts);
      await inTransaction(ds, async (em) => {
        const gone = await em.getRepository(BreachRosterRow).update({ id: row.id, expiresAt: Not(IsNull()) }, { objectKey: null, expiresAt: null });
        if (gone.affected !== 1) return;
        purged += 1;
        if (row.objectKey) await appendAuditEvent(em, { requestId: null, actor: SYSTEM_ACTOR, action: "roster.purged", details: { rosterId: row.id, reason: "retention ended", expiresAt: row.expiresAt!.toISOString() } }, now);
      });
    }
    if (due.length < 100) break;
  }
  return purged;
}
