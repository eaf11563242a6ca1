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

/**
 * Hands a running task back to wait for something it must not run before: PENDING again at `runAfter`,
 * the attempt it was on does not count, and `reason` (user words) is its lastError until it runs.
 */
export async function deferTask(ds: DataSource, task: TaskRow, workerId: string, now: Date, runAfter: Date, reason: string): Promise<boolean> {
  return inTransaction(ds, async (em) => {
    if (!(await releaseTask(em, task, workerId, { status: TaskStatus.PENDING, runAfter, attempts: Math.max(0, task.attempts - 1), lastError: reason }, now))) return false;
    await auditTask(em, task, "deferred", now, { reason });
    return true;
  });
}
