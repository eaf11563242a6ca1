import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/**
 * The stored, encrypted export of an ACCESS or PORTABILITY request: one per request (a re-run replaces
 * it). The archive itself lives in export storage; this row says where, how big, and until when.
 */
@Entity({ name: "exports" })
@Index("uq_exports_request", ["requestId"], { unique: true })
@Index("idx_exports_expires", ["expiresAt"])
export class ExportRow {
  /** UUID; also names the stored object. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The request it answers. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** The EXPORT task that wrote it. */
  @Column({ type: "varchar", length: 36 })
  taskId!: string;

  /** Where the archive is kept: local | s3. */
  @Column({ type: "varchar", length: 16 })
  storage!: "local" | "s3";

  /** Object key (relative path in the local folder, key in the bucket). */
  @Column({ type: "varchar", length: 255 })
  objectKey!: string;

  /** Who wrapped the data key: `local:<master key fingerprint>` or `kms:<key id>`. Never the key. */
  @Column({ type: "varchar", length: 255 })
  keyRef!: string;

  /** Size of the encrypted file, in bytes. */
  @Column({ type: "bigint", transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) } })
  encryptedBytes!: number;

  /** Records in the archive. */
  @Column({ type: "int" })
  records!: number;

  /** Files in the archive (data files, README, index, manifest). */
  @Column({ type: "int" })
  files!: number;

  /** sha256 (hex) of the encrypted file, so a copy can be checked without the key. */
  @Column({ type: "varchar", length: 64 })
  sha256!: string;

  /** When it was written. */
  @TimestampColumn()
  createdAt!: Date;

  /** When the retention purge deletes it. */
  @TimestampColumn()
  expiresAt!: Date;
}
