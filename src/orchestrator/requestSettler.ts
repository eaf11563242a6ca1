import { EntityManager } from "typeorm";
import { SYSTEM_ACTOR } from "../audit/actor";
import { moveRequest } from "../commands/requestTransition";
import { lockedRequest } from "../db/transaction";
import { RequestStatus, RequestType, TERMINAL_STATUSES } from "../domain/enums";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { RequestRow, TaskRow } from "../entities";
import { answeredTogether, correctionOutcome, failedCorrectionReason, rectifyTasksOf, writtenBeforeFailing } from "./correctionReason";
import { armClosingPasses } from "./sql/armClosingPasses";

export interface TaskCounts {
  total: number;
  byStatus: Partial<Record<TaskStatus, number>>;
  /** The steps at least one of whose tasks SUCCEEDED. */
  succeededSteps: ReadonlySet<TaskStep>;
}

/** A request's tasks counted by status (and which steps succeeded), in one statement. */
export async function countTasks(em: EntityManager, requestId: string): Promise<TaskCounts> {
  const rows: Array<{ status: TaskStatus; step: TaskStep; n: string | number }> = await em
    .getRepository(TaskRow)
    .createQueryBuilder("t")
    .select("t.status", "status")
    .addSelect("t.step", "step")
    .addSelect("COUNT(*)", "n")
    .where("t.requestId = :requestId", { requestId })
    .groupBy("t.status")
    .addGroupBy("t.step")
    .getRawMany();
  const byStatus: TaskCounts["byStatus"] = {};
  for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + Number(r.n);
  const succeededSteps = new Set(rows.filter((r) => r.status === TaskStatus.SUCCEEDED).map((r) => r.step));
  return { total: rows.reduce((sum, r) => sum + Number(r.n), 0), byStatus, succeededSteps };
}

/** The status a request's tasks call for. */
export function statusFromTasks(counts: TaskCounts): RequestStatus {
  const n = (s: TaskStatus) => counts.byStatus[s] ?? 0;
  const finished = n(TaskStatus.SUCCEEDED) + n(TaskStatus.FAILED) + n(TaskStatus.SKIPPED);
  if (finished === counts.total) return n(TaskStatus.FAILED) > 0 ? RequestStatus.FAILED : RequestStatus.COMPLETED;
  return n(TaskStatus.AWAITING_INPUT) > 0 ? RequestStatus.AWAITING_INPUT : RequestStatus.IN_PROGRESS;
}

/**
 * Makes a request's status follow its tasks: COMPLETED when all finished without failure, FAILED when
 * all finished and one failed, AWAITING_INPUT while a person must act. Requests that duplicate it
 * follow it to its end. Runs inside the transaction of the task transition that may have changed it,
 * with the request row locked, so two tasks finishing at once cannot both miss the last one.
 */
export async function settleRequest(em: EntityManager, requestId: string, now: Date): Promise<RequestRow> {
  const request = await lockedRequest(em, requestId);
  if (TERMINAL_STATUSES.includes(request.status) || request.status === RequestStatus.PENDING_APPROVAL || request.status === RequestStatus.PENDING_VERIFICATION) {
    return request;
  }
  if (request.duplicateOf) return request;
  const counts = await countTasks(em, requestId);
  let target = statusFromTasks(counts);
  let statusReason: string | null = null;
  if (target === RequestStatus.COMPLETED) {
    statusReason = await nothingDone(em, request, counts);
    if (statusReason) target = RequestStatus.FAILED;
    else if (request.type === RequestType.CORRECTION) {
      const corrected = await correctedOnlyIn(em, request);
      statusReason = corrected.reason;
      if (corrected.nothing) target = RequestStatus.FAILED;
    }
    // A deletion is done once the systems erased before its identity sources were looked at again.
    else if (request.type === RequestType.DELETION && (await armClosingPasses(em, requestId, now)) > 0) return request;
  }
  if (target === request.status) return request;
  if (target === RequestStatus.FAILED && !statusReason) {
    const failed = await em.getRepository(TaskRow).find({ where: { requestId, status: TaskStatus.FAILED }, order: { connector: "ASC" } });
    statusReason = `${failed.length} task(s) failed: ${failed.map((t) => `${t.connector} ${t.step}: ${t.lastError ?? "failed"}`).join("; ")}`.slice(0, 500);
    if (request.type === RequestType.CORRECTION) statusReason = failedCorrectionReason(statusReason, request, await writtenBeforeFailing(em, requestId));
  }
  const moved = await moveRequest(
    em,
    request,
    target,
    { actor: SYSTEM_ACTOR, action: `request.${target.toLowerCase()}`, details: { tasks: counts.total, ...countsDetails(counts) } },
    now,
    statusReason ? { statusReason } : {},
  );
  if (TERMINAL_STATUSES.includes(target)) await settleDuplicates(em, moved, now);
  return moved;
}

