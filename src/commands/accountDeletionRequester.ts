import { EntityManager } from "typeorm";
import { Actor } from "../audit/actor";
import { inTransaction, isUniqueViolation } from "../db/transaction";
import { RequestSource, RequestType, VerificationMethod } from "../domain/enums";
import { normalizeSubject } from "../domain/identities";
import { RequestRow } from "../entities";
import { conflict } from "../errors";
import { Services } from "../services";
import { decideWithin } from "./requestDecider";
import { insertRequest, newRequestRow, SubmitRequestCommand, subjectOf, submitterId } from "./requestSubmitter";

export interface AccountDeletionCommand {
  /** The caller's key for this deletion: the same key always answers with the same request. */
  idempotencyKey: string;
  subject: SubmitRequestCommand["subject"];
  /** What the settings session proved (no personal data); a default says "authenticated settings session". */
  verificationEvidence?: string | null;
  /** The account holder is under 18: the deletion keeps only what a legal obligation requires. */
  concernsMinor?: boolean | null;
}

const DEFAULT_EVIDENCE = "authenticated account settings session";

/** A subject's external ids as one comparable value, whatever order they were given in. */
const externalIdsKey = (ids: readonly { system: string; id: string }[] | null) => JSON.stringify((ids ?? []).map((e) => [e.system, e.id]).sort());

/**
 * Whether a stored request is about this subject with exactly these identities, compared in matching
 * form: another phone or external id leads to records the stored request never reached, so answering
 * with it would report their deletion done.
 */
function sameSubject(row: RequestRow, given: AccountDeletionCommand["subject"]): boolean {
  const { subject } = normalizeSubject(given);
  return (
    row.subjectEmail === subject.email &&
    row.subjectUserId === subject.userId &&
    row.subjectPhone === subject.phone &&
    externalIdsKey(row.subjectExternalIds) === externalIdsKey(subject.externalIds)
  );
}

/**
 * The request already made under `key`, or null. CONFLICT when the key was used for another subject (or
 * other identities of one) or by another token: a token only ever gets back requests it submitted
 * (auth/roles OWN_REQUESTS_ONLY), and one message for both cases tells nothing about the other token's subject.
 */
async function findByKey(em: EntityManager, actor: Actor, input: AccountDeletionCommand): Promise<RequestRow | null> {
  const row = await em.getRepository(RequestRow).findOneBy({ idempotencyKey: input.idempotencyKey });
  if (row?.subjectRemovedAt && row.submittedBy === submitterId(actor)) {
    // Nothing left to compare the subject with: saying "same" or "different" would be a guess.
    throw conflict("This idempotency key belongs to a deletion that ended long ago and whose record no longer holds its subject (DSR_REQUEST_RECORD_RETENTION_DAYS); use a new key for each deletion");
  }
  if (row && (!sameSubject(row, input.subject) || row.submittedBy !== submitterId(actor))) {
    throw conflict("This idempotency key was already used for a different subject; use a new key for each deletion");
  }
  if (row && input.concernsMinor === true && !row.concernsMinor) {
    // Answering with it would report a minor's deletion done while legitimate-interest retention kept part of their data.
    throw conflict("This idempotency key belongs to a deletion not made for a person under 18, which keeps data that a minor's deletion erases; use a new key for the minor's deletion");
  }
  return row;
}

/**
 * The settings page's "delete my account": a DELETION request from SETTINGS, its identity vouched for by
 * the subject's authenticated session, submitted and approved in one transaction (the approval plans its
 * tasks like approveRequest). Idempotent on the key, also under concurrent calls: the unique index on
 * requests.idempotencyKey lets one insert win, and the loser answers with the winner's request.
 */
export async function requestAccountDeletion(services: Services, actor: Actor, input: AccountDeletionCommand): Promise<RequestRow> {
  // Identities that cannot be read are BAD_USER_INPUT, naming the field, on a retry too: compared with
  // the stored request they would read as another subject (CONFLICT), or the unreadable part be dropped.
  subjectOf(input.subject);
  const existing = await findByKey(services.ds.manager, actor, input);
  if (existing) return existing;
  try {
    const created = await inTransaction(services.ds, async (em) => {
      const again = await findByKey(em, actor, input);
      if (again) return { row: again, fresh: false };
      const now = services.clock.now();
      const { row } = newRequestRow(
        services,
        actor,
        { type: RequestType.DELETION, subject: input.subject, identityVerified: true, verificationEvidence: input.verificationEvidence?.trim() || DEFAULT_EVIDENCE, concernsMinor: input.concernsMinor === true },
        now,
        { source: RequestSource.SETTINGS, verificationMethod: VerificationMethod.SESSION, idempotencyKey: input.idempotencyKey },
      );
      await insertRequest(em, row, actor, now, services.config.DSR_VERIFICATION_CODES_PER_DAY);
      return { row: await decideWithin(em, services, actor, "approve", row), fresh: true };
    });
    if (created.fresh) services.wakeWorkers();
    return created.row;
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const winner = await findByKey(services.ds.manager, actor, input);
    if (!winner) throw error;
    return winner;
  }
}
