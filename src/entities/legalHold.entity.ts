import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/** ACTIVE blocks erasure of the subject's held categories; RELEASED no longer does. */
export enum LegalHoldStatus {
  ACTIVE = "ACTIVE",
  RELEASED = "RELEASED",
}

/** A legal hold on a subject: erasure of the held categories waits until it is released. */
@Entity({ name: "legal_holds" })
@Index("idx_legal_holds_subject", ["subjectEmail", "status"])
export class LegalHoldRow {
  /** UUID. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /**
   * The subject's email in matching form (normalizeEmail: how requests find their holds). Personal data:
   * never logged, and removed (null) DSR_REQUEST_RECORD_RETENTION_DAYS after the hold's release.
   */
  @Column({ type: "varchar", length: 254, nullable: true })
  subjectEmail!: string | null;

  /** Held categories, comma-separated; empty: every category. */
  @Column({ type: "varchar", length: 400 })
  categories!: string;

  /** Why the data must be kept (free text, which may name the person): emptied with subjectEmail after the release, never in the audit trail. */
  @Column({ type: "varchar", length: 500 })
  reason!: string;

  /** The case, matter or authority request it belongs to: a reference, kept for good (the audit trail names it). */
  @Column({ type: "varchar", length: 100 })
  caseReference!: string;

  /** ACTIVE or RELEASED. */
  @Column({ type: "varchar", length: 10 })
  status!: LegalHoldStatus;

  /** Actor id of who placed it. */
  @Column({ type: "varchar", length: 100 })
  placedBy!: string;

  /** When it was placed. */
  @TimestampColumn()
  placedAt!: Date;

  /** Actor id of who released it. */
  @Column({ type: "varchar", length: 100, nullable: true })
  releasedBy!: string | null;

  /** When it was released. */
  @TimestampColumn({ nullable: true })
  releasedAt!: Date | null;

  /** Why it was released (free text): cleared with subjectEmail, never in the audit trail. */
  @Column({ type: "varchar", length: 500, nullable: true })
  releaseReason!: string | null;

  /** When the purge removed the subject's email (DSR_REQUEST_RECORD_RETENTION_DAYS after the release); null while it is kept. */
  @TimestampColumn({ nullable: true })
  subjectRemovedAt!: Date | null;
}

/** The categories a hold covers; an empty list means every category. */
export function heldCategories(hold: Pick<LegalHoldRow, "categories">): string[] {
  return hold.categories ? hold.categories.split(",") : [];
}
