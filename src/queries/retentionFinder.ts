import { DataSource, EntityManager, In, Not } from "typeorm";
import { holdFor } from "../domain/retention";
import { activeHoldsFor } from "./legalHoldFinder";
import { answers } from "../commands/requestSubmitter";
import { RequestType } from "../domain/enums";
import type { Identities } from "../connectors/sdk";
import { DeletionPlanItemRow, keptSubjectEmail, KeptByEarlier, RequestIdentityRow, RequestRow, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";

/** A request's retention exceptions (or those of several, in one statement), soonest purge first. */
export function findRetentionExceptions(ds: DataSource | EntityManager, requestId: string | readonly string[]): Promise<RetentionExceptionRow[]> {
  return ds.getRepository(RetentionExceptionRow).find({ where: { requestId: typeof requestId === "string" ? requestId : In([...requestId]) }, order: { retainUntil: "ASC", id: "ASC" } });
}

/**
 * For each open set a retention rule keeps (it has a retainUntil and no hold), the active legal hold on
 * the subject that covers its category, by the set's id: that hold keeps the set past retainUntil, until
 * it is released (the purge then names it in the set itself, `holdId`). Placed while the rule's period
 * runs, the hold would otherwise show nowhere on the set until then, and a certificate issued meanwhile
 * would promise the purge at retainUntil.
 */
export async function holdsExtending(ds: DataSource | EntityManager, subjectEmail: string | null, rows: readonly RetentionExceptionRow[]): Promise<Map<string, string>> {
  const ruled = rows.filter((r) => r.status === RetentionExceptionStatus.OPEN && r.holdId === null && r.retainUntil !== null);
  const extending = new Map<string, string>();
  // A request keeps its subject while any of its sets is open (DSR_REQUEST_RECORD_RETENTION_DAYS counts from the last one closed).
  if (!ruled.length || subjectEmail === null) return extending;
  const holds = await activeHoldsFor(ds, subjectEmail);
  for (const row of ruled) {
    const hold = holdFor(row.category, holds);
    if (hold) extending.set(row.id, hold.id);
  }
  return extending;
}

/** An earlier deletion's open exception, and the identity kinds it was kept under that an erasure lacked (empty: it reached it). */
export interface EarlierException {
  exception: RetentionExceptionRow;
  /** Kinds the earlier erasure worked from (among those the connector finds people by) that this one did not hold with the same value. */
  missing: string[];
  /** The values of the `missing` kinds the earlier erasure worked from, in matching form: personal data, never logged or reported. */
  missingValues: Record<string, string>;
  /** The later request's work answers the earlier one's (answers): its erasure speaks for the earlier's too. */
  answered: boolean;
}

/**
 * The open exceptions of `connector` that the person's other deletions keep (ended, or still at work:
 * one in its closing passes has written what its first pass kept), each with the identities it was kept
 * under (each identity the connector finds people by, `needs`, that their erasure worked from) that
 * `reachedWith` lacks. An erasure that lacked one (the account database, which provided the payment
 * customer id, erased by the other deletion) read back nothing of those sets because it could not look,
 * not because nothing is there.
 */
export async function earlierExceptions(ds: DataSource, request: RequestRow, connector: string, reachedWith: Identities, needs: readonly string[]): Promise<EarlierException[]> {
  const earlier = await ds.getRepository(RequestRow).findBy({ type: RequestType.DELETION, subjectEmail: keptSubjectEmail(request), id: Not(request.id) });
  if (!earlier.length) return [];
  const open = await ds.getRepository(RetentionExceptionRow).findBy({ requestId: In(earlier.map((e) => e.id)), connector, status: RetentionExceptionStatus.OPEN });
  if (!open.length) return [];
  const holding = [...new Set(open.map((e) => e.requestId))];
  const theirs = needs.length ? await ds.getRepository(RequestIdentityRow).findBy({ requestId: In(holding), kind: In([...needs]) }) : [];
  const own = reachedWith as Record<string, string | undefined>;
  // A deletion still at work has written what each of its passes kept: another's erasure that reached the
  // system and keeps nothing there closes those sets too (a later pass of its own would count them anew).
  const answered = new Set(earlier.filter((e) => answers(request, e)).map((e) => e.id));
  return open.map((exception) => {
    const lacked = theirs.filter((i) => i.requestId === exception.requestId && own[i.kind] !== i.value);
    return {
      exception,
      missing: [...new Set(lacked.map((i) => i.kind))].sort(),
      missingValues: Object.fromEntries(lacked.map((i) => [i.kind, i.value])),
      answered: answered.has(exception.requestId),
    };
  });
}

/**
 * Of earlierExceptions, those of `categories` that `request`'s erasure reached with every identity they
 * were kept under and whose work it answers: once it read the system back and keeps nothing of those
 * categories, the records they say are kept are gone.
 */
export function exceptionsErasedBy(earlier: readonly EarlierException[], categories: readonly string[]): RetentionExceptionRow[] {
  return earlier.filter((e) => e.answered && !e.missing.length && categories.includes(e.exception.category)).map((e) => e.exception);
}
