import { LessThanOrEqual } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { CollectedRecordRow, ExportRow, TaskRow } from "../entities";
import type { Services } from "../services";
import { exportTools } from "./context";
import { deleteStagedRecords } from "./records";

/** How often a worker runs the purge. */
export const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * Deletes exports whose retention ended (the stored file first, then the row with an audit event, so a
 * crash in between leaves a row the next run finishes), and staged records that a finished export left
 * behind (a crash between its completion and its clean-up). Idempotent: any number of workers may run it.
 */
export async function purgeExpiredExports(services: Pick<Services, "ds" | "clock" | "config" | "logger">): Promise<{ exports: number; stagedRecords: number }> {
  const { ds, clock } = services;
  const { storage } = exportTools(services);
  const now = clock.now();
  let exports = 0;
  for (;;) {
    const due = await ds.getRepository(ExportRow).find({ where: { expiresAt: LessThanOrEqual(now) }, order: { expiresAt: "ASC" }, take: 100 });
    for (const row of due) {
      await storage.delete(row.objectKey);
      await inTransaction(ds, async (em) => {
        const gone = await em.getRepository(ExportRow).delete({ id: row.id });
        if (gone.affected !== 1) return;
        exports += 1;
        await appendAuditEvent(em, { requestId: row.requestId, actor: SYSTEM_ACTOR, action: "export.purged", details: { exportId: row.id, reason: "retention ended", expiresAt: row.expiresAt.toISOString() } }, now);
      });
    }
    if (due.length < 100) break;
  }
  let stagedRecords = 0;
  const leftovers: Array<{ requestId: string }> = await ds
    .getRepository(CollectedRecordRow)
    .createQueryBuilder("r")
    .select("DISTINCT r.requestId", "requestId")
    .innerJoin(TaskRow, "t", "t.requestId = r.requestId AND t.step = :step AND t.status = :status", { step: TaskStep.EXPORT, status: TaskStatus.SUCCEEDED })
    .getRawMany();
  for (const { requestId } of leftovers) stagedRecords += await deleteStagedRecords(ds, requestId);
  if (exports || stagedRecords) services.logger.info({ exports, stagedRecords }, "export retention purge");
  return { exports, stagedRecords };
}
