import { randomUUID } from "node:crypto";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { Connector, ConnectorError, Identities, noErasure, TaskContext } from "../connectors/sdk";
import { inTransaction } from "../db/transaction";
import { acceptedFinds, subjectIdentityMap } from "../domain/identities";
import { DeletionContext, PlannedDeletion } from "../domain/retention";
import { surveyConnector } from "../orchestrator/deletion";
import { CollectNotes } from "../orchestrator/collectNotes";
import { notSearchedOf } from "../queries/taskFinder";
import type { NotSearchedRecordSet } from "../schema/request.type";
import { missingNeeds } from "../orchestrator/runner";
import { activeHoldsFor } from "../queries/legalHoldFinder";
import { Services } from "../services";
import { subjectOf } from "./requestSubmitter";

/** A dry run's time limit: it runs connectors inside one API call. */
const PREVIEW_TIMEOUT_MS = 60_000;

export interface DeletionPreviewResult {
  computedAt: Date;
  lines: (PlannedDeletion & { connector: string })[];
  notSurveyed: { connector: string; reason: string }[];
  /** Kinds of record a surveyed connector could not search for (NotSearchedRecords), per connector. */
  notSearched: NotSearchedRecordSet[];
}

export interface PreviewSubject {
  email: string;
  userId?: string | null;
  phone?: string | null;
  externalIds?: { system: string; id: string }[] | null;
}

/**
 * What a deletion of the subject would erase and keep right now, per connector and category: resolves
 * identities in dependency order, surveys every erasing connector (counting, storing nothing) and
 * applies the rules and the subject's active holds. Writes nothing but an audit event (it read
 * personal data across systems).
 */
export async function previewDeletion(services: Services, actor: Actor, subject: PreviewSubject, minor: boolean): Promise<DeletionPreviewResult> {
  const { clock, logger, connectors } = services;
  const signal = AbortSignal.timeout(PREVIEW_TIMEOUT_MS);
  const previewId = randomUUID();
  const ctxFor = (connector: Connector): TaskContext => ({
    requestId: `preview:${previewId}`,
    taskId: `preview:${previewId}:${connector.spec.name}`,
    attempt: 1,
    logger: logger.child({ preview: previewId, connector: connector.spec.name }),
    signal,
    heartbeat: async () => undefined,
    idempotencyKey: `preview_${previewId}_${connector.spec.name}`,
    now: () => clock.now(),
    eraseUnit: noErasure,
    unfinishedUnits: async () => [],
  });
  const ids = subjectIdentityMap(subjectOf(subject));

  const notSurveyed: DeletionPreviewResult["notSurveyed"] = [];
  const failed = new Set<string>();
  // Identity order: run every resolver whose needs are met, until a round finds nothing new.
  const resolvers = connectors.list().filter((c) => c.resolve && !c.spec.manual && c.spec.provides.length);
  const resolved = new Set<string>();
  for (let progress = true; progress; ) {
    progress = false;
    for (const c of resolvers) {
      if (resolved.has(c.spec.name) || missingNeeds(c, ids as Identities).length) continue;
      resolved.add(c.spec.name);
      progress = true;
      try {
        const found = acceptedFinds(c.spec.provides, await c.resolve!(ids as Identities, ctxFor(c)));
        for (const [kind, value] of Object.entries(found)) if (!ids[kind]) ids[kind] = value;
      } catch (error) {
        failed.add(c.spec.name);
        notSurveyed.push({ connector: c.spec.name, reason: userWords(error) });
      }
    }
  }

  // As a request's plan does: a kind is used only once its providers confirmed it (a given user id may be another person's).
  const failedProviders = (spec: Connector["spec"], kind: string) => connectors.providersOf(kind, spec.name).filter((p) => failed.has(p.spec.name)).map((p) => p.spec.name);
  const unconfirmed = (spec: Connector["spec"]) => spec.needs.filter((kind) => failedProviders(spec, kind).length);
  const unconfirmedReason = (spec: Connector["spec"]) => {
    const kinds = unconfirmed(spec);
    return `needs ${kinds.join(" or ")}, which ${[...new Set(kinds.flatMap((k) => failedProviders(spec, k)))].join(", ")} could not confirm for this subject`;
  };
  const dctx: DeletionContext = { rules: services.retentionRules, holds: await activeHoldsFor(services.ds, ids.email), now: clock.now(), minor };
  const lines: DeletionPreviewResult["lines"] = [];
  const notSearched: NotSearchedRecordSet[] = [];
  for (const c of connectors.list()) {
    const { spec } = c;
    if (!spec.supports.includes("erasure") || failed.has(spec.name)) continue;
    if (spec.manual) notSurveyed.push({ connector: spec.name, reason: "a person surveys this system when erasing" });
    else if (!spec.supports.includes("access")) notSurveyed.push({ connector: spec.name, reason: `${spec.name} cannot be surveyed (no access support)` });
    else if (missingNeeds(c, ids as Identities).length) notSurveyed.push({ connector: spec.name, reason: `needs ${missingNeeds(c, ids as Identities).join(" or ")}, which no connector found` });
    else if (unconfirmed(spec).length) notSurveyed.push({ connector: spec.name, reason: unconfirmedReason(spec) });
    else {
      try {
        const notes = new CollectNotes();
        for (const line of (await surveyConnector(c, ids as Identities, { ...ctxFor(c), ...notes.reporters }, dctx, false)).lines) lines.push({ ...line, connector: spec.name });
        notSearched.push(...notSearchedOf(spec.name, notes.result().notSearched));
      } catch (error) {
        notSurveyed.push({ connector: spec.name, reason: userWords(error) });
      }
    }
  }
  const computedAt = clock.now();
  await inTransaction(services.ds, (em) =>
    appendAuditEvent(em, { requestId: null, actor, action: "deletion.previewed", details: { lines: lines.length, notSurveyed: notSurveyed.map((n) => n.connector), minor } }, computedAt),
  );
  return { computedAt, lines, notSurveyed, notSearched };
}

function userWords(error: unknown): string {
  if (error instanceof ConnectorError) return error.userMessage;
  if (error instanceof Error && error.name === "TimeoutError") return `no answer within ${PREVIEW_TIMEOUT_MS / 1000} s`;
  return "the connector failed unexpectedly (details are in the service log)";
}
