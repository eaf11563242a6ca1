import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/**
 * A batch of the ids of records a deletion kept that carry no date (an ERASE's verification counted
 * them kept): its purge erases exactly these by id (Connector.eraseHeldBack), since nothing dates what
 * the person recorded since. An id may be personal data (an email as a primary key), so the ids are
 * encrypted as staged records are: a JSON array, deflated, AES-256-GCM under a fresh data key wrapped
 * by the master key or AWS KMS (the request id as context), bound to the batch's place. The rows of a
 * request x connector x category go once none of its retention exceptions is open (the purge erased
 * them, or a later deletion did): their purpose has ended.
 */
@Entity({ name: "kept_undated_ids" })
@Index("uq_kept_undated_ids_position", ["requestId", "connector", "seq"], { unique: true })
export class KeptUndatedRow {
  /** Row id. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The deletion request. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** Connector name. */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** The ERASE task that counted the records kept. */
  @Column({ type: "varchar", length: 36 })
  taskId!: string;

  /** Data category of every record in the batch. */
  @Column({ type: "varchar", length: 40 })
  category!: string;

  /** Record type of every record in the batch. */
  @Column({ type: "varchar", length: 64 })
  recordType!: string;

  /** Position of the batch among the request x connector's, from 0: the purge reads them in this order, page by page. */
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
