import { EntityManager } from "typeorm";
import { Actor } from "../../audit/actor";
import { lockRow } from "../../db/transaction";
import { correctionGaps } from "../../domain/corrections";
import { ErasureConfirmation, TaskStatus, TaskStep } from "../../domain/tasks";
import { keptSubjectEmail, RequestRow, TaskResult, TaskRow } from "../../entities";
import { activeHoldsFor } from "../../queries/legalHoldFinder";
import { describeManualHold, describeManualRectifyHold, keptByHoldResult, manualHold } from "../manualHold";
import type { DataKeys } from "../../export/keys";
import { insertWith, StagingWriter } from "../../export/staging";
import { stagingKeyIn } from "../../export/stagingKeys";
import { badField, conflict, notFound } from "../../errors";
import { afterTaskFinished } from "./finishTask";
import { auditTask } from "./taskAudit";
import { lapsed, MANUAL_TASK_LAPSED } from "../manualTaskLapse";

export interface ManualCompletion {
  /** COLLECT: the records a person found (category, type, id, data). */
  records?: Array<{ category: string; type: string; id: string; data: Record<string, unknown>; recordedAt?: Date | null }>;
  /** ERASE: how many records the person erased. */
  erasedCount?: number;
  /** RECTIFY: which fields the person changed. */
  changedFields?: string[];
}

/**
 * A privacy officer finishes a task that waits in AWAITING_INPUT: records attached or erasure confirmed.
 * Attached records are staged encrypted like collected ones, under the request's staging key (`keys`).
 */
export async function completeManualTask(em: EntityManager, taskId: string, input: ManualCompletion, actor: Actor, now: Date, keys: DataKeys, categoriesOf: (connector: string) => readonly string[]): Promise<TaskRow> {
  const task = await em.getRepository(TaskRow).findOneBy({ id: taskId });
  if (!task) throw notFound("Task", taskId);
  await lockRow(em, "requests", task.requestId);
  // Failed by the system once its grace ended: the request ended without it, and its data may be gone.
  if (lapsed(task)) throw conflict(`Task ${task.id} was not completed in time: ${task.lastError}. Nothing was recorded; a new request can be submitted`, { status: task.status, reason: MANUAL_TASK_LAPSED });
  if (task.status !== TaskStatus.AWAITING_INPUT) throw conflict(`Task ${task.id} is ${task.status}; only a task AWAITING_INPUT is completed by hand`, { status: task.status });
  let result: TaskResult;
  if (task.step === TaskStep.COLLECT) {
    if (input.records === undefined) throw badField("records", "attach the records found (an empty list when there are none)");
    // The export names each file's category and system: a record filed under a category the system does not hold would misstate both.
    const declared = categoriesOf(task.connector);
    if (input.records.some((r) => !declared.includes(r.category))) throw badField("records", `records must be of ${task.connector}'s categories: ${declared.join(", ")}`);
    const target = { requestId: task.requestId, taskId: task.id, attempt: task.attempts, connector: task.connector };
    const writer = new StagingWriter(() => stagingKeyIn(em, keys, task.requestId, now), target, insertWith(em), () => now);
    for (const r of input.records) await writer.add({ category: r.category as never, type: r.type, id: r.id, data: r.data, recordedAt: r.recordedAt ?? undefined });
    result = { records: await writer.finish() };
  } else if (task.step === TaskStep.ERASE) {
    if (input.erasedCount === undefined) throw badField("erasedCount", "confirm how many records were erased (0 when none were found)");
    if (input.erasedCount > 0) {
      // Read under the request's lock: a hold that keeps all the connector holds allows no erasure of it.
      const request = await em.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
      const hold = manualHold(categoriesOf(task.connector), await activeHoldsFor(em, keptSubjectEmail(request)));
      if (hold?.whole) throw conflict(`${describeManualHold(task.connector, hold)} Nothing was recorded.`, { status: task.status });
    }
    result = { erased: input.erasedCount, confirmation: ErasureConfirmation.ATTESTED, attestedBy: actor.id };
  } else {
    if (input.changedFields === undefined) throw badField("changedFields", "list the fields that were changed (an empty list when this system holds none of them)");
    // A field the person does not list is one this system does not hold: they answer for every field asked.
    const request = await em.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
    const asked = (request.corrections ?? []).map((c) => c.field);
    const changed = [...new Set(input.changedFields)];
    if (correctionGaps(asked, changed, []).notAsked.length) throw badField("changedFields", "changedFields may only name fields this correction asks to change");
    // Read under the request's lock: a hold on any of the connector's categories keeps what it holds as it was.
    const hold = manualHold(categoriesOf(task.connector), await activeHoldsFor(em, keptSubjectEmail(request)));
    if (hold && changed.length) throw conflict(`${describeManualRectifyHold(task.connector, hold)} Nothing was recorded.`, { status: task.status });
    result = hold ? keptByHoldResult(asked, hold) : { changed, notHeld: correctionGaps(asked, changed, []).silent };
  }
  const updated = await em
    .getRepository(TaskRow)
    .update({ id: task.id, status: TaskStatus.AWAITING_INPUT }, { status: TaskStatus.SUCCEEDED, result, finishedAt: now, updatedAt: now });
  if (updated.affected !== 1) throw conflict(`Task ${task.id} was completed by someone else at the same time`);
  Object.assign(task, { status: TaskStatus.SUCCEEDED, result });
  await auditTask(em, task, "completed_by_hand", now, { records: result.records ?? 0, erased: result.erased ?? 0, ...(result.changed ? { changed: result.changed, notHeld: result.notHeld } : {}), ...(result.keptByHold ? { keptByHold: result.keptByHold, holdCases: result.holdCases } : {}) }, actor);
  await afterTaskFinished(em, task, now);
  return task;
}
