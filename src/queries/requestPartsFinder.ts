import type { EntityManager } from "typeorm";
import type { RetentionExceptionRow, TaskDependencyRow, TaskRow } from "../entities";
import { findTaskDependencies, findTasks } from "./taskFinder";
import { findRetentionExceptions, holdsExtending } from "./retentionFinder";

/**
 * What a read of a request shows beside its row (its tasks, what they wait for, its retention
 * exceptions), loaded in the same snapshot as the row (inReadSnapshot), so that one answer is one state
 * of the database: never a request still IN_PROGRESS beside the task whose completion ended it, nor a
 * PURGE SUCCEEDED beside the exception it closed still OPEN. A part absent was not asked for: the field
 * resolvers read it themselves.
 */
export interface RequestParts {
  tasks?: TaskRow[];
  dependencies?: TaskDependencyRow[];
  exceptions?: RetentionExceptionRow[];
  /** The active hold that keeps each open exception past its retainUntil (holdsExtending). */
  extending?: Map<string, string>;
}

/** The parts that the selected Request fields read. */
export function partsFor(fields: ReadonlySet<string>): { tasks: boolean; dependencies: boolean; exceptions: boolean } {
  return { tasks: fields.has("tasks") || fields.has("progress"), dependencies: fields.has("progress"), exceptions: fields.has("retentionExceptions") };
}

/**
 * The parts `fields` read of these requests, by request id: one statement per part for the whole list
 * (a page's tasks in one), plus one for the holds of each request with an open exception a rule keeps.
 */
export async function findRequestParts(
  em: EntityManager,
  requests: readonly { id: string; subjectEmail?: string | null }[],
  fields: ReadonlySet<string>,
): Promise<Map<string, RequestParts>> {
  const wanted = partsFor(fields);
  const parts = new Map<string, RequestParts>(requests.map((r) => [r.id, {}]));
  const ids = [...parts.keys()];
  if (!ids.length) return parts;
  if (wanted.tasks) {
    const tasks = await findTasks(em, ids);
    for (const id of ids) parts.get(id)!.tasks = [];
    for (const task of tasks) parts.get(task.requestId)!.tasks!.push(task);
    if (wanted.dependencies) {
      const requestOf = new Map(tasks.map((t) => [t.id, t.requestId]));
      for (const id of ids) parts.get(id)!.dependencies = [];
      for (const dependency of await findTaskDependencies(em, tasks)) parts.get(requestOf.get(dependency.taskId)!)!.dependencies!.push(dependency);
    }
  }
  if (wanted.exceptions) {
    const rows = await findRetentionExceptions(em, ids);
    for (const id of ids) parts.get(id)!.exceptions = [];
    for (const row of rows) parts.get(row.requestId)!.exceptions!.push(row);
    for (const request of requests) {
      const part = parts.get(request.id)!;
      part.extending = await holdsExtending(em, request.subjectEmail ?? null, part.exceptions!);
    }
  }
  return parts;
}
