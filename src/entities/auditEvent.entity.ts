import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/**
 * One link of the hash-chained audit trail. Rows are only ever inserted; `hash` covers every other
 * column and the previous event's hash, so an edit, a deletion or a reordering breaks the chain.
 */
@Entity({ name: "audit_events" })
export class AuditEventRow {
  /** Position in the chain, 1, 2, 3, ... with no gaps. */
  @PrimaryColumn({ type: "int" })
  seq!: number;

  /** The request the event is about; null for installation-wide events (tokens, holds). */
  @Index("idx_audit_events_request")
  @Column({ type: "varchar", length: 36, nullable: true })
  requestId!: string | null;

  /** Who acted: `token:<id>`, `cli`, or `system`. */
  @Column({ type: "varchar", length: 64 })
  actorId!: string;

  /** The actor's role at the time (or SYSTEM). */
  @Column({ type: "varchar", length: 32 })
  actorRole!: string;

  /** What happened, as `noun.verb` (request.submitted, request.approved, token.created, ...). */
  @Column({ type: "varchar", length: 64 })
  action!: string;

  /** Canonical JSON of the event's details: statuses, counts, reasons; never personal data. */
  @Column({ type: "text" })
  details!: string;

  /** When it happened. */
  @TimestampColumn()
  occurredAt!: Date;

  /** Hash of the event before this one (64 zeros for the first). */
  @Column({ type: "varchar", length: 64 })
  prevHash!: string;

  /** SHA-256 over prevHash and this event's content. */
  @Column({ type: "varchar", length: 64 })
  hash!: string;
}

/**
 * The end of the chain, one row (id 1). Writers lock it to append, which serializes appends and lets
 * the verifier notice a deleted tail.
 */
@Entity({ name: "audit_chain_head" })
export class AuditChainHeadRow {
  /** Always 1. */
  @PrimaryColumn({ type: "int" })
  id!: number;

  /** seq of the last event (0 when empty). */
  @Column({ type: "int" })
  seq!: number;

  /** hash of the last event (64 zeros when empty). */
  @Column({ type: "varchar", length: 64 })
  hash!: string;
}
