import { Column, ColumnOptions, PrimaryColumn } from "typeorm";

/** A UTC timestamp with millisecond precision on both MySQL (datetime(3)) and SQLite (ISO text). */
export function TimestampColumn(options: Omit<ColumnOptions, "type" | "precision"> = {}): PropertyDecorator {
  return Column({ type: "datetime", precision: 3, ...options });
}

/**
 * The columns of a row that keeps record ids sealed (sealedIds.ts): a request x connector's batch at a
 * place (seq), under a data key of its own. Kept ids and surveyed ids extend it.
 */
export abstract class SealedIdsColumns {
  /** Row id. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The deletion request. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** Connector name. */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** Position of the batch among the request x connector's, from 0: its readers page through them in this order. */
  @Column({ type: "int" })
  seq!: number;

  /** Ids in the batch. */
  @Column({ type: "int" })
  records!: number;

  /** How the batch's data key is wrapped: 1 = master key, 2 = AWS KMS (KeyWrapping). */
  @Column({ type: "int" })
  wrapping!: number;

  /** Names the wrapping key without revealing it (`local:<fingerprint>` or `kms:<key id>`). */
  @Column({ type: "varchar", length: 255 })
  keyRef!: string;

  /** The batch's wrapped data key. */
  @Column({ type: "blob" })
  wrappedKey!: Buffer;

  /** IV (12 bytes) || AES-256-GCM ciphertext of the deflated JSON array of ids || tag (16). Personal data, encrypted. */
  @Column({ type: "blob" })
  payload!: Buffer;

  /** When it was written. */
  @TimestampColumn()
  createdAt!: Date;
}
