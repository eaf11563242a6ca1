import { Request } from "../schema/request.type";
import { AuditEvent } from "../schema/audit.type";
import { AuditEventRow, RequestRow } from "../entities";
import { RequestStatus } from "../domain/enums";
import { emailSpellings } from "../domain/identities";
import type { Instant } from "../graphql/scalars";
import type { Services } from "../services";

/** A request row whose dates may be Instants (a list page reads them from storage as text). */
export type RequestView = { [K in keyof RequestRow]: RequestRow[K] extends Date ? Instant : RequestRow[K] extends Date | null ? Instant | null : RequestRow[K] };

/**
 * The storage columns each field of the API's Request is made from, for loading only what an operation
 * asks for (a page of 50 full rows costs several times a page of the columns a list shows). A field not
 * listed here (a field resolver added later, say) loads the whole row: a missing entry costs speed, never
 * a wrong answer. test/requests.test.ts checks every field of the schema against a full load.
 */
export const REQUEST_FIELD_COLUMNS: Readonly<Record<string, readonly (keyof RequestRow)[]>> = {
  __typename: [],
  id: ["id"],
  type: ["type"],
  status: ["status"],
  source: ["source"],
  subject: ["subjectEmail", "subjectEmailAsTyped", "subjectUserId", "subjectPhone", "subjectExternalIds"],
  corrections: ["corrections"],
  subjectRemovedAt: ["subjectRemovedAt"],
  receivedAt: ["receivedAt"],
  dueAt: ["dueAt"],
  overdue: ["dueAt", "status"],
  extendedDays: ["extendedDays"],
  extensionReason: ["extensionReason"],
  statusReason: ["statusReason"],
  verificationCodeDelivery: ["status"],
  verification: ["status", "verificationMethod", "verifiedAt", "verificationEvidence", "verificationCodeHash", "verificationExpiresAt", "verificationAttempts"],
  duplicateOf: ["duplicateOf"],
  concernsMinor: ["concernsMinor"],
  closedAt: ["closedAt"],
  updatedAt: ["updatedAt"],
  idempotencyKey: ["idempotencyKey"],
};

/** The columns to load for these Request fields (always the id), or undefined: the whole row. */
export function requestColumns(fields: Iterable<string>): (keyof RequestRow)[] | undefined {
  const columns = new Set<keyof RequestRow>(["id"]);
  for (const field of fields) {
    const needed = Object.hasOwn(REQUEST_FIELD_COLUMNS, field) ? REQUEST_FIELD_COLUMNS[field] : undefined;
    if (!needed) return undefined;
    for (const column of needed) columns.add(column);
  }
  return [...columns];
}

/**
 * Storage row -> API shape, with `overdue` judged at `now`. A row loaded with requestColumns has only
 * what the operation's fields read; the other properties of the result are never resolved. Code hashes,
 * versions and submitter ids stay behind.
 */
export function presentRequest(row: RequestView, maxAttempts: number, now: Date): Request {
  const codeOutstanding = row.status === RequestStatus.PENDING_VERIFICATION && row.verificationCodeHash !== null;
  // Assigned one by one rather than Object.assign(new Request(), {...}): a page presents 50 of these, and the
  // intermediate object doubled the cost.
  const request = new Request();
  request.id = row.id;
  request.type = row.type;
  request.status = row.status;
  request.source = row.source;
  // Null once the record's personal data was removed (subjectRemovedAt): the API says so, never a stand-in value.
  request.subject =
    row.subjectEmail === null
      ? null
      : {
          email: row.subjectEmailAsTyped ?? row.subjectEmail,
          emailNormalized: row.subjectEmail,
          // Worked out only when selected: a list's rows load the subject's columns only when it is asked for.
          get emailSpellings() {
            return emailSpellings(this.emailNormalized);
          },
          userId: row.subjectUserId,
          phone: row.subjectPhone,
          externalIds: row.subjectExternalIds ?? [],
        };
  request.corrections = row.corrections;
  request.subjectRemovedAt = row.subjectRemovedAt;
  request.receivedAt = row.receivedAt;
  request.dueAt = row.dueAt;
  request.extendedDays = row.extendedDays;
  request.extensionReason = row.extensionReason;
  request.statusReason = row.statusReason;
  request.verification = {
    method: row.verificationMethod,
    verifiedAt: row.verifiedAt,
    evidence: row.verificationEvidence,
    codeExpiresAt: codeOutstanding ? row.verificationExpiresAt : null,
    attemptsLeft: codeOutstanding ? Math.max(0, maxAttempts - row.verificationAttempts) : null,
  };
  request.duplicateOf = row.duplicateOf;
  request.concernsMinor = row.concernsMinor;
  request.closedAt = row.closedAt;
  request.updatedAt = row.updatedAt;
  request.idempotencyKey = row.idempotencyKey;
  request.asOf = now;
  return request;
}

/** presentRequest with the service's attempt limit, judged at its clock's now (or at the `now` a page was read at). */
export function presentRequestFor(services: Pick<Services, "config" | "clock">, row: RequestView, now: Date = services.clock.now()): Request {
  return presentRequest(row, services.config.DSR_VERIFICATION_MAX_ATTEMPTS, now);
}

export function presentAuditEvent(row: AuditEventRow): AuditEvent {
  return Object.assign(new AuditEvent(), {
    stream: row.stream,
    seq: row.seq,
    requestId: row.requestId,
    actor: { id: row.actorId, role: row.actorRole },
    action: row.action,
    details: JSON.parse(row.details) as Record<string, unknown>,
    occurredAt: row.occurredAt,
    prevHash: row.prevHash,
    hash: row.hash,
  });
}
