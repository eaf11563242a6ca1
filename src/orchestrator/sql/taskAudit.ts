import { EntityManager } from "typeorm";
import { Actor, SYSTEM_ACTOR } from "../../audit/actor";
import { appendAuditEvent, AuditDetails } from "../../audit/auditTrail";
import { TaskRow } from "../../entities";

/** The audit event of a task transition: which task, which connector and step, which attempt. */
export function auditTask(em: EntityManager, task: TaskRow, action: string, now: Date, details: AuditDetails = {}, actor: Actor = SYSTEM_ACTOR) {
  return appendAuditEvent(
    em,
    { requestId: task.requestId, actor, action: `task.${action}`, details: { taskId: task.id, connector: task.connector, step: task.step, attempt: task.attempts, ...details } },
    now,
  );
}
