import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/** What keeps a planned set: a retention rule or a legal hold. */
export enum KeptBy {
  RULE = "RULE",
  HOLD = "HOLD",
}

/**
 * One line of a deletion's plan: in one connector and category, how many records were found, how many
 * erasure may take and how many are kept, by what, until when. Computed before any erasure; counts only.
 */
@Entity({ name: "deletion_plan_items" })
@Index("uq_deletion_plan_items", ["requestId", "connector", "category"], { unique: true })
export class DeletionPlanItemRow {
  /** UUID. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The deletion request. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** Connector name. */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** Data category. */
  @Column({ type: "varchar", length: 40 })
  category!: string;

  /** Records the survey found. */
  @Column({ type: "int" })
  found!: number;

  /** Records erasure may take. */
  @Column({ type: "int" })
  toErase!: number;

  /** Records kept. */
  @Column({ type: "int" })
  toKeep!: number;

  /** Records erasure will leave holding personal data, as the connector foresees it (not in toErase). */
  @Column({ type: "int", default: 0 })
  toLeaveResidual!: number;

  /** Why they stay, in the connector's words (no personal data). */
  @Column({ type: "varchar", length: 500, nullable: true })
  residualReason!: string | null;

  /** RULE or HOLD when something is kept. */
  @Column({ type: "varchar", length: 10, nullable: true })
  keptBy!: KeptBy | null;

  /** The legal basis of the rule or hold that keeps them. */
  @Column({ type: "varchar", length: 200, nullable: true })
  legalBasis!: string | null;

  /** The hold that keeps them. */
  @Column({ type: "varchar", length: 36, nullable: true })
  holdId!: string | null;

  /** Records dated at or after this instant are kept by the rule. */
  @TimestampColumn({ nullable: true })
  keepSince!: Date | null;

  /** When the kept records may be purged (null under a hold: until it is released). */
  @TimestampColumn({ nullable: true })
  retainUntil!: Date | null;

  /** When the plan was computed. */
  @TimestampColumn()
  computedAt!: Date;
}
