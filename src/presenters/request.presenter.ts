import { Request } from "../schema/request.type";
import { AuditEvent } from "../schema/audit.type";
import { AuditEventRow, RequestRow } from "../entities";
import { RequestStatus } from "../domain/enums";

/** Storage row -> API shape. Code hashes, versions and submitter ids stay behind. */
export function presentRequest(row: RequestRow, maxAttempts: number): Request {
  const codeOutstanding = row.status === RequestStatus.PENDING_VERIFICATION && row.verificationCodeHash !== null;
  return Object.assign(new Request(), {
    id: row.id,
    type: row.type,
    status: row.status,
    source: row.source,
    subject: {
      email: row.subjectEmail,
      userId: row.subjectUserId,
      phone: row.subjectPhone,
      externalIds: row.subjectExternalIds ?? [],
    },
    corrections: row.corrections,
    receivedAt: row.receivedAt,
    dueAt: row.dueAt,
    extendedDays: row.extendedDays,
    extensionReason: row.extensionReason,
    statusReason: row.statusReason,
    verification: {
      method: row.verificationMethod,
      verifiedAt: row.verifiedAt,
      evidence: row.verificationEvidence,
      codeExpiresAt: codeOutstanding ? row.verificationExpiresAt : null,
      attemptsLeft: codeOutstanding ? Math.max(0, maxAttempts - row.verificationAttempts) : null,
    },
    duplicateOf: row.duplicateOf,
    concernsMinor: row.concernsMinor,
    closedAt: row.closedAt,
    updatedAt: row.updatedAt,
    idempotencyKey: row.idempotencyKey,
  });
}

export function presentAuditEvent(row: AuditEventRow): AuditEvent {
  return Object.assign(new AuditEvent(), {
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
