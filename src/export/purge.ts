import { In, LessThanOrEqual } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { deleteMatching } from "../db/deleteMatching";
import { truncateSqliteLog } from "../db/sqliteResidue";
import { inTransaction } from "../db/transaction";
import { TERMINAL_STATUSES } from "../domain/enums";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { ExportRow, RequestIdentityRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, StagedBatchRow, StagedKeyRow, SurveyedIdsRow, TaskRow } from "../entities";
import type { Services } from "../services";
import { exportTools } from "./context";
import { deleteStaged } from "./staging";
import { purgeIdleFences } from "../orchestrator/holdFence";
import { graceCutoff, PAST_PURPOSE } from "../orchestrator/identityRetention";
import { purgeRosterFiles } from "../roster/purge";
import { purgeExpiredRecords } from "../orchestrator/recordRetention";

/** How often a worker runs the purge. */
export const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * Deletes exports whose retention ended (the stored file first, then the row with an audit event, so a
 * crash in between leaves a row the next run finishes), breach roster files whose time ended
 * (src/roster/purge.ts), staged records whose purpose ended (see purgeStagedRecords), the identities
 * of requests past their purpose (purgeRequestIdentities), and the hold fence's rows no placement marks
 * (purgeIdleFences), and the subject's identities in records of requests and released holds past
 * DSR_REQUEST_RECORD_RETENTION_DAYS (orchestrator/recordRetention.ts). Idempotent: any number of
 * workers may run it.
 */
export async function purgeExpiredExports(
  services: Pick<Services, "ds" | "clock" | "config" | "logger" | "secret">,
): Promise<{ exports: number; stagedRecords: number; surveyedRecords: number; rosters: number; identities: number; fences: number; requestRecords: number; holdRecords: number }> {
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
  const stagedRecords = await purgeStagedRecords(services);
  const surveyedRecords = await purgeSurveyedRecords(services);
  const rosters = await purgeRosterFiles(services);
  const identities = await purgeRequestIdentities(services);
  const fences = await purgeIdleFences(services);
  const { requests: requestRecords, holds: holdRecords } = await purgeExpiredRecords(services);
  const counts = { exports, stagedRecords, surveyedRecords, rosters, identities, fences, requestRecords, holdRecords };
  // What those deletions removed must not stay readable in the log's older frames either.
  await truncateSqliteLog(ds);
  if (Object.values(counts).some((n) => n > 0)) services.logger.info(counts, "export retention purge");
  return counts;
}

/** Requests among `ids` that ended (any terminal state) at or before `cutoff`. */
async function endedBy(ds: Services["ds"], ids: readonly string[], cutoff: Date): Promise<string[]> {
  const rows = await ds.getRepository(RequestRow).find({ where: { id: In([...ids]), status: In([...TERMINAL_STATUSES]), closedAt: LessThanOrEqual(cutoff) }, select: { id: true } });
  return rows.map((r) => r.id);
}

/**
 * The requests that hold rows of `entity` (keyed by requestId) and ended by the grace's cutoff, a
 * group of up to 100 at a time (endedBy), with that cutoff.
 */
async function* endedHolding(services: Pick<Services, "ds" | "clock" | "config">, entity: typeof SurveyedIdsRow | typeof RequestIdentityRow): AsyncGenerator<{ ended: string[]; cutoff: Date }> {
  const { ds, clock, config } = services;
  const cutoff = graceCutoff(clock.now(), config.DSR_STAGED_GRACE_MINUTES);
  const requests: Array<{ requestId: string }> = await ds.getRepository(entity).createQueryBuilder("x").select("DISTINCT x.requestId", "requestId").getRawMany();
  for (let i = 0; i < requests.length; i += 100) {
    const ended = await endedBy(ds, requests.slice(i, i + 100).map((r) => r.requestId), cutoff);
    if (ended.length) yield { ended, cutoff };
  }
}

/**
 * Removes the surveyed record ids (a deletion's survey keeps them, encrypted, for its verification
 * pass) of every request that ended DSR_STAGED_GRACE_MINUTES ago or more without its ERASE tasks
 * removing them (it FAILED or was CANCELLED; a retryTask within the grace still finds them). Returns
 * the batches removed.
 */
export async function purgeSurveyedRecords(services: Pick<Services, "ds" | "clock" | "config">): Promise<number> {
  let removed = 0;
  for await (const { ended } of endedHolding(services, SurveyedIdsRow)) {
    for (const requestId of ended) {
      // By primary key, 100 at a time, each delete alone (deleteMatching): a delete by the request index
      // would take InnoDB gap locks that stall other requests' surveys.
      removed += await deleteMatching(services.ds, SurveyedIdsRow, { requestId }, 100);
    }
  }
  return removed;
}

/**
 * Removes the identities of every request past their purpose (identityRetention.ts): of the requests
 * holding any, 100 at a time, those that ended by the grace's cutoff with no retention exception open,
 * then each one's in one statement alone, which re-checks the rule (a request reopened meanwhile by
 * retryTask keeps them). Returns the identities removed.
 */
export async function purgeRequestIdentities(services: Pick<Services, "ds" | "clock" | "config">): Promise<number> {
  const { ds } = services;
  let removed = 0;
  for await (const { ended, cutoff } of endedHolding(services, RequestIdentityRow)) {
    // A deletion's kept sets are purged through its identities, for years: passed by in one read, not a statement each.
    const kept = await ds.getRepository(RetentionExceptionRow).find({ where: { requestId: In(ended), status: RetentionExceptionStatus.OPEN }, select: { requestId: true } });
    const keeping = new Set(kept.map((e) => e.requestId));
    for (const id of ended.filter((r) => !keeping.has(r))) {
      const { affected } = await ds
        .getRepository(RequestIdentityRow)
        .createQueryBuilder()
        .delete()
        .where("requestId = :id", { id })
        .andWhere(PAST_PURPOSE, { id, ended: [...TERMINAL_STATUSES], cutoff, open: RetentionExceptionStatus.OPEN })
        .execute();
      removed += affected ?? 0;
    }
  }
  return removed;
}

/**
 * Removes the staged records (key and batches) of every request whose export is stored (a crash between
 * the export's completion and its clean-up), or that ended in any state DSR_STAGED_GRACE_MINUTES ago or
 * more. Returns the batches removed.
 */
export async function purgeStagedRecords(services: Pick<Services, "ds" | "clock" | "config">): Promise<number> {
  const { ds, clock, config } = services;
  const cutoff = graceCutoff(clock.now(), config.DSR_STAGED_GRACE_MINUTES);
  const staged = new Set<string>();
  for (const r of await ds.getRepository(StagedKeyRow).find({ select: { requestId: true } })) staged.add(r.requestId);
  const batches: Array<{ requestId: string }> = await ds.getRepository(StagedBatchRow).createQueryBuilder("b").select("DISTINCT b.requestId", "requestId").getRawMany();
  for (const r of batches) staged.add(r.requestId);
  let removed = 0;
  const ids = [...staged];
  for (let i = 0; i < ids.length; i += 100) {
    const group = ids.slice(i, i + 100);
    const ended = await endedBy(ds, group, cutoff);
    const exported = await ds.getRepository(TaskRow).find({ where: { requestId: In(group), step: TaskStep.EXPORT, status: TaskStatus.SUCCEEDED }, select: { requestId: true } });
    for (const requestId of new Set([...ended, ...exported.map((t) => t.requestId)])) removed += await deleteStaged(ds, requestId);
  }
  return removed;
}
