import { randomUUID } from "node:crypto";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { initialDueAt } from "../domain/deadlines";
import { RequestSource, RequestStatus, RequestType, Role, TERMINAL_STATUSES, VerificationMethod } from "../domain/enums";
import { EntityManager, In, IsNull, MoreThan, Not } from "typeorm";
import { generateCode, hashCode } from "../domain/verificationCode";
import { keptSubjectEmail, RequestRow, StoredExternalId, StoredFieldChange } from "../entities";
import { badInput, FieldProblem } from "../errors";
import { normalizeSubject, NormalizedSubject } from "../domain/identities";
import { folded, identityCorrections, IdentitySpec, respelledCorrections } from "../domain/corrections";
import { Services } from "../services";
import { lockSubject } from "../orchestrator/holdFence";
import { refuseCodeFlood, sendVerificationCode } from "./verificationCodeIssuer";

export interface SubmitRequestCommand {
  type: RequestType;
  subject: { email: string; userId?: string | null; phone?: string | null; externalIds?: StoredExternalId[] | null };
  corrections?: StoredFieldChange[] | null;
  /** The caller vouches that it has verified the subject's identity (an authenticated session, a checked document). */
  identityVerified?: boolean | null;
  /** What the caller checked, required with identityVerified. */
  verificationEvidence?: string | null;
  /** The subject is under 18. */
  concernsMinor?: boolean | null;
}

/**
 * Whether `original`'s work answers `row` (same person already): it is of the same type and asks for
 * all `row` asks. One that asks for more (an identity the original lacks, which leads to records it never
 * reached; changes it does not make; a minor's erasure, which keeps less) must do its own work:
 * following would report work that no one did for it.
 */
export function answers(original: RequestRow, row: RequestRow): boolean {
  const within = <T>(own: T | null, theirs: T | null) => own === null || own === theirs;
  const externalIds = (row.subjectExternalIds ?? []).every((x) => (original.subjectExternalIds ?? []).some((o) => o.system === x.system && o.id === x.id));
  const corrections = (row.corrections ?? []).every((c) => (original.corrections ?? []).some((o) => o.field === c.field && o.value === c.value));
  return (
    original.type === row.type &&
    within(row.subjectUserId, original.subjectUserId) &&
    within(row.subjectPhone, original.subjectPhone) &&
    externalIds &&
    corrections &&
    (!row.concernsMinor || original.concernsMinor)
  );
}

/** Requests that change what the systems hold about a person. */
const CHANGING_TYPES: readonly RequestType[] = [RequestType.CORRECTION, RequestType.DELETION];

/**
 * Whether a correction or deletion of `original`'s person ended (COMPLETED or FAILED: it may have
 * written) after `original` was received, for an ACCESS or PORTABILITY original: its copy may hold
 * what the systems held before, so a request received since cannot be answered with it (an access
 * request received after a completed correction would show the old values).
 */
export async function dataChangedSince(em: EntityManager, original: RequestRow): Promise<boolean> {
  if (original.type !== RequestType.ACCESS && original.type !== RequestType.PORTABILITY) return false;
  const changed = await em.getRepository(RequestRow).count({
    where: { type: In([...CHANGING_TYPES]), subjectEmail: keptSubjectEmail(original), status: In([RequestStatus.COMPLETED, RequestStatus.FAILED]), closedAt: MoreThan(original.receivedAt) },
  });
  return changed > 0;
}

/** Whether `original`'s work answers `row` (answers) and its copy is not older than a change of the person's data since (dataChangedSince). */
export async function stillAnswers(em: EntityManager, original: RequestRow, row: RequestRow): Promise<boolean> {
  return answers(original, row) && !(await dataChangedSince(em, original));
}

/** Open requests looked at for an original (the earliest that answers the new one is taken). */
export const ORIGINAL_CANDIDATES = 20;

/**
 * The earliest open request about the same person whose work answers this one's: a new request is
 * linked to it and, once approved, follows it instead of fanning out a second time.
 */
