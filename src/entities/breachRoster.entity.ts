import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { TimestampColumn } from "./columns";

/** QUEUED until a worker claims it, RUNNING while one lists, then COMPLETED or FAILED. */
export enum BreachRosterStatus {
  QUEUED = "QUEUED",
  RUNNING = "RUNNING",
  COMPLETED = "COMPLETED",
  FAILED = "FAILED",
}

/** How one breached system's listing went (no personal data: counts and words). */
export interface RosterSystemResult {
  connector: string;
  /** BREACHED: named in the roster's request; CONTACTS: an identity source consulted only for contact addresses. */
  role: "BREACHED" | "CONTACTS";
  /**
   * LISTED: every person it holds is in the roster; PARTIAL: those it listed are, and `problem` says whom
   * it could not reach (ctx.notListed); NOT_LISTABLE: it cannot list (no listSubjects); FAILED: its listing failed.
   */
  outcome: "LISTED" | "PARTIAL" | "NOT_LISTABLE" | "FAILED";
  /** BREACHED: people it holds data about; CONTACTS: roster people it knows. Null when not listed (NOT_LISTABLE, FAILED). */
  people: number | null;
  /** Records it holds about them, when it counted every one of them. */
  records: number | null;
  /** Why it was not listed, or whom a PARTIAL listing did not reach, in words for people. */
  problem: string | null;
}

/** The breached systems that were not LISTED: a roster is complete when there are none. */
export const notListed = (systems: readonly RosterSystemResult[]): string[] => systems.filter((s) => s.role === "BREACHED" && s.outcome !== "LISTED").map((s) => s.connector);

/**
 * A breach roster: everyone the named systems hold personal data about, with the contact address the
 * service can find for each (POLICY: a breach is notified to the affected people within 72 hours). The
 * list itself is personal data: it is kept only as an encrypted file in export storage (objectKey), and
 * removed when expiresAt passes. The row holds counts and words only.
 */
@Entity({ name: "breach_rosters" })
@Index("idx_breach_rosters_status", ["status", "leaseExpiresAt"])
export class BreachRosterRow {
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The connectors whose data the breach touched, as asked (JSON array of names). */
  @Column({ type: "simple-json" })
  connectors!: string[];

  /** Why the roster was drawn up (the incident), in the officer's words. */
  @Column({ type: "varchar", length: 500 })
  reason!: string;

  /** The incident's reference in the officer's case system. */
  @Column({ type: "varchar", length: 100, nullable: true })
  caseReference!: string | null;

  @Column({ type: "varchar", length: 12 })
  status!: BreachRosterStatus;

  /** Who asked for it (actor id and role). */
  @Column({ type: "varchar", length: 100 })
  requestedBy!: string;

  @Column({ type: "varchar", length: 20 })
  requestedByRole!: string;

  @TimestampColumn()
  createdAt!: Date;

  @TimestampColumn({ nullable: true })
  completedAt!: Date | null;

  /** Listing attempts begun; each claim's number is its fencing token. */
  @Column({ type: "int", default: 0 })
  attempts!: number;

  /** The worker listing it; only that attempt may record the outcome. */
  @Column({ type: "varchar", length: 100, nullable: true })
  claimedBy!: string | null;

  /** The claim's expiry, on the database clock; extended while the listing goes on. */
  @TimestampColumn({ nullable: true })
  leaseExpiresAt!: Date | null;

  /** Per breached system, how its listing went. */
  @Column({ type: "simple-json", nullable: true })
  systems!: RosterSystemResult[] | null;

  /** People in the roster: everyone any breached system holds, each once. */
  @Column({ type: "int", nullable: true })
  people!: number | null;

  /** Of them, people for whom no system holds an email address: they must be reached another way. */
  @Column({ type: "int", nullable: true })
  withoutEmail!: number | null;

  /** Where the encrypted roster file is stored (export storage), once written. */
  @Column({ type: "varchar", length: 200, nullable: true })
  objectKey!: string | null;

  /** When the file is removed (DSR_ROSTER_RETENTION_DAYS after completion). */
  @TimestampColumn({ nullable: true })
  expiresAt!: Date | null;

  /** Why the last attempt failed, in words for people. */
  @Column({ type: "varchar", length: 500, nullable: true })
  lastError!: string | null;
}
