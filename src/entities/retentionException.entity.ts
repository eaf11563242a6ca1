import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/** OPEN while the records are kept; CLOSED once they were purged, or a later deletion of the person erased them. */
export enum RetentionExceptionStatus {
  OPEN = "OPEN",
  CLOSED = "CLOSED",
}

/** A record set a deletion kept: which, under which basis, until when. Counts only, never records. */
@Entity({ name: "retention_exceptions" })
@Index("idx_retention_exceptions_request", ["requestId"])
@Index("idx_retention_exceptions_due", ["status", "retainUntil"])
export class RetentionExceptionRow {
  /** UUID. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The deletion request that kept the set. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** The ERASE task whose connector reported it. */
  @Column({ type: "varchar", length: 36 })
  taskId!: string;

  /** Connector name. */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** Data category of the set. */
  @Column({ type: "varchar", length: 40 })
  category!: string;

  /** Record type within the system, e.g. `invoice`. */
  @Column({ type: "varchar", length: 64 })
  recordType!: string;

  /** How many records are kept. */
  @Column({ type: "int" })
  recordCount!: number;

  /** The legal basis of the rule (or hold) that keeps them. */
  @Column({ type: "varchar", length: 200 })
  legalBasis!: string;

  /** The legal hold that keeps them, when a hold (not a rule) does. */
  @Column({ type: "varchar", length: 36, nullable: true })
  holdId!: string | null;

  /** Fields blanked on the kept records, comma-separated (names only). */
  @Column({ type: "varchar", length: 1000, nullable: true })
  redactedFields!: string | null;

  /** When the set may be purged; null under a hold (until it is released). */
  @TimestampColumn({ nullable: true })
  retainUntil!: Date | null;

  /** OPEN or CLOSED. */
  @Column({ type: "varchar", length: 10 })
  status!: RetentionExceptionStatus;

  /** When it was recorded. */
  @TimestampColumn()
  createdAt!: Date;

  /** When it was closed by a purge. */
  @TimestampColumn({ nullable: true })
  closedAt!: Date | null;
}
