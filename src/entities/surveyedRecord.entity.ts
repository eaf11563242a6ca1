import { Column, Entity, Index, PrimaryColumn } from "typeorm";

/**
 * A record a deletion's survey found in a connector that can look records up by id: what the
 * verification pass after the erasure asks for again, so records cut off from the subject by the
 * erasure itself (a deleted customer's invoices) are still seen. Ids only, never payloads; removed when
 * the connector's ERASE task completes.
 */
@Entity({ name: "surveyed_records" })
@Index("idx_surveyed_records_request", ["requestId", "connector"])
export class SurveyedRecordRow {
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

  /** Record type within the system. */
  @Column({ type: "varchar", length: 64 })
  recordType!: string;

  /** Record id in its system. */
  @Column({ type: "varchar", length: 255 })
  recordId!: string;

  /** ERASE or KEEP: what the counting rule planned for it. */
  @Column({ type: "varchar", length: 10 })
  disposition!: string;
}
