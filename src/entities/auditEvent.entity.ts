import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/**
 * One link of a hash-chained audit stream (one stream per request, one for the installation). Rows are
 * only ever inserted; `hash` covers every other column and the previous event's hash, so an edit, a
 * deletion or a reordering breaks the chain, and signed checkpoints outside the database (see
 * AuditCheckpointRow) show a chain that was recomputed.
 */
@Entity({ name: "audit_events" })
export class AuditEventRow {
  /** The chain it belongs to: the request's id, or `installation`. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  stream!: string;

  /** Position in its stream, 1, 2, 3, ... with no gaps. */
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

  /** Hash of the event before this one in its stream (64 zeros for the first). */
  @Column({ type: "varchar", length: 64 })
  prevHash!: string;

  /** SHA-256 over the stream, seq, content and prevHash. */
  @Column({ type: "varchar", length: 64 })
  hash!: string;
}

/**
 * The end of one stream. Writers lock only their stream's row to append, so requests never wait on
 * each other; the checkpointer reads the rows marked unsealed and seals their heads.
 */
@Entity({ name: "audit_stream_heads" })
export class AuditStreamHeadRow {
  /** The stream: a request id or `installation`. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  stream!: string;

  /** seq of its last event. */
  @Column({ type: "int" })
  seq!: number;

  /** hash of its last event. */
  @Column({ type: "varchar", length: 64 })
  hash!: string;

  /** seq of the last event a stored checkpoint sealed (0: none yet). */
  @Column({ type: "int" })
  sealedSeq!: number;

  /** hash of that event (64 zeros: none yet). */
  @Column({ type: "varchar", length: 64 })
  sealedHash!: string;

  /** 1 while the stream has events no checkpoint sealed yet: what the checkpointer reads, by index. */
  @Index("idx_audit_stream_heads_unsealed")
  @Column({ type: "int" })
  unsealed!: number;
}

/**
 * A signed checkpoint written to storage (outside the database). The file in storage is the evidence;
 * this row only tells the checkpointer where the linked list ends and the verifier where it last
 * found everything intact.
 */
@Entity({ name: "audit_checkpoints" })
export class AuditCheckpointRow {
  /** 1, 2, 3, ...: the file's number in storage. */
  @PrimaryColumn({ type: "int" })
  number!: number;

  /** SHA-256 of the stored file, as the next checkpoint links to it. */
  @Column({ type: "varchar", length: 64 })
  sha256!: string;

  /** When it was sealed. */
  @TimestampColumn()
  sealedAt!: Date;

  /** Streams whose heads it seals. */
  @Column({ type: "int" })
  streams!: number;

  /** Events it seals. */
  @Column({ type: "int" })
  events!: number;

  /** When a verification last found the trail intact up to this checkpoint (null: not yet). */
  @TimestampColumn({ nullable: true })
  verifiedAt!: Date | null;

  /** Ed25519 signature (hex, audit key) over the mark above: a mark it does not verify was written by someone else. */
  @Column({ type: "varchar", length: 128, nullable: true })
  verifiedSignature!: string | null;
}
