import { Column, Entity, Index, PrimaryColumn } from "typeorm";
import { ErasureConfirmation, TaskStatus, TaskStep } from "../domain/tasks";
import type { LeftOutRecords, NotSearchedRecords } from "../connectors/sdk";
import { TimestampColumn } from "./columns";
import type { KeptCount, OutcomeLine } from "../domain/counting";

/** What a finished task produced, in counts (never records or identities). */
export interface TaskResult {
  records?: number;
  erased?: number;
  identitiesFound?: string[];
  changed?: string[];
  notHeld?: string[];
  /** A RECTIFY: the fields asked for that it left as they were because a legal hold keeps the system's data (never written while held). */
  keptByHold?: string[];
  /** With keptByHold: the case references of the holds, and the connector's categories they keep. */
  holdCases?: string[];
  heldCategories?: string[];
  /** Records an ERASE kept under retention or a hold (their sets are retention exceptions). */
  kept?: number;
  /** Records the verification pass found after an ERASE, all of them allowed to stay. */
  remaining?: number;
  /** Of `erased`, records redacted in place. */
  redacted?: number;
  /** Records an ERASE left holding personal data (never counted as erased); sets in residualSets. */
  residual?: number;
  /** The residual sets: which records, the fields that remain, why. */
  residualSets?: StoredResidual[];
  /**
   * A PURGE: the categories its last run erased. Its residual sets name all that is residual in them
   * now (each pass names what it meets), so they replace the ERASE's sets of those categories.
   */
  purgedCategories?: string[];
  /**
   * A PURGE: residue the deletion left because kept records held it back (ids in StoredResidual.ids),
   * erased by id once they were purged, with when. Carried over when the purge is armed again.
   */
  residueErased?: ErasedResidue[];
  /**
   * An ERASE: how many records it kept that carry no date (or that its verification found only by id),
   * their ids stored encrypted in kept_undated_ids (absent on tasks that ended before it was recorded):
   * its purge erases them by id (Connector.eraseHeldBack), as nothing dates what the person recorded
   * since. A count, never the ids.
   */
  keptUndatedIds?: number;
  /**
   * An ERASE that ended while the ids were capped (before kept_undated_ids): how many more it kept
   * without a date than it stored ids of, per set. Its purge leaves them (it cannot tell them from
   * what the person made since), named residual and in the trail. No ERASE writes it any more.
   */
  keptUndatedBeyond?: KeptCount[];
  /** An ERASE's outcome per category beside its plan line, with every difference named. */
  lines?: OutcomeLine[];
  /** While REMOTE_PROCESSING: what the erasure did so far, added to when the remote work ends. */
  partial?: PartialErasure;
  /** Sets a COLLECT left out as other people's data (counts and reasons, never the records). */
  leftOut?: LeftOutRecords[];
  /** Kinds of record a COLLECT could not search for (reasons, never records). */
  notSearched?: NotSearchedRecords[];
  /** An ERASE's closing pass (armClosingPasses) ended: its counts include both passes. */
  closingPass?: boolean;
  /** An ERASE: how its counts are known (absent on tasks that ended before it was recorded). */
  confirmation?: ErasureConfirmation;
  /** ATTESTED: the actor who confirmed the count (`token:<id>`, `cli`). */
  attestedBy?: string;
  /** An ERASE (NOT_REACHED): what earlier deletions of the person keep in the system under identities it could not look with. */
  keptByEarlier?: KeptByEarlier;
  /**
   * An ERASE that FAILED after its connector may have written (erasure.ts, countAfterFailure): per
   * category, the records its units confirmed erasing (every attempt's, `erasedIn`), and the records of
   * the plan gone beyond those when the connector's own count ran after the failure (`goneIn`: they may
   * have been erased by the failed attempt, whose answer was an error), with when it counted. A retry
   * counts what it no longer finds of them erased by that attempt (ERASED_BY_FAILED_ATTEMPT).
   */
  failedErasure?: FailedErasure;
}

/** What an ERASE that failed had done, as counted after its failure (TaskResult.failedErasure). */
export interface FailedErasure {
  erasedIn: Record<string, number>;
  goneIn: Record<string, number>;
  countedAt: string;
}

