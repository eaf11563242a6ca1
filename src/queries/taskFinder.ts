import { DataSource } from "typeorm";
import { TaskRow } from "../entities";

/** Step order within a request, for display: identities first, then the work. */
const STEP_ORDER = ["RESOLVE", "COLLECT", "RECTIFY", "ERASE", "EXPORT", "PURGE"];

/** A request's tasks in the order they run: step, then connector name. */
export async function findTasks(ds: DataSource, requestId: string): Promise<TaskRow[]> {
  const rows = await ds.getRepository(TaskRow).find({ where: { requestId } });
  return rows.sort((a, b) => STEP_ORDER.indexOf(a.step) - STEP_ORDER.indexOf(b.step) || a.createdAt.getTime() - b.createdAt.getTime() || a.connector.localeCompare(b.connector));
}