/** The step that does a request's work, for the types where doing nothing cannot be the answer. */
const WORK_STEP: Partial<Record<RequestType, { step: TaskStep; verb: string; action: string }>> = {
  [RequestType.ACCESS]: { step: TaskStep.COLLECT, verb: "collect the subject's data", action: "access" },
  [RequestType.PORTABILITY]: { step: TaskStep.COLLECT, verb: "collect the subject's data", action: "access" },
  [RequestType.DELETION]: { step: TaskStep.ERASE, verb: "erase the subject's data", action: "erasure" },
  [RequestType.CORRECTION]: { step: TaskStep.RECTIFY, verb: "correct the subject's data", action: "rectification" },
};

/**
 * Why a request whose tasks all ended well still did nothing (no connector took part: none is
 * installed, or every one was skipped), or null when one did its step. Such a request FAILS with
 * this reason: an empty export or certificate would claim work no one did.
 */
async function nothingDone(em: EntityManager, request: RequestRow, counts: TaskCounts): Promise<string | null> {
  const work = WORK_STEP[request.type];
  if (!work || counts.succeededSteps.has(work.step)) return null;
  // Rare: read the tasks only to say why.
  const tasks = await em.getRepository(TaskRow).find({ where: { requestId: request.id, step: work.step }, order: { connector: "ASC" } });
  if (!tasks.length) return `No connector in this installation can ${work.verb}: nothing was done (add connectors that support ${work.action})`.slice(0, 500);
  return `No connector could ${work.verb}: ${tasks.map((t) => `${t.connector} skipped${t.note ? ` (${t.note})` : ""}`).join("; ")}`.slice(0, 500);
}

/**
 * What a correction whose tasks all ended well did not correct: the fields no system changed, the
 * systems that kept fields as they were under a legal hold (named with the hold's case and categories:
 * held data is evidence), and the systems whose RECTIFY was skipped (they cannot correct data and may
 * still hold the old values), and the systems a hold stopped mid-way (fields written on some records
 * before it). `reason` is null when every field asked was changed and no system kept or
 * skipped any. `nothing` when no system changed any field (every one that corrects data holds none of
 * them for this person, or a hold keeps them): such a request FAILS, as COMPLETED would say the person's
 * data was corrected when nothing was.
 */
async function correctedOnlyIn(em: EntityManager, request: RequestRow): Promise<{ reason: string | null; nothing: boolean }> {
  return correctionOutcome(request, await rectifyTasksOf(em, request.id));
}

function countsDetails(counts: TaskCounts): Record<string, number> {
  return Object.fromEntries(Object.entries(counts.byStatus).map(([s, n]) => [s.toLowerCase(), n ?? 0]));
}

/**
 * The duplicates still waiting on `originalId`: a lookup by index idx_requests_duplicate_of (every
 * request that ends asks, and almost always finds none).
 */
export function followersQuery(em: EntityManager, originalId: string) {
  return em
    .getRepository(RequestRow)
    .createQueryBuilder("r")
    .where("r.duplicateOf = :originalId", { originalId })
    .andWhere("r.status NOT IN (:...done)", { done: [...TERMINAL_STATUSES, RequestStatus.PENDING_VERIFICATION, RequestStatus.PENDING_APPROVAL] });
}

/** Duplicates waiting on `original` end the way it ended. */
async function settleDuplicates(em: EntityManager, original: RequestRow, now: Date): Promise<void> {
  for (const follower of await followersQuery(em, original.id).getMany()) {
    await moveRequest(em, follower, original.status, { actor: SYSTEM_ACTOR, action: `request.${original.status.toLowerCase()}`, details: { duplicateOf: original.id } }, now, {
      statusReason: answeredTogether(original.id, original.statusReason),
    });
  }
}
