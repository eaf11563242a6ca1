import { Brackets, DataSource, EntityManager, In } from "typeorm";
import { RequestStatus, RequestType } from "../domain/enums";
import type { NotSearchedRecords } from "../connectors/sdk";
import { FINISHED_TASK_STATUSES, TaskStatus, TaskStep } from "../domain/tasks";
import { RequestRow, TaskDependencyRow, TaskRow } from "../entities";
import type { NotSearchedRecordSet } from "../schema/request.type";
import { tasksOf } from "./deletionOutcomeFinder";

/** Step order within a request, for display: identities first, then the work. */
const STEP_ORDER = ["RESOLVE", "COLLECT", "RECTIFY", "ERASE", "EXPORT", "PURGE"];

/** A request's tasks (or those of several, in one statement) in the order they run: step, then connector name. */
export async function findTasks(ds: DataSource | EntityManager, requestId: string | readonly string[]): Promise<TaskRow[]> {
  const rows = await ds.getRepository(TaskRow).find({ where: { requestId: typeof requestId === "string" ? requestId : In([...requestId]) } });
  return rows.sort((a, b) => STEP_ORDER.indexOf(a.step) - STEP_ORDER.indexOf(b.step) || a.createdAt.getTime() - b.createdAt.getTime() || a.connector.localeCompare(b.connector));
}

/** What a request's tasks wait for, among themselves (the closing passes a deletion's progress counts follow from it). */
export async function findTaskDependencies(ds: DataSource | EntityManager, tasks: readonly Pick<TaskRow, "id">[]): Promise<TaskDependencyRow[]> {
  if (!tasks.length) return [];
  return ds.getRepository(TaskDependencyRow).findBy({ taskId: In(tasks.map((t) => t.id)) });
}

/** The kinds of record a request's COLLECT tasks (of its tasks) could not search for, per connector (ACCESS, PORTABILITY and DELETION collect). */
export function notSearchedIn(tasks: readonly TaskRow[]): NotSearchedRecordSet[] {
  return tasksOf(tasks, TaskStep.COLLECT).flatMap((t) => notSearchedOf(t.connector, t.result?.notSearched));
}

/** The kinds one connector's collect could not search for, as the request, the preview and the certificate name them. */
export function notSearchedOf(connector: string, sets: readonly NotSearchedRecords[] | undefined): NotSearchedRecordSet[] {
  return (sets ?? []).map((n) => ({ connector, category: String(n.category), recordType: n.type, reason: n.reason }));
}

/**
 * What the ERASE of `deletion` on `connector` waits for, in one read of the person's other requests at
 * work there; or null. First an ACCESS or PORTABILITY request received before the deletion whose COLLECT
 * there has not ended (the earliest, named): its copy must hold what the deletion erases. Else a
 * CORRECTION whose RECTIFY there is writing (RUNNING), not named (its submitter may be another token):
 * it began before the deletion was at work (one that begins after writes nothing: correctionOrder.ts),
 * and an erase beside it could miss rows it moves (a corrected address) or erase what it then writes again.
 */
export async function eraseWaitsFor(ds: DataSource, deletion: Pick<RequestRow, "id" | "subjectEmail" | "receivedAt">, connector: string): Promise<{ access: string } | { correction: true } | null> {
  const access = [RequestType.ACCESS, RequestType.PORTABILITY];
  const rows: Array<{ id: string; type: RequestType }> = await ds
    .getRepository(RequestRow)
    .createQueryBuilder("r")
    .innerJoin(TaskRow, "t", "t.requestId = r.id")
    .select("r.id", "id")
    .addSelect("r.type", "type")
    .where("r.subjectEmail = :email", { email: deletion.subjectEmail })
    .andWhere("r.status IN (:...open)", { open: [RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_INPUT] })
    .andWhere("r.id <> :id", { id: deletion.id })
    .andWhere("t.connector = :connector", { connector })
    .andWhere(
      new Brackets((q) =>
        q
          .where("r.type IN (:...access) AND t.step = :collect AND r.receivedAt <= :at AND t.status NOT IN (:...done)", { access, collect: TaskStep.COLLECT, at: deletion.receivedAt, done: [...FINISHED_TASK_STATUSES] })
          .orWhere("r.type = :correction AND t.step = :rectify AND t.status = :running", { correction: RequestType.CORRECTION, rectify: TaskStep.RECTIFY, running: TaskStatus.RUNNING }),
      ),
    )
    .orderBy("r.receivedAt", "ASC")
    .getRawMany();
  const first = rows.find((r) => access.includes(r.type));
  return first ? { access: first.id } : rows.length ? { correction: true } : null;
}

/**
 * Of `fields` (those `connector` finds people by), the ones a CORRECTION of `deletion`'s person changed
 * there, or may have, with a RECTIFY that ended since `since` (the deletion's approval): a write already
 * under way then (the ERASE waited for it). The person's rows there are found by the corrected value now,
 * not the deletion's. A RECTIFY that succeeded says what it changed; one that did not (failed, refused at
 * a later unit, waiting to retry) counts every field its request asked for once it
 * wrote: a unit of it counted records (erasure_progress) or never ended (its write may have committed).
 */
export async function identityMovedSince(ds: DataSource, deletion: Pick<RequestRow, "subjectEmail">, connector: string, fields: readonly string[], since: Date): Promise<string[]> {
  if (!fields.length) return [];
  const rectified = await ds
    .getRepository(TaskRow)
    .createQueryBuilder("t")
    .innerJoin(RequestRow, "r", "r.id = t.requestId")
    .where("r.subjectEmail = :email AND r.type = :type", { email: deletion.subjectEmail, type: RequestType.CORRECTION })
    .andWhere("t.connector = :connector AND t.step = :step", { connector, step: TaskStep.RECTIFY })
    .andWhere(
      new Brackets((q) =>
        q
          .where("t.status = :done AND t.finishedAt >= :since", { done: TaskStatus.SUCCEEDED, since })
          .orWhere("t.status <> :done AND t.updatedAt >= :since AND (EXISTS (SELECT 1 FROM erasure_progress p WHERE p.taskId = t.id AND p.erased > 0) OR EXISTS (SELECT 1 FROM erasure_units u WHERE u.taskId = t.id))"),
      ),
    )
    .getMany();
  const unsure = rectified.filter((t) => t.status !== TaskStatus.SUCCEEDED);
  const asked = unsure.length ? await ds.getRepository(RequestRow).find({ select: { id: true, corrections: true }, where: { id: In(unsure.map((t) => t.requestId)) } }) : [];
  const changed = [...rectified.flatMap((t) => (t.status === TaskStatus.SUCCEEDED ? (t.result?.changed ?? []) : [])), ...asked.flatMap((r) => (r.corrections ?? []).map((c) => c.field))];
  return [...new Set(changed.filter((f) => fields.includes(f)))].sort();
}