/**
 * Records earlier deletions of the person keep in a system (their open retention exceptions) that a later
 * erasure could not look for: it lacked an identity they were kept under (the payment customer id the
 * account row they erased had provided). Its read-back says nothing of them; they stand.
 */
export interface KeptByEarlier {
  /** Records the system held, when counted, under the earlier deletions' identities and not under this erasure's, at most what their exceptions keep. */
  records: number;
  /** ISO 8601: when they were counted (the exceptions named may close, the records go, after it). Absent on rows written before it was recorded. */
  countedAt?: string;
  /** The earlier requests keeping them. */
  requests: string[];
  /** Their open retention exceptions. */
  exceptions: string[];
  /** The identity kinds this erasure lacked (never the values). */
  identityKinds: string[];
}

/** A residual set as stored (ErasureOutcome.residual). */
export interface StoredResidual {
  category: string;
  type: string;
  count: number;
  fields: string[];
  reason: string;
  /** Records held back by kept records only: their ids (ResidualRecords.heldBackIds), for the purge that erases them. */
  ids?: string[];
}

/** Residue erased by a purge once what held it back was gone: which, why it had stayed, when. */
export interface ErasedResidue {
  category: string;
  type: string;
  count: number;
  /** Why it had been left residual. */
  reason: string;
  /** ISO 8601. */
  erasedAt: string;
  /** The records' ids (never shown): a later run of the purge does not erase or count them again. */
  ids?: string[];
}

/** What an erasure did before its remote work ends (dates as ISO text: the row is JSON). */
export interface PartialErasure {
  erased: number;
  redacted: number;
  erasedIn: Record<string, number>;
  /** Of redacted, per category, as the connector said it (absent on rows older than it). */
  redactedIn?: Record<string, number>;
  kept: { category: string; type: string; count: number; newestRecordedAt: string; redactedFields?: string[] }[];
  residual: StoredResidual[];
  /** The erasure is an ERASE's closing pass (what the first pass erased is counted in). */
  closingPass?: boolean;
  /** A closing pass: the residue its first pass named (see closingResidual). */
  firstResidual?: StoredResidual[];
  /**
   * An erase started anew (retryTask) after a run of it failed: the residue that run named. It is still
   * there, and the new run may no longer meet it (the Zendesk user it hung off deleted for good), so it
   * is named again, each set once beside what the new run names (closingResidual).
   */
  priorResidual?: StoredResidual[];
  /**
   * Of the counts above, what remote work that ended (polls) erased and redacted, per category: the
   * records a new erase of the task (retryTask after it failed) no longer finds to count. Erased
   * records a poll's units counted are left out: erasure_progress holds them, and the new erase carries them from there.
   */
  settled?: SettledErasure;
  /**
   * What the erase call that started the remote work was told: the instant its retention cutoffs were
   * computed at (ISO) and the holds that withheld categories from it. Its polls verify against the same
   * (a period that ended, or a hold released, while the work ran is the closing pass's or the purge's to
   * act on, never a failed erasure).
   */
  instructed?: { at: string; holds: { id: string; categories: string[]; caseReference: string }[] };
  /**
   * What the task's units of erasure had counted (erasure_progress, per category) when the task was
   * parked for its remote work with this result: a poll carries what units counted beyond it (a poll
   * attempt that failed after some of its units ended), which neither this result nor the poll's
   * retry, no longer finding those records, counts. Absent on rows parked before it was kept.
   */
  unitsCounted?: Record<string, number>;
}

/** What an erasure's remote work erased (and, of it, redacted) once it ended, per category (redacted: in all, and per category where the connector said it). */
export interface SettledErasure {
  erasedIn: Record<string, number>;
  redacted: number;
  redactedIn: Record<string, number>;
}

/**
 * A durable unit of work: one connector x one step of one request. Claimed under a lease; completed or
 * failed only by the worker holding the lease (WHERE lockedBy = me).
 */
@Entity({ name: "tasks" })
@Index("uq_tasks_request_connector_step", ["requestId", "connector", "step"], { unique: true })
// The claim's index is (status, waitingFor, priority DESC, runAfter): see migration ClaimOrder1764900000000.
@Index("idx_tasks_claim_order", ["status", "waitingFor", "priority", "runAfter"])
@Index("idx_tasks_lease", ["status", "leaseExpiresAt"])
export class TaskRow {
  /** UUID. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  id!: string;

  /** The request it works for. */
  @Column({ type: "varchar", length: 36 })
  requestId!: string;

