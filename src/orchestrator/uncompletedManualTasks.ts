import { inTransaction } from "../db/transaction";
import { TaskStatus } from "../domain/tasks";
import { RequestRow, TaskRow } from "../entities";
import type { Services } from "../services";
import { lapsedReason } from "./manualTaskLapse";
import { lapseManualTask } from "./sql/lapseManualTask";
import { UNVERIFIED_BATCH } from "./unverifiedRequests";

const DAY_MS = 86_400_000;

/**
 * Fails the manual tasks nobody completed (AWAITING_INPUT) DSR_MANUAL_TASK_GRACE_DAYS after their
 * request's due date (as extended), as the system, each in a transaction of its own (lapseManualTask):
 * the request settles FAILED, naming the step. Left waiting, such a request kept the person's
 * identities (its record and request_identities) and an access's staged records for ever, since only
 * ended requests' are cleared; ended, they go like any ended request's. Returns how many it failed.
 */
export async function failUncompletedManualTasks(services: Services, now: Date, limit = UNVERIFIED_BATCH): Promise<number> {
  const graceDays = services.config.DSR_MANUAL_TASK_GRACE_DAYS;
  const dueBy = new Date(now.getTime() - graceDays * DAY_MS);
  const waiting = await services.ds
    .getRepository(TaskRow)
    .createQueryBuilder("t")
    .innerJoin(RequestRow, "r", "r.id = t.requestId")
    .select(["t.id AS id", "t.requestId AS requestId"])
    .where("t.status = :awaiting", { awaiting: TaskStatus.AWAITING_INPUT })
    .andWhere("r.dueAt <= :dueBy", { dueBy })
    .orderBy("r.dueAt", "ASC")
    .addOrderBy("t.id", "ASC")
    .limit(limit)
    .getRawMany<{ id: string; requestId: string }>();
  let failed = 0;
  for (const task of waiting) {
    if (await inTransaction(services.ds, (em) => lapseManualTask(em, task, dueBy, lapsedReason(graceDays), now))) failed += 1;
  }
  return failed;
}
