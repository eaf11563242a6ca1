import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/** PENDING until the receiver answered 2xx, then DELIVERED. A callback is never dropped. */
export enum StatusCallbackStatus {
  PENDING = "PENDING",
  DELIVERED = "DELIVERED",
}

/**
 * The outbox of status callbacks: one row per status change of a request that asked for callbacks (the
 * settings page's account deletions), written in the transaction of that change, delivered afterwards.
 */
@Entity({ name: "status_callbacks" })
@Index("uq_status_callbacks_request_version", ["requestId", "requestVersion"], { unique: true })
@Index("idx_status_callbacks_due", ["status", "nextAttemptAt"])
export class StatusCallbackRow {
  /** UUID; also the event id receivers deduplicate on (header Dsr-Event-Id). */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The request whose status changed. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** The request's version after the change: orders one request's callbacks, which are delivered in that order. */
  @Column({ type: "int" })
  requestVersion!: number;

  /** The exact JSON body that is signed and POSTed (no personal data). */
  @Column({ type: "text" })
  payload!: string;

  /** PENDING or DELIVERED. */
  @Column({ type: "varchar", length: 12 })
  status!: StatusCallbackStatus;

  /** Delivery attempts made so far. */
  @Column({ type: "int", default: 0 })
  attempts!: number;

  /** Not tried before this time; while a dispatcher holds the row it is also that claim's expiry. */
  @TimestampColumn()
  nextAttemptAt!: Date;

  /** The dispatcher holding the row; only it may record the outcome. */
  @Column({ type: "varchar", length: 100, nullable: true })
  claimedBy!: string | null;

  /** Why the last attempt failed (HTTP status or network error; never the body). */
  @Column({ type: "varchar", length: 500, nullable: true })
  lastError!: string | null;

  /** When the status changed. */
  @TimestampColumn()
  createdAt!: Date;

  /** When the receiver acknowledged it. */
  @TimestampColumn({ nullable: true })
  deliveredAt!: Date | null;
}
