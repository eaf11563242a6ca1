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
import { In } from "typeorm";
import { RequestStatus, RequestType } from "../domain/enums";
import { RequestIdentityRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";
import { holdsExtending } from "../queries/retentionFinder";
import { subjectOf } from "./requestSubmitter";

/** A dry run's time limit: it runs connectors inside one API call. */
const PREVIEW_TIMEOUT_MS = 60_000;

export interface DeletionPreviewResult {
  computedAt: Date;
  lines: (PlannedDeletion & { connector: string })[];
  notSurveyed: { connector: string; reason: string }[];
  /** Kinds of record a surveyed connector could not search for (NotSearchedRecords), per connector. */
  notSearched: NotSearchedRecordSet[];
  /** What the systems still hold that earlier deletions of the subject kept, surveyed with their identities (EarlierDeletionHeld). */
  earlierDeletions: EarlierDeletionHeld[];
}

/**
 * An earlier deletion of the subject that ended (COMPLETED or FAILED) and still keeps something: its
 * OPEN retention exceptions (what it recorded as kept), and what the systems hold now when asked with
 * the identities it keeps that the person's current ones no longer lead to (a user id, a payment
 * customer id its RESOLVE found before the account was erased: kept while an exception is open): the
 * records it kept (a rule's 7 years, a hold), and what is past its period and awaits the purge. A new
 * deletion would not reach these (its own look-up starts from the account, gone).
 */
export interface EarlierDeletionHeld {
  requestId: string;
  status: RequestStatus;
  closedAt: Date | null;
  /** Its retention exceptions still OPEN (what it recorded as kept), with the hold that extends each, if any. */
  kept: { row: RetentionExceptionRow; extendedBy: string | null }[];
  /** Only lines of records found: a set the systems no longer hold is left out. */
  lines: (PlannedDeletion & { connector: string })[];
  notSurveyed: { connector: string; reason: string }[];
}

/** The most earlier deletions a preview surveys (the latest first): one person rarely has more than one or two. */
const EARLIER_DELETIONS = 5;

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
  /** Surveys every erasing connector with `with` (a connector whose needs it lacks, or that a failed provider could not confirm, is named in `skipped`). */
  const surveyAll = async (with_: Record<string, string>, into: DeletionPreviewResult["lines"], skipped: DeletionPreviewResult["notSurveyed"], searched?: NotSearchedRecordSet[]) => {
    for (const c of connectors.list()) {
      const { spec } = c;
      if (!spec.supports.includes("erasure") || failed.has(spec.name)) continue;
      if (spec.manual) skipped.push({ connector: spec.name, reason: "a person surveys this system when erasing" });
      else if (!spec.supports.includes("access")) skipped.push({ connector: spec.name, reason: `${spec.name} cannot be surveyed (no access support)` });
      else if (missingNeeds(c, with_ as Identities).length) skipped.push({ connector: spec.name, reason: `needs ${missingNeeds(c, with_ as Identities).join(" or ")}, which no connector found` });
      else if (unconfirmed(spec).length) skipped.push({ connector: spec.name, reason: unconfirmedReason(spec) });
      else {
        try {
          const notes = new CollectNotes();
          for (const line of (await surveyConnector(c, with_ as Identities, { ...ctxFor(c), ...notes.reporters }, dctx, false)).lines) into.push({ ...line, connector: spec.name });
          searched?.push(...notSearchedOf(spec.name, notes.result().notSearched));
        } catch (error) {
          skipped.push({ connector: spec.name, reason: userWords(error) });
        }
      }
    }
  };
  await surveyAll(ids, lines, notSurveyed, notSearched);
  const earlierDeletions: EarlierDeletionHeld[] = [];
  for (const earlier of await earlierDeletionsOf(services, ids)) {
    const open = await services.ds.getRepository(RetentionExceptionRow).find({ where: { requestId: earlier.request.id, status: RetentionExceptionStatus.OPEN }, order: { connector: "ASC", category: "ASC", recordType: "ASC" } });
    const extending = await holdsExtending(services.ds, ids.email, open);
    const held: EarlierDeletionHeld = { requestId: earlier.request.id, status: earlier.request.status, closedAt: earlier.request.closedAt, kept: open.map((row) => ({ row, extendedBy: extending.get(row.id) ?? null })), lines: [], notSurveyed: [] };
    if (earlier.ids) {
      await surveyAll(earlier.ids, held.lines, held.notSurveyed);
      held.lines = held.lines.filter((l) => l.found > 0);
    } else if (open.length) {
      const reason = earlier.current
        ? "the person's current identities are the ones it kept: the preview's own lines count what it kept here"
        : "it keeps no identity of the subject but the address: the preview's own lines count what the address still reaches here, and its retention exceptions (kept) say what it kept";
      for (const connector of [...new Set(open.map((e) => e.connector))]) held.notSurveyed.push({ connector, reason });
    }
    if (held.kept.length || held.lines.length) earlierDeletions.push(held);
  }
  const computedAt = clock.now();
  await inTransaction(services.ds, (em) =>
    appendAuditEvent(
      em,
      { requestId: null, actor, action: "deletion.previewed", details: { lines: lines.length, notSurveyed: notSurveyed.map((n) => n.connector), minor, earlierDeletions: earlierDeletions.map((e) => e.requestId) } },
      computedAt,
    ),
  );
  return { computedAt, lines, notSurveyed, notSearched, earlierDeletions };
}

/**
 * The subject's earlier deletions that ended and still keep identities the preview's own look-up did
 * not find now (or found with another value: the person's new account), with the identities to survey
 * by: the subject's email and the deletion's other kept identities. A deletion whose identities the
 * record purge removed keeps nothing this could find (its exceptions closed long before).
 */
async function earlierDeletionsOf(services: Services, ids: Record<string, string>): Promise<{ request: RequestRow; ids: Record<string, string> | null; current: boolean }[]> {
  const requests = await services.ds.getRepository(RequestRow).find({
    where: { type: RequestType.DELETION, subjectEmail: ids.email, status: In([RequestStatus.COMPLETED, RequestStatus.FAILED]) },
    order: { closedAt: "DESC" },
    take: EARLIER_DELETIONS,
  });
  if (!requests.length) return [];
  const kept = await services.ds.getRepository(RequestIdentityRow).findBy({ requestId: In(requests.map((r) => r.id)) });
  return requests.map((request) => {
    const own = kept.filter((k) => k.requestId === request.id && k.kind !== "email");
    // Nothing the current look-up lacks: the preview's own lines reach whatever it reaches.
    if (!own.some((k) => ids[k.kind] !== k.value)) return { request, ids: null, current: own.length > 0 };
    return { request, ids: { email: ids.email, ...Object.fromEntries(own.map((k) => [k.kind, k.value])) }, current: false };
  });
}

function userWords(error: unknown): string {
  if (error instanceof ConnectorError) return error.userMessage;
  if (error instanceof Error && error.name === "TimeoutError") return `no answer within ${PREVIEW_TIMEOUT_MS / 1000} s`;
  return "the connector failed unexpectedly (details are in the service log)";
}
