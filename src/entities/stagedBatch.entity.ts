import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/**
 * A batch of records one COLLECT attempt found, staged until the export merges them: the records as
 * the export's JSON Lines, deflated, then encrypted with AES-256-GCM under the request's staging key
 * (StagedKeyRow). Only counts and positions are in the clear. Batches of an attempt that did not
 * complete are removed when a later attempt of the same task completes; all of a request's batches go
 * when its export is stored, or a grace period after the request ends in any other way.
 */
@Entity({ name: "staged_batches" })
@Index("uq_staged_batches_position", ["taskId", "attempt", "category", "seq"], { unique: true })
@Index("idx_staged_batches_request", ["requestId"])
export class StagedBatchRow {
  /** Row id. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The request. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** The COLLECT task that found the records. */
  @Column({ type: "varchar", length: 36 })
  taskId!: string;

  /** Which attempt of the task wrote it (the export reads the completing attempt's only). */
  @Column({ type: "int" })
  attempt!: number;

  /** Connector name. */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** Data category of every record in the batch. */
  @Column({ type: "varchar", length: 40 })
  category!: string;

  /** Position of the batch among the attempt's batches of its category, from 0: the export's order. */
  @Column({ type: "int" })
  seq!: number;

  /** Records in the batch (the export's counts are sums of these). */
  @Column({ type: "int" })
  records!: number;

  /** IV (12 bytes) || AES-256-GCM ciphertext of the deflated JSON Lines || tag (16). Personal data, encrypted. */
  @Column({ type: "blob" })
  payload!: Buffer;

  /** When it was written. */
  @TimestampColumn()
  createdAt!: Date;
}

/**
 * The data key a request's staged batches are encrypted with: fresh per request, stored only wrapped,
 * exactly as an export's key (by DSR_EXPORT_MASTER_KEY, or by AWS KMS with the request id as context).
 * Deleting it first makes whatever batches a crash left behind unreadable.
 */
@Entity({ name: "staged_keys" })
export class StagedKeyRow {
  /** The request. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  requestId!: string;

  /** How the key is wrapped: 1 = master key, 2 = AWS KMS (KeyWrapping). */
  @Column({ type: "int" })
  wrapping!: number;

  /** Names the wrapping key without revealing it (`local:<fingerprint>` or `kms:<key id>`). */
  @Column({ type: "varchar", length: 255 })
  keyRef!: string;

  /** The wrapped data key. */
  @Column({ type: "blob" })
  wrappedKey!: Buffer;

  /** When the first batch of the request was staged. */
  @TimestampColumn()
  createdAt!: Date;
}
