import { EntityManager, In, Like } from "typeorm";
import { Actor } from "../../audit/actor";
import { moveRequest } from "../../commands/requestTransition";
import { lockedRequest } from "../../db/transaction";
import { RequestStatus, TERMINAL_STATUSES } from "../../domain/enums";
import { FINISHED_TASK_STATUSES, TaskStatus, TaskStep } from "../../domain/tasks";
import { StagedBatchRow, TaskDependencyRow, TaskRow } from "../../entities";
import { conflict, notFound } from "../../errors";
import { refuseRetryOutOfOrder } from "../correctionOrder";
import { endedBeforeGrace } from "../identityRetention";
import { lapsed, MANUAL_TASK_LAPSED } from "../manualTaskLapse";
import { auditTask } from "./taskAudit";
import { dependentIds } from "./finishTask";

const DAY_MS = 86_400_000;

/**
 * An operator re-queues a FAILED task with fresh attempts (its counter from 0: the run does not tell a
 * retried task by its attempt number, and reads what the failed attempts left in doubt all the same,
 * their units' notes and writes: erasureUnits.ts, heldCorrection.ts; a COLLECT's staged batches, which
 * are numbered by attempt, are dropped). The tasks that were skipped because it failed
 * are re-queued behind it, and a FAILED request is reopened (IN_PROGRESS). One transaction. A PURGE (of
 * kept sets whose time came after the request ended) is retried whenever it failed, and reopens nothing.
 * A manual task the system failed because no one completed it (lapseManualTask) is retried only once
 * its request's due date (as extended) is less than `manualGraceDays` past.
 */
export async function retryTask(em: EntityManager, taskId: string, actor: Actor, now: Date, graceMinutes: number, manualGraceDays: number): Promise<TaskRow> {
  const found = await em.getRepository(TaskRow).findOneBy({ id: taskId });
  if (!found) throw notFound("Task", taskId);
  const request = await lockedRequest(em, found.requestId);
  // Read again under the request's lock: a retry of the same task that committed meanwhile re-queued it.
  const task = await em.getRepository(TaskRow).findOneByOrFail({ id: taskId });
  if (task.status !== TaskStatus.FAILED) throw conflict(`Task ${task.id} is ${task.status}; only a FAILED task can be retried`, { status: task.status });
  // Re-queued, it would wait again past its grace and the sweep would fail it at once: the retry would do
  // nothing, and a retry that gave it a grace of its own would keep the subject's data past any bound.
  // The due date moves only by extendDeadline (capped in total), so how long a request waits stays bounded.
  if (lapsed(task) && request.dueAt.getTime() <= now.getTime() - manualGraceDays * DAY_MS) {
    const how = TERMINAL_STATUSES.includes(request.status) ? "submit a new request" : "extend the request's due date first (extendDeadline) or submit a new request";
    throw conflict(
      `Task ${task.id} lapsed: no one completed it within DSR_MANUAL_TASK_GRACE_DAYS (${manualGraceDays}) after its request's due date (${request.dueAt.toISOString()}), so a retry would fail it again at once; ${how}`,
      { status: task.status, reason: MANUAL_TASK_LAPSED },
    );
  }
  await refuseRetryOutOfOrder(em, request);
  // Past the grace the purge removes what the request collected and the record ids its survey planned to
  // erase (an erasure's verification looks those up by id, and sees records cut off from the subject
  // only through them), and, once no exception it kept is open, the identities its tasks work from. A
  // retried task would run on less than its first attempts had, and could report a truth it cannot see.
  // A PURGE is exempt: it runs years after its request ended, from the identities kept while its
  // exceptions are open, and nothing else would ever purge its set (the sweep leaves a FAILED one alone).
  const purge = task.step === TaskStep.PURGE;
  if (!purge && endedBeforeGrace(request, now, graceMinutes)) {
    throw conflict(
      `Request ${request.id} ended more than DSR_STAGED_GRACE_MINUTES (${graceMinutes}) ago: what it collected and the records its survey planned to erase are removed, so its tasks can no longer be retried; submit a new request`,
      { status: request.status },
    );
  }
  const requeue = new Map<string, TaskRow>([[task.id, task]]);
  const queue = [task];
  while (queue.length) {
    const current = queue.shift()!;
    const ids = await dependentIds(em, current.id);
    const dependents = ids.length ? await em.getRepository(TaskRow).findBy({ id: In(ids), status: TaskStatus.SKIPPED, note: Like("not run: %") }) : [];
    for (const d of dependents) if (!requeue.has(d.id)) (requeue.set(d.id, d), queue.push(d));
  }
  for (const t of requeue.values()) {
    const deps = await em.getRepository(TaskDependencyRow).findBy({ taskId: t.id });
    const depTasks = deps.length ? await em.getRepository(TaskRow).findBy({ id: In(deps.map((d) => d.dependsOnTaskId)) }) : [];
    const waitingFor = depTasks.filter((d) => requeue.has(d.id) || !FINISHED_TASK_STATUSES.includes(d.status)).length;
    await em.getRepository(TaskRow).update(
      { id: t.id },
      // A lapse no longer holds once its step may be done again: its error would say the step was not done.
      { status: TaskStatus.PENDING, waitingFor, attempts: 0, runAfter: now, finishedAt: null, note: null, remoteReference: null, lockedBy: null, leaseExpiresAt: null, updatedAt: now, ...(lapsed(t) ? { lastError: null } : {}) },
    );
    // What the failed attempts of a COLLECT staged: the retried run collects everything again, and numbers
    // its batches from attempt 1 again. Left, they held those numbers, and the retry failed on its first
    // batch (a duplicate key), every time.
    if (t.step === TaskStep.COLLECT) await em.getRepository(StagedBatchRow).delete({ taskId: t.id });
  }
  await auditTask(em, task, "retried", now, { requeued: requeue.size }, actor);
  // A purge is no step of the request's work: the request stays as it ended.
  if (request.status === RequestStatus.FAILED && !purge) {
    await moveRequest(em, request, RequestStatus.IN_PROGRESS, { actor, action: "request.reopened", details: { taskId: task.id } }, now, { closedAt: null, statusReason: null });
  }
  return em.getRepository(TaskRow).findOneByOrFail({ id: task.id });
}