async function findOpenOriginal(em: EntityManager, row: RequestRow): Promise<RequestRow | null> {
  const open = await em.getRepository(RequestRow).find({
    where: { type: row.type, subjectEmail: keptSubjectEmail(row), duplicateOf: IsNull(), status: Not(In([...TERMINAL_STATUSES])) },
    order: { receivedAt: "ASC" },
    take: ORIGINAL_CANDIDATES,
  });
  for (const original of open) if (await stillAnswers(em, original, row)) return original;
  return null;
}

/** The subject in matching form; BAD_USER_INPUT naming each field that cannot be read or conflicts. */
export function subjectOf(subject: SubmitRequestCommand["subject"]): NormalizedSubject {
  const { subject: normalized, problems } = normalizeSubject(subject);
  if (problems.length) throw badInput("The subject's identities are not valid", fieldProblems(problems));
  return normalized;
}

const fieldProblems = (problems: { field: string; message: string }[]): FieldProblem[] => problems.map((p) => ({ field: p.field, messages: [p.message] }));

/** Why external ids need a caller who vouches for the subject (identityVerified). */
export const EXTERNAL_IDS_UNVOUCHED =
  "external ids are taken only with identityVerified: true, from a caller who checked that they are the subject's: the code sent to the email proves the email alone, and nothing confirms an id in another system; submit without them, or have the privacy team vouch for them";

/** Why a correction of the email needs a caller who vouches for the new address (identityVerified). */
export const EMAIL_CORRECTION_UNVOUCHED =
  "a correction of email is taken only with identityVerified: true, from a caller who checked that the new address is the subject's: the code sent to the email proves that address alone, and every later request of the person is looked up by the corrected one; submit the other changes without it, or have the privacy team vouch for the new address";

/** The stable reason (`extensions.reason`) of a refused correction of an identity, the email's included. */
export const IDENTITY_CORRECTION_UNVOUCHED = "IDENTITY_CORRECTION_UNVOUCHED";

/** Why a correction of another identity needs a caller who vouches for the new value (identityVerified). */
export function identityCorrectionUnvouched(fields: readonly string[], findBy: readonly string[]): string {
  const one = fields.length === 1;
  return (
    `a correction of ${fields.join(", ")} is taken only with identityVerified: true, from a caller who checked that the new value is the subject's: ` +
    `people are found by ${one ? "it" : "them"} (${findBy.join(", ")}), the code sent to the email proves that address alone, and every later request of the person ` +
    `would reach whoever holds the corrected value; submit the other changes without ${one ? "it" : "them"}, or have the privacy team vouch for ${one ? "it" : "them"}`
  );
}

/**
 * What is wrong with a correction that writes identities (identityCorrections) for a caller who does not
 * vouch, or null: checked at submission and again at approval (the connectors may have changed since).
 * Names the fields as the connectors do and the systems, never a value.
 */
export function unvouchedIdentityProblem(corrections: readonly { field: string }[] | null | undefined, specs: readonly IdentitySpec[]): FieldProblem | null {
  const found = identityCorrections(corrections, specs);
  if (!found.length) return null;
  const others = found.filter((f) => !f.email);
  const messages = [
    ...(found.some((f) => f.email) ? [EMAIL_CORRECTION_UNVOUCHED] : []),
    ...(others.length ? [identityCorrectionUnvouched([...new Set(others.map((f) => f.known))], [...new Set(others.flatMap((f) => f.findBy))].sort())] : []),
  ];
  return { field: "corrections", messages };
}

/** Why a correction field spelled otherwise than the connectors that correct it (respelledCorrections) is refused; names their spelling, not the request's. */
const respelledMessage = (r: { at: number; known: string; by: string[] }): string =>
  `corrections[${r.at}].field: field names are matched exactly, and ${r.by.join(", ")} ${r.by.length === 1 ? "corrects" : "correct"} this field as ${r.known}; ` +
  `submit it under that name (spelled otherwise it would be reported held by no system while the old value stays)`;

