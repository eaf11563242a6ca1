import { DataSource } from "typeorm";
import { inTransaction, lockRow } from "../../db/transaction";
import { TaskStatus } from "../../domain/tasks";
import { TaskResult, TaskRow } from "../../entities";
import { afterTaskFinished, releaseTask } from "./finishTask";
import { settleRequest } from "../requestSettler";
import { auditTask } from "./taskAudit";

/**
 * A task that cannot finish now and is not failing: SKIPPED (with the reason, a finished state),
 * AWAITING_INPUT (a person must act), or REMOTE_PROCESSING (the remote system is still working; polled
 * again at `pollAt`, a time kept in the row so it survives restarts). False: lease lost.
 */
export async function parkTask(
  ds: DataSource,
  task: TaskRow,
  workerId: string,
  parking:
    | { status: TaskStatus.SKIPPED; note: string }
    | { status: TaskStatus.AWAITING_INPUT; note: string }
    | { status: TaskStatus.REMOTE_PROCESSING; reference: string; pollAt: Date; result?: TaskResult; note?: string },
  now: Date,
): Promise<boolean> {
  return inTransaction(ds, async (em) => {
    await lockRow(em, "requests", task.requestId);
    const patch =
      parking.status === TaskStatus.REMOTE_PROCESSING
        ? { status: parking.status, remoteReference: parking.reference, runAfter: parking.pollAt, note: parking.note ?? null, ...(parking.result ? { result: parking.result } : {}) }
        : { status: parking.status, note: parking.note };
    if (!(await releaseTask(em, task, workerId, patch, now))) return false;
    const action = parking.status.toLowerCase();
    await auditTask(em, task, action, now, parking.status === TaskStatus.REMOTE_PROCESSING ? { pollAt: parking.pollAt.toISOString(), ...(parking.note ? { pending: parking.note } : {}) } : { note: parking.note });
    if (parking.status === TaskStatus.SKIPPED) await afterTaskFinished(em, task, now);
    else await settleRequest(em, task.requestId, now);
    return true;
  });
}
