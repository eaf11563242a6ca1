import { EntityManager } from "typeorm";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { TERMINAL_STATUSES } from "../domain/enums";
import { subjectIdentityMap } from "../domain/identities";
import { TaskStatus } from "../domain/tasks";
import { RequestIdentityRow, RequestRow } from "../entities";
import { planTasks } from "./planner";
import { ConnectorRegistry } from "./registry";
import { settleRequest } from "./requestSettler";
import { insertPlan } from "./sql/insertPlan";

/** The identities a request carries, in matching form: kinds, and external ids under `external:<system>`. */
export function requestIdentities(row: RequestRow): Record<string, string> {
  return subjectIdentityMap({ email: row.subjectEmail, userId: row.subjectUserId, phone: row.subjectPhone, externalIds: row.subjectExternalIds ?? [] });
}

/**
 * Fans an approved request out: records its identities, plans one task per connector and step, and
 * lets the request's status follow (a request with nothing to do completes at once). A duplicate of a
 * request still open plans nothing and follows that one. Runs in the approval's transaction.
 */
export async function planRequest(em: EntityManager, request: RequestRow, registry: ConnectorRegistry, actor: Actor, now: Date, maxAttempts: number): Promise<void> {
  if (request.duplicateOf) {
    const original = await em.getRepository(RequestRow).findOneBy({ id: request.duplicateOf });
    if (original && !TERMINAL_STATUSES.includes(original.status)) {
      await appendAuditEvent(em, { requestId: request.id, actor, action: "request.following_duplicate", details: { duplicateOf: original.id } }, now);
      return;
    }
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
  await settleRequest(em, request.id, now);
}