/**
 * The request identities (userId, phone) that a connector would read by and none can confirm as the
 * subject's, for a caller who does not vouch: one field problem each, or none. The account database
 * confirms a given user id or phone against the row it holds for the email before any system reads by
 * it (confirmOwn); with no connector that provides the kind, nothing does, and the code sent to the email
 * proves that address alone. Checked at submission and again at approval (the connectors may have
 * changed since). Names the kind and the connectors, never a value.
 */
export function unconfirmedIdentityProblems(subject: { userId?: string | null; phone?: string | null }, specs: readonly IdentitySpec[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const kind of ["userId", "phone"] as const) {
    if (!subject[kind]?.trim()) continue;
    const readers = specs.filter((s) => (s.needs as readonly string[]).includes(kind)).map((s) => s.name);
    if (!readers.length || specs.some((s) => (s.provides as readonly string[]).includes(kind))) continue;
    problems.push({
      field: `subject.${kind}`,
      messages: [
        `${kind} is taken without identityVerified only where a connector confirms it as the email's (one that provides ${kind}): none does here, and ${readers.sort().join(", ")} would read by it. ` +
          `The code sent to the email proves that address alone: submit without it, or have the privacy team vouch for it (identityVerified: true)`,
      ],
    });
  }
  return problems;
}

function checkShape(input: SubmitRequestCommand, specs: readonly IdentitySpec[]): void {
  const problems: FieldProblem[] = fieldProblems(normalizeSubject(input.subject).problems);
  const isCorrection = input.type === RequestType.CORRECTION;
  if (isCorrection && !input.corrections?.length) {
    problems.push({ field: "corrections", messages: ["a CORRECTION request must list at least one field change"] });
  }
  if (!isCorrection && input.corrections?.length) {
    problems.push({ field: "corrections", messages: [`corrections are only accepted on CORRECTION requests, not ${input.type}`] });
  }
  const fields = (input.corrections ?? []).map((c) => c.field);
  const twice = new Set(fields.map(folded)).size !== fields.length;
  // Connectors match field names exactly: `Email` where they correct `email` was reported held by no system, the address unchanged, COMPLETED.
  const spelling = [
    ...(twice ? ["each field may be corrected once per request, in one spelling (names that differ only in letter case, _ or - are one field)"] : []),
    ...respelledCorrections(input.corrections, specs).map(respelledMessage),
  ];
  if (spelling.length) problems.push({ field: "corrections", messages: spelling });
  if (input.identityVerified && !input.verificationEvidence?.trim()) {
    problems.push({ field: "verificationEvidence", messages: ["say how the identity was verified when identityVerified is true"] });
  }
  if (!input.identityVerified && input.subject.externalIds?.length) {
    // The code proves the email alone, and no system confirms an id in another: Mallory's address with Ada's billing id read Ada's invoices.
    problems.push({ field: "subject.externalIds", messages: [EXTERNAL_IDS_UNVOUCHED] });
  }
  // Mallory's address with Ada's user id, where no connector ties user ids to addresses: Ada's sessions were erased.
  if (!input.identityVerified) problems.push(...unconfirmedIdentityProblems(input.subject, specs));
  const identity = !input.identityVerified && isCorrection ? unvouchedIdentityProblem(input.corrections, specs) : null;
  // The code proves the address submitted under; a corrected address nobody proved led Mallory's later requests to Vera's Stripe customer
  // and Zendesk user, and a corrected `mobile` (the phone an SMS log finds people by) put Vera's messages in her export, then erased them.
  if (identity) problems.push(identity);
  if (!input.identityVerified && input.verificationEvidence) {
    problems.push({ field: "verificationEvidence", messages: ["verificationEvidence goes with identityVerified: true"] });
  }
  if (problems.length) throw badInput("The request input is not valid", problems, identity ? { reason: IDENTITY_CORRECTION_UNVOUCHED } : {});
}

/** What a request records as its submitter (RequestRow.submittedBy): the token id, or `cli` / `system`. */
export function submitterId(actor: Actor): string {
  return actor.id.replace(/^token:/, "");
}

/** Where a request comes from, when not the default for the caller's role. */
export interface SubmitOrigin {
  source: RequestSource;
  verificationMethod: VerificationMethod;
  /** The caller's idempotency key (unique among requests). */
  idempotencyKey: string;
}

