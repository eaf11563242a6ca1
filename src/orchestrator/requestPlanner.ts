import { EntityManager } from "typeorm";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { subjectIdentityMap } from "../domain/identities";
import { lockRow } from "../db/transaction";
import { RequestStatus } from "../domain/enums";
import { TaskStatus } from "../domain/tasks";
import { RequestIdentityRow, RequestRow } from "../entities";
import { PlannedTask, planTasks } from "./planner";
import { ConnectorRegistry } from "./registry";
import { settleRequest } from "./requestSettler";
import { insertPlan } from "./sql/insertPlan";

/** The identities a request carries, in matching form: kinds, and external ids under `external:<system>`. */
export function requestIdentities(row: RequestRow): Record<string, string> {
  return subjectIdentityMap({ email: row.subjectEmail, userId: row.subjectUserId, phone: row.subjectPhone, externalIds: row.subjectExternalIds ?? [] });
}

/** The request as planning left it (settled when nothing was left to run), and the tasks it planned. */
export interface PlannedRequest {
  request: RequestRow;
  planned: PlannedTask[];
}

/** An original a duplicate can follow: one whose work is under way (it will end, and answer both). */
const FOLLOWABLE: readonly RequestStatus[] = [RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_INPUT];

/**
 * Fans an approved request out: records its identities, plans one task per connector and step, and
 * lets the request's status follow (a request with nothing to do completes at once). A duplicate of a
 * request whose work is under way plans nothing and follows it (its export and certificate are the
 * original's). A duplicate whose original already ended, or was never approved, would wait for nothing:
 * it is unlinked and does its own work. Runs in the approval's transaction.
 */
export async function planRequest(em: EntityManager, request: RequestRow, registry: ConnectorRegistry, actor: Actor, now: Date, maxAttempts: number): Promise<PlannedRequest> {
  if (request.duplicateOf) {
    // Locked as settleRequest locks it: the original cannot end between this look and our commit.
    await lockRow(em, "requests", request.duplicateOf);
    const original = await em.getRepository(RequestRow).findOneBy({ id: request.duplicateOf });
    if (original && FOLLOWABLE.includes(original.status)) {
      await appendAuditEvent(em, { requestId: request.id, actor, action: "request.following_duplicate", details: { duplicateOf: original.id } }, now);
      return { request, planned: [] };
    }
    await em.getRepository(RequestRow).update({ id: request.id }, { duplicateOf: null });
    await appendAuditEvent(em, { requestId: request.id, actor, action: "request.duplicate_unlinked", details: { wasDuplicateOf: request.duplicateOf, originalStatus: original?.status ?? null } }, now);
    request.duplicateOf = null;
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
