import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/**
 * One row per subject whose legal hold was placed through the fence: a hold placement marks itself
 * pending here before it looks for units of erasure under way, and while it is pending no new unit of
 * its categories starts (the placement cannot be starved by back-to-back units). See holdFence.ts.
 * The row is also the subject's lock (lockSubject): a new request's duplicate check takes turns on it.
 * A row no placement marks is removed by the purge (purgeIdleFences) and made again when needed.
 */
@Entity({ name: "erasure_fences" })
export class ErasureFenceRow {
  /** SHA-256 (hex) of the subject's email in matching form (normalizeEmail): the fence needs a key, not the address. */
  @PrimaryColumn({ type: "varchar", length: 64 })
  subjectKey!: string;

  /** Categories of a hold placement waiting for units under way, comma-separated ("" = every category); null: none waits. */
  @Column({ type: "varchar", length: 400, nullable: true })
  placingCategories!: string | null;

  /** Until when that placement waits (it clears the mark itself; this bounds a placer that died). */
  @TimestampColumn({ nullable: true })
  placingUntil!: Date | null;

  /** Last change. */
  @TimestampColumn()
  updatedAt!: Date;
}

/**
 * A unit of erasure under way (a chunk of rows, one remote call, or a whole erase call of a connector
 * that does not split its work): started under the subject's fence after checking the holds, removed
 * when the unit ends. A hold placement on its categories waits for it; `expiresAt` (extended by the
 * task's heartbeats) lets a unit whose process died stop blocking holds. A unit with a note that did
 * not end well stays (expired) until its task succeeds, so the next attempt can finish it.
 */
@Entity({ name: "erasure_units" })
@Index("idx_erasure_units_subject", ["subjectKey"])
@Index("idx_erasure_units_task", ["taskId"])
export class ErasureUnitRow {
  /** UUID. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The subject's fence key. */
  @Column({ type: "varchar", length: 64 })
  subjectKey!: string;

  /** The ERASE or PURGE task doing the unit. */
  @Column({ type: "varchar", length: 36 })
  taskId!: string;

  /** Its request (named when a hold placement must wait or refuse). */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** Its connector (named likewise). */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** Categories the unit may touch, comma-separated. */
  @Column({ type: "varchar", length: 400 })
  categories!: string;

  /**
   * What the connector must finish if the unit never ends (a two-step remote delete): kept, no longer
   * blocking holds, when the unit fails, and handed to the task's next attempt; null: nothing to finish.
   */
  @Column({ type: "varchar", length: 500, nullable: true })
  note!: string | null;

  /** When it started. */
  @TimestampColumn()
  startedAt!: Date;

  /** After this the unit no longer blocks a hold (its process stopped heartbeating). */
  @TimestampColumn()
  expiresAt!: Date;
}

/** What a task's units of erasure erased so far, per category (see migration ErasureProgress). */
@Entity({ name: "erasure_progress" })
export class ErasureProgressRow {
  /** The ERASE or PURGE task. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  taskId!: string;

  /** The category the units erased. */
  @PrimaryColumn({ type: "varchar", length: 40 })
  category!: string;

  /** Records erased by the task's units that ended, over all its attempts. */
  @Column({ type: "int", default: 0 })
  erased!: number;
}
