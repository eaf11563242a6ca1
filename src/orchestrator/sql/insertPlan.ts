import { createHash, randomUUID } from "node:crypto";
import { EntityManager } from "typeorm";
import { TaskStatus } from "../../domain/tasks";
import { TaskDependencyRow, TaskRow } from "../../entities";
import { PlannedTask, taskKey } from "../planner";

/** The idempotency key of a task: the same for every attempt, different for every request x connector x step. */
export function idempotencyKey(requestId: string, connector: string, step: string): string {
  return `dsr_${createHash("sha256").update(`${requestId}:${connector}:${step}`).digest("hex").slice(0, 40)}`;
}

/** A task row as planned: never attempted, claimable from `now` once nothing holds it back. */
export function newTaskRow(
  em: EntityManager,
  t: Pick<TaskRow, "id" | "requestId" | "connector" | "step" | "status" | "priority" | "waitingFor" | "maxAttempts" | "note" | "idempotencyKey"> & { now: Date },
): TaskRow {
  const { now, ...fields } = t;
  return em.getRepository(TaskRow).create({
    ...fields,
    attempts: 0,
    runAfter: now,
    lockedBy: null,
    leaseToken: 0,
    leaseExpiresAt: null,
    lastError: null,
    remoteReference: null,
    result: null,
    createdAt: now,
    startedAt: null,
    finishedAt: t.status === TaskStatus.SKIPPED ? now : null,
    updatedAt: now,
  });
}

/**
 * Writes a request's planned tasks and their dependencies. The unique (request, connector, step) key
 * makes planning twice create nothing twice; callers plan inside the approval transaction.
 */
export async function insertPlan(em: EntityManager, requestId: string, planned: PlannedTask[], now: Date, maxAttempts: number, priority = 0): Promise<TaskRow[]> {
  const ids = new Map(planned.map((p) => [taskKey(p.connector, p.step), randomUUID()]));
  const rows = planned.map((p) =>
    newTaskRow(em, {
      id: ids.get(taskKey(p.connector, p.step))!,
      requestId,
      connector: p.connector,
      step: p.step,
      status: p.status,
      priority,
      waitingFor: p.status === TaskStatus.PENDING ? p.dependsOn.length : 0,
      maxAttempts,
      note: p.note,
      idempotencyKey: idempotencyKey(requestId, p.connector, p.step),
      now,
    }),
  );
  // Every column is set here: updateEntity(false) spares the SELECT TypeORM would otherwise send after the
  // INSERT to read back the columns that have database defaults (one statement of each approval).
  if (rows.length) await em.createQueryBuilder().insert().into(TaskRow).values(rows).updateEntity(false).execute();
  const edges = planned.flatMap((p) => p.dependsOn.map((dep) => ({ taskId: ids.get(taskKey(p.connector, p.step))!, dependsOnTaskId: ids.get(dep)! })));
  if (edges.length) await em.getRepository(TaskDependencyRow).insert(edges);
  return rows;
}
