import { DataSource, In } from "typeorm";
import type { NotSearchedRecords } from "../connectors/sdk";
import { TaskStep } from "../domain/tasks";
import { TaskDependencyRow, TaskRow } from "../entities";
import type { NotSearchedRecordSet } from "../schema/request.type";

/** Step order within a request, for display: identities first, then the work. */
const STEP_ORDER = ["RESOLVE", "COLLECT", "RECTIFY", "ERASE", "EXPORT", "PURGE"];

/** A request's tasks in the order they run: step, then connector name. */
export async function findTasks(ds: DataSource, requestId: string): Promise<TaskRow[]> {
  const rows = await ds.getRepository(TaskRow).find({ where: { requestId } });
  return rows.sort((a, b) => STEP_ORDER.indexOf(a.step) - STEP_ORDER.indexOf(b.step) || a.createdAt.getTime() - b.createdAt.getTime() || a.connector.localeCompare(b.connector));
}

/** What a request's tasks wait for, among themselves (the closing passes a deletion's progress counts follow from it). */
export async function findTaskDependencies(ds: DataSource, tasks: readonly Pick<TaskRow, "id">[]): Promise<TaskDependencyRow[]> {
  if (!tasks.length) return [];
  return ds.getRepository(TaskDependencyRow).findBy({ taskId: In(tasks.map((t) => t.id)) });
}

/** The kinds of record a request's COLLECT tasks could not search for, per connector (ACCESS, PORTABILITY and DELETION collect). */
export async function findNotSearched(ds: DataSource, requestId: string): Promise<NotSearchedRecordSet[]> {
  const tasks = await ds.getRepository(TaskRow).find({ where: { requestId, step: TaskStep.COLLECT }, order: { connector: "ASC" } });
  return tasks.flatMap((t) => notSearchedOf(t.connector, t.result?.notSearched));
}

/** The kinds one connector's collect could not search for, as the request, the preview and the certificate name them. */
export function notSearchedOf(connector: string, sets: readonly NotSearchedRecords[] | undefined): NotSearchedRecordSet[] {
  return (sets ?? []).map((n) => ({ connector, category: String(n.category), recordType: n.type, reason: n.reason }));
}
