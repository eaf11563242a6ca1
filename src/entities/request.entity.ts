import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { RequestSource, RequestStatus, RequestType, VerificationMethod } from "../domain/enums";
import { TimestampColumn } from "./columns";

/** A field change asked for by a CORRECTION request. */
export interface StoredFieldChange {
  field: string;
  value: string;
}

/** An identifier of the subject in another system (ticketing id, payment customer id, ...). */
export interface StoredExternalId {
  system: string;
  id: string;
}

/** Storage row of a data-subject request. The API shape is schema/request.type.ts. */
@Entity({ name: "requests" })
@Index("idx_requests_due", ["dueAt", "id"])
@Index("idx_requests_status_due", ["status", "dueAt"])
@Index("idx_requests_record_purge", ["subjectRemovedAt", "closedAt"])
export class RequestRow {
  /** UUID v4 assigned at submission. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** ACCESS | PORTABILITY | DELETION | CORRECTION. */
  @Column({ type: "varchar", length: 16 })
  type!: RequestType;

  /** Lifecycle position; changed only through commands/requestTransition.ts. */
  @Column({ type: "varchar", length: 32 })
  status!: RequestStatus;

  /** Who brought the request in: ADMIN console, SETTINGS page, or an API caller. */
  @Column({ type: "varchar", length: 16 })
  source!: RequestSource;

  /**
   * Subject's email in matching form (domain/identities.ts normalizeEmail); the one identity every request
   * has until its record's personal data is removed (subjectRemovedAt), then null.
   */
  @Index("idx_requests_subject_email")
  @Column({ type: "varchar", length: 254, nullable: true })
  subjectEmail!: string | null;

  /** The email as the person typed it (trimmed, NFC), for display and mail; null on requests older than it. */
  @Column({ type: "varchar", length: 254, nullable: true })
  subjectEmailAsTyped!: string | null;

  /** Subject's user id in the platform (trimmed, NFC), when the caller knows it. */
  @Column({ type: "varchar", length: 128, nullable: true })
  subjectUserId!: string | null;

  /** Subject's phone in E.164, when given. */
  @Column({ type: "varchar", length: 16, nullable: true })
  subjectPhone!: string | null;

  /** Ids of the subject in other systems. */
  @Column({ type: "simple-json", nullable: true })
  subjectExternalIds!: StoredExternalId[] | null;

  /** The changes a CORRECTION asks for; null for other types. */
  @Column({ type: "simple-json", nullable: true })
  corrections!: StoredFieldChange[] | null;

  /** When the service received the request; deadlines count from here. */
  @TimestampColumn()
  receivedAt!: Date;

  /** When the answer is due, extensions included. */
  @TimestampColumn()
  dueAt!: Date;

  /** Days added by extendDeadline, in total (capped by MAX_EXTENSION_DAYS). */
  @Column({ type: "int", default: 0 })
  extendedDays!: number;

  /** Why the deadline was last extended (told to the subject, so no internal notes); free text: cleared with the subject (subjectRemovedAt), and never in the audit trail. */
  @Column({ type: "varchar", length: 500, nullable: true })
  extensionReason!: string | null;

  /** Why the request was rejected, cancelled or failed; a person's words may name anyone: cleared with the subject (subjectRemovedAt), and never in the audit trail. */
  @Column({ type: "varchar", length: 500, nullable: true })
  statusReason!: string | null;

  /** When the subject's identity was verified; null until then. */
  @TimestampColumn({ nullable: true })
  verifiedAt!: Date | null;

  /** How the identity was verified. */
  @Column({ type: "varchar", length: 16, nullable: true })
  verificationMethod!: VerificationMethod | null;

  /** What a trusted caller said it checked (for TRUSTED_CALLER); free text that may name the person anyway: cleared with the subject (subjectRemovedAt). */
  @Column({ type: "varchar", length: 500, nullable: true })
  verificationEvidence!: string | null;

  /** HMAC-SHA256 of the current one-time code, keyed by DSR_SECRET; the code itself is never stored. */
  @Column({ type: "varchar", length: 64, nullable: true })
  verificationCodeHash!: string | null;

  /** When the current code stops being accepted. */
  @TimestampColumn({ nullable: true })
  verificationExpiresAt!: Date | null;

  /** Wrong codes entered against the current code. */
  @Column({ type: "int", default: 0 })
  verificationAttempts!: number;

  /** Token id of the caller that submitted the request. */
  @Column({ type: "varchar", length: 36 })
  submittedBy!: string;

  /** When the request reached a terminal status. */
  @TimestampColumn({ nullable: true })
  closedAt!: Date | null;

  /**
   * When the purge removed the personal data this record kept (the subject's identities, a correction's
   * values), DSR_REQUEST_RECORD_RETENTION_DAYS after the request ended; null while they are kept.
   */
  @TimestampColumn({ nullable: true })
  subjectRemovedAt!: Date | null;

  /**
   * The subject as the deletion certificate's keyed hash (certificateIssuer.subjectReference), written
   * when the email is removed so a certificate issued afterwards names the same subject; null until then.
   */
  @Column({ type: "varchar", length: 80, nullable: true })
  subjectReference!: string | null;

  /** The open request of the same type and subject that this one duplicates; it follows that one instead of fanning out. */
  @Index("idx_requests_duplicate_of")
  @Column({ type: "varchar", length: 36, nullable: true })
  duplicateOf!: string | null;

  /** The subject is under 18: the request runs first and only legal obligations keep anything. */
  @Column({ type: "boolean", default: false })
  concernsMinor!: boolean;

  /** The caller's idempotency key (requestAccountDeletion): unique, so one key never makes a second request; byte-wise on MySQL too (migration IdempotencyKeyBytewise). */
  @Index("uq_requests_idempotency_key", { unique: true })
  @Column({ type: "varchar", length: 100, nullable: true })
  idempotencyKey!: string | null;

  /** Last change of this row. */
  @TimestampColumn()
  updatedAt!: Date;

  /** Bumped by every update; guards concurrent moves (compare-and-set on status + version). */
  @Column({ type: "int", default: 0 })
  version!: number;
}

/**
 * The subject's email of a request the service still works for: open, within its retry grace, or keeping
 * records under an open retention exception. Its record's personal data is removed only after all of
 * those (orchestrator/recordRetention.ts), so a null here is a broken rule, not a state to carry on in.
 */
export function keptSubjectEmail(row: Pick<RequestRow, "id" | "subjectEmail">): string {
  if (row.subjectEmail === null) throw new Error(`request ${row.id} no longer keeps its subject (removed after DSR_REQUEST_RECORD_RETENTION_DAYS), yet it was worked on`);
  return row.subjectEmail;
}