/**
 * The row of a new request (not yet stored) and the one-time code to send, if the identity still needs
 * verifying. Validates the input's shape; BAD_USER_INPUT lists every problem.
 */
export function newRequestRow(services: Services, actor: Actor, input: SubmitRequestCommand, now: Date, origin?: SubmitOrigin): { row: RequestRow; code: string | null } {
  checkShape(input, services.connectors.list().map((c) => c.spec));
  const { config, secret } = services;
  const id = randomUUID();
  const verified = input.identityVerified === true;
  const code = verified ? null : generateCode();
  const method = origin?.verificationMethod ?? VerificationMethod.TRUSTED_CALLER;
  const subject = subjectOf(input.subject);
  const row = Object.assign(new RequestRow(), {
    id,
    type: input.type,
    status: verified ? RequestStatus.PENDING_APPROVAL : RequestStatus.PENDING_VERIFICATION,
    source: origin?.source ?? (actor.role === Role.SERVICE ? RequestSource.API : RequestSource.ADMIN),
    subjectEmail: subject.email,
    subjectEmailAsTyped: subject.emailAsTyped,
    subjectUserId: subject.userId,
    subjectPhone: subject.phone,
    subjectExternalIds: subject.externalIds.length ? subject.externalIds : null,
    corrections: input.corrections?.length ? input.corrections : null,
    receivedAt: now,
    dueAt: initialDueAt(input.type, now),
    extendedDays: 0,
    extensionReason: null,
    statusReason: null,
    verifiedAt: verified ? now : null,
    verificationMethod: verified ? method : null,
    verificationEvidence: verified ? input.verificationEvidence!.trim() : null,
    verificationCodeHash: code ? hashCode(secret, id, code) : null,
    verificationExpiresAt: code ? new Date(now.getTime() + config.DSR_VERIFICATION_TTL_MINUTES * 60_000) : null,
    verificationAttempts: 0,
    submittedBy: submitterId(actor),
    closedAt: null,
    duplicateOf: null as string | null,
    concernsMinor: input.concernsMinor === true,
    idempotencyKey: origin?.idempotencyKey ?? null,
    updatedAt: now,
    version: 0,
  });
  return { row, code };
}

/**
 * Stores a new request (linked to an open original of the same type and subject) with its audit event.
 * Under the subject's lock: of two identical requests submitted at once, the second sees the first, and
 * of two sent codes at once, the second counts the first (refuseCodeFlood).
 */
export async function insertRequest(em: EntityManager, row: RequestRow, actor: Actor, now: Date, codesPerDay: number): Promise<void> {
  await lockSubject(em, keptSubjectEmail(row), now);
  // A request sent a code counts toward the address's codes of the day; one a caller vouched for sends none.
  if (row.verificationCodeHash) await refuseCodeFlood(em, keptSubjectEmail(row), now, codesPerDay);
  row.duplicateOf = (await findOpenOriginal(em, row))?.id ?? null;
  await em.getRepository(RequestRow).insert(row);
  await appendAuditEvent(
    em,
    {
      requestId: row.id,
      actor,
      action: "request.submitted",
      details: {
        type: row.type,
        status: row.status,
        source: row.source,
        verification: row.verificationMethod ?? "CODE_SENT",
        correctedFields: (row.corrections ?? []).map((c) => c.field),
        duplicateOf: row.duplicateOf,
      },
    },
    now,
  );
}

/**
 * Takes a new request. Unless a trusted caller vouches for the subject, the request waits in
 * PENDING_VERIFICATION and a one-time code goes to the subject's email after the row is committed.
 */
export async function submitRequest(services: Services, actor: Actor, input: SubmitRequestCommand): Promise<RequestRow> {
  const now = services.clock.now();
  const { row, code } = newRequestRow(services, actor, input, now);
  await inTransaction(services.ds, (em) => insertRequest(em, row, actor, now, services.config.DSR_VERIFICATION_CODES_PER_DAY));
  if (code) await sendVerificationCode(services, row, code);
  return row;
}
