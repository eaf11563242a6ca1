import { In, type EntityManager } from "typeorm";
import { RequestStatus } from "../domain/enums";
import { AuditEventRow, DeletionPlanItemRow, ExportRow, type RetentionExceptionRow, type TaskDependencyRow, type TaskRow } from "../entities";
import { findTaskDependencies, findTasks } from "./taskFinder";
import { findRetentionExceptions, holdsExtending } from "./retentionFinder";
import { answeringRequestId } from "./exportFinder";
import { CODE_ACTIONS, deliveredBy } from "./requestFinder";
import { appendTo } from "../domain/multiMap";

/**
 * What a read of a request shows beside its row (its tasks, what they wait for, its retention
 * exceptions, its plan, its audit events, its export, what became of its code), loaded in the same
 * snapshot as the row (inReadSnapshot), so that one answer is one state of the database: never a request
 * still IN_PROGRESS beside the task whose completion ended it, a plan line beside the survey that has not
 * stored it, nor a PURGE SUCCEEDED beside the exception it closed still OPEN. Every field of a Request
 * other than its row's is made from these parts (requestPart refuses one that was not loaded): a field
 * resolver runs after the root resolver returned, when the snapshot is over.
 */
export interface RequestParts {
  /** Its tasks in the order they run: tasks, progress, notSearched, deletionOutcome, residualRecords and erasedResidue are made from them. */
  tasks?: TaskRow[];
  dependencies?: TaskDependencyRow[];
  exceptions?: RetentionExceptionRow[];
  /** The active hold that keeps each open exception past its retainUntil (holdsExtending). */
  extending?: Map<string, string>;
  plan?: DeletionPlanItemRow[];
  auditEvents?: AuditEventRow[];
  /** Whether the notifier took the current code; loaded for a request in PENDING_VERIFICATION only. */
  codeDelivered?: boolean;
  /** The export that answers it (its own, or its original's), or null. */
  export?: ExportRow | null;
}

/** The Request fields each part is read for. */
const FIELDS_OF_PART = {
  tasks: ["tasks", "progress", "notSearched", "deletionOutcome", "residualRecords", "erasedResidue"],
  dependencies: ["progress"],
  exceptions: ["retentionExceptions"],
  plan: ["deletionPlan"],
  auditEvents: ["auditEvents"],
  codeDelivered: ["verificationCodeDelivery"],
  export: ["export"],
} as const;

type Part = keyof typeof FIELDS_OF_PART;

/** The parts that the selected Request fields read. */
export function partsFor(fields: ReadonlySet<string>): Record<Part, boolean> {
  const wanted = {} as Record<Part, boolean>;
  for (const part of Object.keys(FIELDS_OF_PART) as Part[]) wanted[part] = FIELDS_OF_PART[part].some((field) => fields.has(field));
  return wanted;
}

/** A request as the parts finder reads it: the columns its parts need (a page loads the whole row when a part is asked for). */
type PartsOf = { id: string; status?: RequestStatus; subjectEmail?: string | null; duplicateOf?: string | null };

/**
 * The parts `fields` read of these requests, by request id: one statement per part for the whole list
 * (a page's tasks in one), plus one for the holds of each request with an open exception a rule keeps.
 */
export async function findRequestParts(em: EntityManager, requests: readonly PartsOf[], fields: ReadonlySet<string>): Promise<Map<string, RequestParts>> {
  const wanted = partsFor(fields);
  const parts = new Map<string, RequestParts>(requests.map((r) => [r.id, {}]));
  const ids = [...parts.keys()];
  if (!ids.length) return parts;
  /** Sets `key` of every request's parts from rows that name their request by `of`. */
  const spread = <K extends "tasks" | "dependencies" | "exceptions" | "plan" | "auditEvents">(key: K, rows: NonNullable<RequestParts[K]>, of: (row: NonNullable<RequestParts[K]>[number]) => string) => {
    const byRequest = new Map<string, NonNullable<RequestParts[K]>[number][]>();
    for (const row of rows) appendTo(byRequest, of(row), row);
    for (const id of ids) (parts.get(id)! as Record<K, unknown>)[key] = byRequest.get(id) ?? [];
  };
  if (wanted.tasks) {
    const tasks = await findTasks(em, ids);
    spread("tasks", tasks, (t) => t.requestId);
    if (wanted.dependencies) {
      const requestOf = new Map(tasks.map((t) => [t.id, t.requestId]));
      spread("dependencies", await findTaskDependencies(em, tasks), (d) => requestOf.get(d.taskId)!);
    }
  }
  if (wanted.exceptions) {
    spread("exceptions", await findRetentionExceptions(em, ids), (e) => e.requestId);
    for (const request of requests) {
      const part = parts.get(request.id)!;
      part.extending = await holdsExtending(em, request.subjectEmail ?? null, part.exceptions!);
    }
  }
  if (wanted.plan) spread("plan", await em.getRepository(DeletionPlanItemRow).find({ where: { requestId: In(ids) }, order: { connector: "ASC", category: "ASC" } }), (p) => p.requestId);
  if (wanted.auditEvents) spread("auditEvents", await em.getRepository(AuditEventRow).find({ where: { requestId: In(ids) }, order: { seq: "ASC" } }), (e) => e.requestId!);
  const awaitingCode = requests.filter((r) => r.status === RequestStatus.PENDING_VERIFICATION).map((r) => r.id);
  if (wanted.codeDelivered && awaitingCode.length) {
    const said = await em.getRepository(AuditEventRow).find({ select: { requestId: true, action: true, seq: true }, where: { requestId: In(awaitingCode), action: In(CODE_ACTIONS) }, order: { seq: "ASC" } });
    const last = new Map(said.map((e) => [e.requestId!, e]));
    for (const id of awaitingCode) parts.get(id)!.codeDelivered = deliveredBy(last.get(id));
  }
  if (wanted.export) {
    const answering = new Map(requests.map((r) => [r.id, answeringRequestId({ id: r.id, duplicateOf: r.duplicateOf ?? null })]));
    const exports = await em.getRepository(ExportRow).findBy({ requestId: In([...new Set(answering.values())]) });
    const byRequest = new Map(exports.map((e) => [e.requestId, e]));
    for (const id of ids) parts.get(id)!.export = byRequest.get(answering.get(id)!) ?? null;
  }
  return parts;
}

/** A part of a request read in its snapshot; never read anew, which would show another moment. */
export function requestPart<K extends keyof RequestParts>(request: { id: string; parts?: RequestParts }, key: K): NonNullable<RequestParts[K]> | Extract<RequestParts[K], null> {
  const value = request.parts?.[key];
  if (value === undefined) throw new Error(`Request ${request.id}: ${key} was not read in the snapshot of its row (findRequestParts)`);
  return value as NonNullable<RequestParts[K]>;
}
