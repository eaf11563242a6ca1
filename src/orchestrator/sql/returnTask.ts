import { DataSource } from "typeorm";
import { inTransaction } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskRow } from "../../entities";
import { releaseTask } from "./finishTask";
import { auditTask } from "./taskAudit";

/**
 * Hands a running task back untouched (shutdown): PENDING again at once, and the attempt it was on does
 * not count. A polling task goes back to REMOTE_PROCESSING.
 */
export async function returnTask(ds: DataSource, task: TaskRow, workerId: string, now: Date): Promise<boolean> {
  return inTransaction(ds, async (em) => {
    const polling = task.remoteReference !== null;
    const back = polling
      ? { status: TaskStatus.REMOTE_PROCESSING, runAfter: now }
      : { status: TaskStatus.PENDING, runAfter: now, attempts: Math.max(0, task.attempts - 1) };
    if (!(await releaseTask(em, task, workerId, back, now))) return false;
    await auditTask(em, task, "returned", now, { reason: "worker shutting down" });
    return true;
  });
}
