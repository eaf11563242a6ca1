import { randomUUID } from "node:crypto";
import { DataSource, In, IsNull, LessThanOrEqual, Not } from "typeorm";
import { inTransaction, isUniqueViolation } from "../../db/transaction";
import { TERMINAL_STATUSES } from "../../domain/enums";
import { holdFor } from "../../domain/retention";
import { TaskStatus, TaskStep } from "../../domain/tasks";
import { keptSubjectEmail, LegalHoldRow, LegalHoldStatus, RequestRow, RetentionExceptionRow, RetentionExceptionStatus, TaskRow } from "../../entities";
import { activeHoldsFor } from "../../queries/legalHoldFinder";
import { idempotencyKey, newTaskRow } from "./insertPlan";
import { auditTask } from "./taskAudit";

/**
 * Open exceptions whose time has come: past retainUntil, or kept by a hold since released; and whose
 * request has ended. A deletion still under way settles a released hold itself (its closing pass reads
 * the holds again and erases what no hold keeps): a purge beside it would erase records its outcome and
 * certificate never count.
 */
export async function dueExceptions(ds: DataSource, now: Date, where: { requestId?: string; connector?: string } = {}): Promise<RetentionExceptionRow[]> {
  const repo = ds.getRepository(RetentionExceptionRow);
  const expired = await repo.find({ where: { ...where, status: RetentionExceptionStatus.OPEN, retainUntil: LessThanOrEqual(now) }, take: 1000 });
  const held = await repo.find({ where: { ...where, status: RetentionExceptionStatus.OPEN, holdId: Not(IsNull()) }, take: 1000 });
  const released = held.length
    ? new Set((await ds.getRepository(LegalHoldRow).findBy({ id: In([...new Set(held.map((h) => h.holdId!))]), status: LegalHoldStatus.RELEASED })).map((h) => h.id))
    : new Set<string>();
  const due = [...expired, ...held.filter((e) => released.has(e.holdId!))];
  // A category a newer hold covers stays until that one is released too.
  const out: RetentionExceptionRow[] = [];
  const holdsBySubject = new Map<string, Awaited<ReturnType<typeof activeHoldsFor>>>();
  for (const e of due) {
    const request = await ds.getRepository(RequestRow).findOneBy({ id: e.requestId });
    if (!request || !TERMINAL_STATUSES.includes(request.status)) continue;
    const subjectEmail = keptSubjectEmail(request);
    if (!holdsBySubject.has(subjectEmail)) holdsBySubject.set(subjectEmail, await activeHoldsFor(ds, subjectEmail));
    const still = holdFor(e.category, holdsBySubject.get(subjectEmail)!);
    if (!still) out.push(e);
    else if (e.holdId !== still.id) {
      // Its hold was released, or its period ended, while a hold covers the category: the exception now
      // names the hold that keeps the set (and no end date, as a held set has none), so the certificate
      // and the request say why the records are still there, and its release makes the set due.
      await ds
        .getRepository(RetentionExceptionRow)
        .update({ id: e.id, status: RetentionExceptionStatus.OPEN }, { holdId: still.id, legalBasis: `legal hold ${still.caseReference}`.slice(0, 200), retainUntil: null });
    }
  }
  return out;
}

/**
 * Arms one PURGE task per request x connector with due exceptions: a new task, or the connector's
 * earlier PURGE task set PENDING again with a fresh idempotency key (each purge is a new side effect).
 * A PURGE already pending, running or failed is left alone (a failed one waits for retryTask).
 */
export async function schedulePurges(ds: DataSource, now: Date, maxAttempts: number): Promise<number> {
  const due = await dueExceptions(ds, now);
  const groups = new Map<string, RetentionExceptionRow[]>();
  for (const e of due) groups.set(`${e.requestId}\u0000${e.connector}`, [...(groups.get(`${e.requestId}\u0000${e.connector}`) ?? []), e]);
  let armed = 0;
  for (const [e, ...rest] of groups.values()) {
    armed += await inTransaction(ds, async (em) => {
      const tasks = em.getRepository(TaskRow);
      const existing = await tasks.findOneBy({ requestId: e.requestId, connector: e.connector, step: TaskStep.PURGE });
      // Read after the task: a purge that ended since `due` was read has closed these exceptions (in the
      // transaction that ended it), and arming it again would erase once more and overwrite its outcome.
      if (!(await em.getRepository(RetentionExceptionRow).existsBy({ id: In([e, ...rest].map((x) => x.id)), status: RetentionExceptionStatus.OPEN }))) return 0;
      const key = idempotencyKey(e.requestId, e.connector, `${TaskStep.PURGE}:${now.toISOString()}`);
      let task: TaskRow;
      if (!existing) {
        task = newTaskRow(em, {
          id: randomUUID(),
          requestId: e.requestId,
          connector: e.connector,
          step: TaskStep.PURGE,
          status: TaskStatus.PENDING,
          priority: 0,
          waitingFor: 0,
          maxAttempts,
          note: null,
          idempotencyKey: key,
          now,
        });
        await tasks.insert(task);
      } else if (existing.status === TaskStatus.SUCCEEDED) {
        const updated = await tasks.update(
          { id: existing.id, status: TaskStatus.SUCCEEDED },
          // What earlier runs erased of the residue held back by kept records stays said (and is never erased or counted again).
          { status: TaskStatus.PENDING, attempts: 0, runAfter: now, idempotencyKey: key, finishedAt: null, lastError: null, result: existing.result?.residueErased?.length ? { residueErased: existing.result.residueErased } : null, remoteReference: null, updatedAt: now },
        );
        if (updated.affected !== 1) return 0;
        task = Object.assign(existing, { status: TaskStatus.PENDING, attempts: 0 });
      } else return 0;
      await auditTask(em, task, "purge_scheduled", now);
      return 1;
    }).catch((error: unknown) => {
      // Another worker's sweep inserted it first: that purge is the one, and this sweep goes on to the next.
      if (isUniqueViolation(error)) return 0;
      throw error;
    });
  }
  return armed;
}
