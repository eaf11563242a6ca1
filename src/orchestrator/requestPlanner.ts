import { EntityManager, In, IsNull, Not } from "typeorm";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { subjectIdentityMap } from "../domain/identities";
import { lockRow } from "../db/transaction";
import { RequestStatus } from "../domain/enums";
import { TaskStatus } from "../domain/tasks";
import { keptSubjectEmail, RequestIdentityRow, RequestRow } from "../entities";
import { PlannedTask, planTasks } from "./planner";
import { ConnectorRegistry } from "./registry";
import { settleRequest } from "./requestSettler";
import { insertPlan } from "./sql/insertPlan";
import { answers, dataChangedSince, ORIGINAL_CANDIDATES } from "../commands/requestSubmitter";

/** The identities a request carries, in matching form: kinds, and external ids under `external:<system>`. */
export function requestIdentities(row: RequestRow): Record<string, string> {
  return subjectIdentityMap({ email: keptSubjectEmail(row), userId: row.subjectUserId, phone: row.subjectPhone, externalIds: row.subjectExternalIds ?? [] });
}

/** The request as planning left it (settled when nothing was left to run), and the tasks it planned. */
export interface PlannedRequest {
  request: RequestRow;
  planned: PlannedTask[];
}

/** An original a duplicate can follow: one whose work is under way (it will end, and answer both). */
const FOLLOWABLE: readonly RequestStatus[] = [RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_INPUT];

/** The earliest other request doing the same work for the same person, at work now (locked, so it cannot end before our commit), or null. */
async function requestAtWork(em: EntityManager, request: RequestRow): Promise<RequestRow | null> {
  const candidates = await em.getRepository(RequestRow).find({
    where: { type: request.type, subjectEmail: keptSubjectEmail(request), duplicateOf: IsNull(), status: In([...FOLLOWABLE]), id: Not(request.id) },
    order: { receivedAt: "ASC" },
    take: ORIGINAL_CANDIDATES,
  });
  for (const candidate of candidates.filter((c) => answers(c, request))) {
    if (await dataChangedSince(em, candidate)) continue;
    await lockRow(em, "requests", candidate.id);
    const locked = await em.getRepository(RequestRow).findOneBy({ id: candidate.id });
    if (locked && locked.duplicateOf === null && FOLLOWABLE.includes(locked.status)) return locked;
  }
  return null;
}

/**
 * Fans an approved request out: records its identities, plans one task per connector and step, and
 * lets the request's status follow (a request with nothing to do completes at once). A duplicate of a
 * request whose work is under way plans nothing and follows it (its export and certificate are the
 * original's). A duplicate whose original already ended, or was never approved, would wait for nothing:
 * it is unlinked and does its own work; a request approved while one of the same work for the same
 * person is at work (such a duplicate, gone ahead) follows that one. Runs in the approval's transaction,
 * under the subject's lock (decideWithin): of two requests approved at once, the later sees the earlier.
 */
export async function planRequest(em: EntityManager, request: RequestRow, registry: ConnectorRegistry, actor: Actor, now: Date, maxAttempts: number): Promise<PlannedRequest> {
  if (request.duplicateOf) {
    // Locked as settleRequest locks it: the original cannot end between this look and our commit.
    await lockRow(em, "requests", request.duplicateOf);
    const original = await em.getRepository(RequestRow).findOneBy({ id: request.duplicateOf });
    // One whose copy predates a correction or deletion that ended since would answer with what the systems no longer hold.
    if (original && FOLLOWABLE.includes(original.status) && !(await dataChangedSince(em, original))) {
      await appendAuditEvent(em, { requestId: request.id, actor, action: "request.following_duplicate", details: { duplicateOf: original.id } }, now);
      return { request, planned: [] };
    }
    await em.getRepository(RequestRow).update({ id: request.id }, { duplicateOf: null });
    await appendAuditEvent(em, { requestId: request.id, actor, action: "request.duplicate_unlinked", details: { wasDuplicateOf: request.duplicateOf, originalStatus: original?.status ?? null } }, now);
    request.duplicateOf = null;
  }
  // A request of the same work for the same person already at work (its duplicate, approved before it,
  // went ahead on its own): this one follows it rather than fan out a second time.
  const atWork = await requestAtWork(em, request);
  if (atWork) {
    await em.getRepository(RequestRow).update({ id: request.id }, { duplicateOf: atWork.id });
    request.duplicateOf = atWork.id;
    await appendAuditEvent(em, { requestId: request.id, actor, action: "request.following_duplicate", details: { duplicateOf: atWork.id } }, now);
    return { request, planned: [] };
  }
  const identities = requestIdentities(request);
  await em
    .getRepository(RequestIdentityRow)
    .insert(Object.entries(identities).map(([kind, value]) => ({ requestId: request.id, kind, value, source: "request" })));
  const planned = planTasks(request.type, new Set(Object.keys(identities)), registry);
  // Requests about minors are claimed first: their data goes "immediately once known" (POLICY.md).
  await insertPlan(em, request.id, planned, now, maxAttempts, request.concernsMinor ? 10 : 0);
  await appendAuditEvent(
    em,
    {
      requestId: request.id,
      actor,
      action: "request.planned",
      details: {
        tasks: planned.length,
        skipped: planned.filter((p) => p.status === TaskStatus.SKIPPED).length,
        connectors: [...new Set(planned.map((p) => p.connector))].sort(),
      },
    },
    now,
  );
  // With a task to run the request stays IN_PROGRESS (no task has ended, none awaits input yet): only a
  // plan with nothing to run can settle it here. Its row is locked already (the approval's update).
  if (planned.some((p) => p.status === TaskStatus.PENDING)) return { request, planned };
  return { request: await settleRequest(em, request.id, now), planned };
}