  /** Connector name (its spec.name). */
  @Column({ type: "varchar", length: 40 })
  connector!: string;

  /** RESOLVE | COLLECT | ERASE | RECTIFY | EXPORT | PURGE. */
  @Column({ type: "varchar", length: 16 })
  step!: TaskStep;

  /** Where it is; see TaskStatus. */
  @Column({ type: "varchar", length: 24 })
  status!: TaskStatus;

  /** Claimed before tasks of lower priority (requests about minors run first). */
  @Column({ type: "int", default: 0 })
  priority!: number;

  /** Tasks it waits for that have not finished; claimable only at 0. */
  @Column({ type: "int", default: 0 })
  waitingFor!: number;

  /** Attempts started so far (a crashed attempt counts). */
  @Column({ type: "int", default: 0 })
  attempts!: number;

  /** Attempts allowed before the task is FAILED. */
  @Column({ type: "int" })
  maxAttempts!: number;

  /** Not claimed before this instant (backoff, Retry-After, remote polling). */
  @TimestampColumn()
  runAfter!: Date;

  /** Worker holding the lease while RUNNING. */
  @Column({ type: "varchar", length: 100, nullable: true })
  lockedBy!: string | null;

  /**
   * Fencing token: bumped by every claim (a poll of remote work and a handed-back attempt included, which
   * `attempts` does not count). Every write of an attempt names it, so an attempt whose lease was taken
   * back and claimed again, by any worker in any process, writes nothing.
   */
  @Column({ type: "int", default: 0 })
  leaseToken!: number;

  /** When the lease ends unless extended by a heartbeat: the database's clock, never a host's. */
  @TimestampColumn({ nullable: true })
  leaseExpiresAt!: Date | null;

  /** Last failure in user words (ConnectorError.userMessage); never internals or personal data. */
  @Column({ type: "varchar", length: 1000, nullable: true })
  lastError!: string | null;

  /** Why the task was skipped, what a person must do while AWAITING_INPUT, or what remote work is still doing while REMOTE_PROCESSING. */
  @Column({ type: "varchar", length: 1000, nullable: true })
  note!: string | null;

  /** Reference of remote work being polled (REMOTE_PROCESSING), e.g. a processor's redaction jobs and the objects waiting for one; unbounded (MEDIUMTEXT on MySQL). */
  @Column({ type: "text", nullable: true })
  remoteReference!: string | null;

  /** Counts of what the task did. */
  @Column({ type: "simple-json", nullable: true })
  result!: TaskResult | null;

  /** Stable key for external side effects: the same for every attempt of this task. */
  @Column({ type: "varchar", length: 100 })
  idempotencyKey!: string;

  /** When it was planned. */
  @TimestampColumn()
  createdAt!: Date;

  /** When its first attempt started. */
  @TimestampColumn({ nullable: true })
  startedAt!: Date | null;

  /** When it reached SUCCEEDED, FAILED or SKIPPED. */
  @TimestampColumn({ nullable: true })
  finishedAt!: Date | null;

  /** Last change of the row. */
  @TimestampColumn()
  updatedAt!: Date;
}

/** `taskId` may run only after `dependsOnTaskId` has finished (identity order, reverse erasure order). */
@Entity({ name: "task_dependencies" })
export class TaskDependencyRow {
  /** The waiting task. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  taskId!: string;

  /** The task it waits for. */
  @Index("idx_task_dependencies_on")
  @PrimaryColumn({ type: "varchar", length: 36 })
  dependsOnTaskId!: string;
}

/** An identity of a request's subject: given with the request or discovered by a RESOLVE task. */
@Entity({ name: "request_identities" })
export class RequestIdentityRow {
  /** The request. */
  @PrimaryColumn({ type: "varchar", length: 36 })
  requestId!: string;

  /** Identity kind (email, userId, paymentCustomerId, ...) or `external:<system>` for an external id. */
  @PrimaryColumn({ type: "varchar", length: 48 })
  kind!: string;

  /** The value, in matching form (domain/identities.ts). Personal data: never logged, never in the audit trail. */
  @Column({ type: "varchar", length: 320 })
  value!: string;

  /** `request` or the connector that discovered it. */
  @Column({ type: "varchar", length: 40 })
  source!: string;
}
