import { Column, Entity, Index } from "typeorm";
import { SealedIdsColumns } from "./columns";

/**
 * A batch of the ids of records a deletion kept that carry no date (an ERASE's verification counted
 * them kept), and of kept records that verification found only by id (Connector.lookup: the person's
 * identities no longer reach them): its purge erases exactly these by id (Connector.eraseHeldBack), since
 * nothing dates what the person recorded since, nor finds the others by the person. An id may be personal data (an email as a primary key), so the ids are
 * encrypted as staged records are: a JSON array, deflated, AES-256-GCM under a fresh data key wrapped
 * by the master key or AWS KMS (the request id as context), bound to the batch's place. The rows of a
 * request x connector x category go once none of its retention exceptions is open (the purge erased
 * them, or a later deletion did): their purpose has ended.
 */
@Entity({ name: "kept_undated_ids" })
@Index("uq_kept_undated_ids_position", ["requestId", "connector", "seq"], { unique: true })
export class KeptUndatedRow extends SealedIdsColumns {
  /** The ERASE task that counted the records kept. */
  @Column({ type: "varchar", length: 36 })
  taskId!: string;

  /** Data category of every record in the batch. */
  @Column({ type: "varchar", length: 40 })
  category!: string;

  /** Record type of every record in the batch. */
  @Column({ type: "varchar", length: 64 })
  recordType!: string;
}
