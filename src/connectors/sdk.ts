/**
 * The connector SDK: what a platform team implements to connect a system to the DSR service.
 * A connector is data (its spec) plus a handful of calls. See docs/connectors.md for the guide and
 * src/connectors/testing/conformance.ts for the suite every connector must pass.
 */

import { REQUEST_IDENTITY_KINDS } from "../domain/identities";

/**
 * For connectors: an email in matching form (normalizeEmail), and the spellings of it a system may
 * have stored (emailSpellings: with an internationalised domain, its Unicode and its ASCII form; with
 * accented letters before the @, those composed and decomposed). Look
 * a person up by each spelling and confirm every hit with normalizeEmail.
 */
export { emailSpellings, normalizeEmail, phoneSpellings } from "../domain/identities";

/**
 * Kinds of identity: a closed set made of the kinds a request carries (`email`, always; `phone`,
 * `userId`) and the kinds registered connectors declare they `provide` (the built-in ones find
 * `paymentCustomerId` and `ticketingUserId`). A kind is a plain name (letters, digits, `_`; no `:`).
 */
export type IdentityKind = "email" | "userId" | "phone" | "paymentCustomerId" | "ticketingUserId" | (string & {});

/**
 * An id of the subject in another system, given with the request (`subject.externalIds`): `external:`
 * and the system, e.g. `external:crm`. External ids live in their own namespace: whatever their system
 * is called, they never set or overwrite an identity kind.
 */
export type ExternalIdRef = `external:${string}`;

/** What a connector can need: an identity kind, or an external id of one system. */
export type IdentityNeed = IdentityKind | ExternalIdRef;

/** The need (and key in Identities) of an external id of `system`. */
export const externalRef = (system: string): ExternalIdRef => `external:${system}`;

/**
 * What is known about the subject, in normalized form (src/domain/identities.ts: emails lower-cased
 * with an internationalised domain in Unicode, phones in E.164): kind -> value, and `external:<system>`
 * -> that system's id. `email` is always present; emailSpellings gives the forms to look it up by.
 */
export type Identities = Readonly<{ email: string } & Partial<Record<IdentityNeed, string>>>;

/** The subject's id in `system`, when the request carried one. */
export const externalId = (ids: Identities, system: string): string | undefined => ids[externalRef(system)];

/** The category a record belongs to; drives retention rules and the layout of the export. */
export type DataCategory = "ACCOUNT" | "AUTH_LOGS" | "PAYMENTS" | "SUPPORT" | (string & {});

/** The steps a person does by hand for a manual connector (access: collect; erasure: erase; rectification: rectify). */
export type ManualStep = "collect" | "erase" | "rectify";

/** The actions a connector can take part in. */
export type ConnectorAction = "access" | "erasure" | "rectification";

/** Declared before anything runs; validated at registration. */
export interface ConnectorSpec {
  /** Unique, stable name: lower-case letters, digits and dashes (it keys tasks and idempotency). */
  readonly name: string;
  /** Version of the connector's code, shown with its health. */
  readonly version: string;
  /** Actions it implements; an action not listed becomes an explicit SKIPPED task, never silence. */
  readonly supports: readonly ConnectorAction[];
  /**
   * Identities it must have to find the subject (at least one of them when `needsAny` is true): identity
   * kinds (`email`, `userId`, a kind another connector provides) or external ids (`external:crm`).
   */
  readonly needs: readonly IdentityNeed[];
  /** When true, any one of `needs` is enough; otherwise all of them are required. */
  readonly needsAny?: boolean;
  /**
   * Identity kinds it can discover for other connectors (through `resolve`). Never `email` (every request
   * carries it) nor an external id: what resolve returns of any other kind is ignored.
   */
  readonly provides: readonly IdentityKind[];
  /** Categories of the records it returns. */
  readonly categories: readonly DataCategory[];
  /**
   * The correction fields (named as a CORRECTION request names them) that its rectify writes into a value
   * people are found by, with the identity that value is: one it finds people by, or one it provides to
   * other connectors. A correction of one decides whom the person's later requests reach, so it is taken
   * only from a caller who vouches for the subject (the emailed code proves the email alone).
   */
  readonly identityFields?: readonly { field: string; kind: IdentityNeed }[];
  /**
   * The correction fields its rectify corrects, named exactly as a CORRECTION request must name them:
   * field names are matched exactly, so the service refuses a correction naming one in another spelling
   * (`Email` for `email`) rather than have it reported held by no system. Unset: not declared (any name).
   */
  readonly correctionFields?: readonly string[];
  /** A person does the work (no API): tasks wait in AWAITING_INPUT for a privacy officer. */
  readonly manual?: boolean;
  /** What a person must do in each step's task, for manual connectors. */
  readonly instructions?: Readonly<Partial<Record<ManualStep, string>>>;
  /**
   * Where the system processes the subject's data: an ISO 3166-1 alpha-2 country code (`IN`, `US`).
   * The connectors file may set it per entry (`processingLocation`), which wins. Unset: not recorded,
   * and the service says so (Connector.processingLocation null, a warning at start).
   */
  readonly processingLocation?: string;
  /**
   * The least time, in ms, a unit of erasure must have for its erase to write anything in one (a write
   * and the wait for its answer). The service refuses to start with a task lease whose units are
   * shorter (DSR_TASK_LEASE_MS): such an erasure would fail every attempt having erased nothing.
   */
  readonly minUnitMs?: number;
  /**
   * True when `rectify` writes only inside its own units (ctx.eraseUnit), never before its first: a call
   * that throws before its first unit then wrote nothing. Otherwise such a throw (anything but a refusal
   * or a WriteUndone) may come after a write the system applied, and the call is kept in doubt (see
   * TaskContext.writtenBefore). The SQL connector declares it.
   */
  readonly rectifiesInUnits?: boolean;
}

/** An ISO 3166-1 alpha-2 country code, as processing locations are recorded. */
export const COUNTRY_CODE = /^[A-Z]{2}$/;

/** One record about the subject. */
export interface SubjectRecord {
  category: DataCategory;
  /** Kind of record within the system, e.g. `user`, `mfa_factor`, `charge`. */
  type: string;
  /** Stable id of the record in its system. */
  id: string;
  /** The record's fields, JSON-serialisable. */
  data: Record<string, unknown>;
  /** When the record came into being (retention periods count from here, unless retainedFrom says otherwise). */
  recordedAt?: Date;
  /**
   * The date a retention period counts from when it is not recordedAt: the records of a ticket thread are
   * kept as one, from the thread's last activity. The counting rule (src/domain/counting.ts) uses it.
   */
  retainedFrom?: Date;
  /**
   * The id of the record this one hangs off in the same category (a customer's charges, a ticketing
   * user's tickets): that record (an `anchor`) is kept while any record hanging off it is kept, dated
   * from the newest of them, and erased with the last of them. A connector's erase follows the same rule.
   */
  keptWith?: string;
  /** Other records hang off this one (see keptWith): a payment customer, a ticketing user. */
  anchor?: boolean;
  /**
   * The record cannot be erased while the record it hangs off (keptWith) stays: it is kept with it, as
   * long as it, and erased with it (a cancelled subscription Stripe lists under its customer for good).
   */
  inseparable?: boolean;
  /**
   * Erasure would leave this record holding personal data, and why (words for people, no personal data):
   * a ticket thread another customer also wrote on, which is not deleted for their sake. The plan
   * counts such a record in `toLeaveResidual` instead of `toErase` when the rule does not keep it, so a
   * privacy officer sees before approving what erasure will not remove. The erase must then name it
   * residual (ErasureOutcome.residual). Read on records that are neither anchors nor inseparable.
   */
  residualOnErasure?: string;
}

/** A record by type and id, as a survey saw it: what a verification pass looks up again. */
export interface RecordRef {
  category: DataCategory;
  type: string;
  id: string;
}

/** One record a look-up by id found still in its system. */
export interface LookedUpRecord extends RecordRef {
  /** Personal fields it still holds (empty: nothing personal is left, e.g. it was redacted). */
  personalFields: readonly string[];
  /**
   * When it came into being, as collect gives it (SubjectRecord.recordedAt): a record the survey planned
   * to keep that only its id still finds is counted kept while the rule keeps it by this date.
   */
  recordedAt?: Date;
}

/**
 * Records collect left out on purpose because they are someone else's data (another person's comments
 * on a thread the subject was only copied on): the export lists each set with its reason, so the
 * subject knows the copy is deliberate, not incomplete.
 */
export interface LeftOutRecords {
  category: DataCategory;
  /** Kind of record left out, e.g. `comment`. */
  type: string;
  count: number;
  /** Why, in the subject's words (shown in the export). */
  reason: string;
}

/**
 * A kind of record the system may hold about the subject that collect had no way to search for with
 * the identities it was given (e.g. a payment processor's guest payments, when its email search is not
 * available). Not a count: nobody knows how many there are. The request, its export and its deletion
 * certificate name each such kind, so that nothing reads as complete that was never searched.
 */
export interface NotSearchedRecords {
  category: DataCategory;
  /** Kind of record, e.g. `charge`. */
  type: string;
  /** Why it could not be searched for, and what would let it be (no personal data). */
  reason: string;
}

export interface CheckResult {
  ok: boolean;
  /** One line for people: what is wrong and what to fix, or what was reached. */
  message: string;
}

/** What erase may touch: the orchestrator computes it from retention rules and legal holds. */
export interface ErasureInstruction {
  /** Categories to erase; a connector never erases a category not listed. */
  categories: readonly DataCategory[];
  /**
   * Records created at or after this instant are kept (retention), per category; absent: erase all. A
   * purge sets it, in every category it erases, to at most the instant its deletion counted what it
   * kept: what the person recorded since is not the deletion's (leave it; the orchestrator does not count it).
   */
  keepRecordedSince?: Readonly<Partial<Record<DataCategory, Date>>>;
  /**
   * A purge's word on records without a date. true: leave every one as it is (neither erase nor report
   * it): the purge erases those its deletion kept by id (eraseHeldBack), since nothing else tells them
   * apart from what the person recorded since. false: the purge cannot (no eraseHeldBack, or no ids
   * kept): erase them as found by the subject's identities, whatever keepRecordedSince says. Absent
   * (an ERASE): as the connector documents for undated records under keepRecordedSince.
   */
  keepUndated?: boolean;
}

/**
 * Records erase left in place because the instruction keeps them (keepRecordedSince): the orchestrator
 * turns each set into a retention exception and purges it when the period ends.
 */
export interface KeptRecords {
  category: DataCategory;
  /** Kind of record, e.g. `invoice`. */
  type: string;
  /** How many records of this kind were kept. */
  count: number;
  /** The newest kept record's date: the set is held until the rule's period has passed from it. */
  newestRecordedAt: Date;
  /** Fields blanked on the kept records because the retention basis does not need them. */
  redactedFields?: readonly string[];
}

/**
 * Records erase could neither erase nor keep under the instruction: they still hold personal data (a
 * finalized invoice the API cannot edit, a redaction the processor refused). Never counted as erased;
 * the request and its certificate name them.
 */
export interface ResidualRecords {
  category: DataCategory;
  /** Kind of record, e.g. `invoice`. */
  type: string;
  count: number;
  /** The personal fields that remain (names only). */
  fields: readonly string[];
  /** Why they remain, in words for people (no personal data). */
  reason: string;
  /**
   * The set stays only because records that are kept (by a retention rule or a legal hold) hold it back
   * (an account the kept records hang off, a row they refer to through a foreign key the database would
   * act on): its records' ids, one per record (`count` of them). The purge that later erases what held
   * them back gives them to `Connector.eraseHeldBack`, which erases them by id: residue must not outlive
   * its reason, and a look-up by the subject would also reach what the person created since.
   */
  heldBackIds?: readonly string[];
}

/** What eraseHeldBack did with the records it was given. */
export interface HeldBackOutcome {
  /** The records it erased (deleted or anonymised), each once; one already gone is not listed. */
  erased: readonly RecordRef[];
  /** Those still held back (by records kept now), named again with their heldBackIds, or left for another reason. */
  residual?: readonly ResidualRecords[];
}

/**
 * How an erasure ended. Counts follow the counting rule (src/domain/counting.ts): one record is one
 * record as collect yields it, and each record is counted once, as erased, kept or residual.
 */
export interface ErasureOutcome {
  /** Records erased: deleted, anonymised, or redacted in place so that nothing personal is left. */
  erased: number;
  /** Of `erased`, records redacted in place (they still exist, with their personal fields redacted). */
  redacted?: number;
  /** `erased` per category, for a connector erasing several categories (absent: all in the one erased). */
  erasedIn?: Readonly<Partial<Record<DataCategory, number>>>;
  /** `redacted` per category, for a connector erasing several categories (absent: all in the one erased). */
  redactedIn?: Readonly<Partial<Record<DataCategory, number>>>;
  /** Record sets kept under keepRecordedSince, one entry per category x type; absent or empty: none. */
  kept?: readonly KeptRecords[];
  /** Records that still hold personal data although the instruction did not keep them. */
  residual?: readonly ResidualRecords[];
  /**
   * The remote system accepted the work and is still doing it: poll again after pollAfterMs. The counts
   * given with it are final for the work already done; poll's outcome adds to them. `pending` says what
   * is still under way, in words for people and with no personal data ("1,246 objects with Stripe's
   * redaction jobs: ..."): the task shows it (its note) until the work ends, and its audit event keeps it.
   * `revocable: true` says none of the work under way is past calling back (a job only queued or being
   * validated, that a hold would still withdraw at its eraseUnit): the task's remote unit then ends, and
   * a hold can be placed meanwhile. Absent: some of it may be past calling back, and holds wait.
   */
  remote?: { reference: string; pollAfterMs: number; pending?: string; revocable?: boolean };
}

export interface FieldChange {
  field: string;
  value: string;
}

export interface RectifyOutcome {
  /** Fields the system holds the new value of now (a write accepted to be applied later is not a change yet: see WriteUndone and writtenBefore). */
  changed: string[];
  /** Fields this system does not hold (not an error: another connector may hold them). */
  notHeld: string[];
  /**
   * Fields whose writes stopped because a unit was refused (ctx.eraseUnit answered false: a legal hold
   * was placed while the correction ran); what is left of them stays as it was, and the orchestrator
   * reports them kept by the hold. A field some of whose records were written before is in `changed`
   * too. Only after a refused unit.
   */
  unfinished?: string[];
}

/** Structured, scoped logger. Never give it record payloads or raw identities. */
export interface ConnectorLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Everything a running task gives its connector. */
export interface TaskContext {
  requestId: string;
  taskId: string;
  /** 1 for the first attempt. */
  attempt: number;
  logger: ConnectorLogger;
  /** Aborted when the task must stop (lease lost, shutdown): stop promptly. */
  signal: AbortSignal;
  /** Extends the task's lease; call it during long work (at least every few seconds). */
  heartbeat(): Promise<void>;
  /** Stable per request x connector x step: pass it to external APIs so a retried task acts once. */
  idempotencyKey: string;
  /** The orchestrator's clock (tests move it). */
  now(): Date;
  /**
   * Erasure: runs `work`, one unit of erasing records of `category` (a chunk of rows, one remote write),
   * if that category may still be erased, and answers true; answers false without running it when it
   * may not any more (the orchestrator withdrew the category while the erasure ran). After false, touch
   * that category no more in this call and return what was erased so far. Until a connector's first
   * unit, its whole erase call counts as one unit that nothing can interrupt; outside erase, purge and
   * rectify every unit is refused. A rectify's units are writes of corrections (a page of rows, one
   * remote update): each is fenced over all of the connector's categories (a hold on any keeps every
   * field), and after false, write nothing more and name the fields left in RectifyOutcome.unfinished.
   * `note` and `remote` are for erasures only. `note` (up to 500 characters, no personal data) says what to finish if the
   * unit never ends well (the process died, or `work` threw): the task's next attempt gets it back
   * from unfinishedUnits(); a later unit given the same note that ends well finishes it, so no attempt
   * after that gets it back. Two-step remote deletes use it to finish exactly once. `remote: true` says
   * that `work` starts erasure the remote system carries on after it returns and that cannot be called
   * back (running a redaction job): the category then stays fenced, and a hold on it is refused, until
   * the remote work has ended (poll returns no `remote`). `work` may resolve to the number of records
   * the unit erased: the orchestrator keeps it with the unit's end, so if this attempt is killed later
   * its retry still counts those records as erased (your retry will not find them to count).
   * `supersedes` (erasures only): the note of an earlier attempt's unfinished unit whose work this unit
   * finishes; when this unit ends well, that unit's note becomes this unit's `note`, in the same
   * transaction as the count, so later attempts get the new note back (say "counted", keep a pointer)
   * and never finish, or count, the old one again.
   * `leaves` (erasures only): read once `work` returned, the notes (each up to 500 characters) of work
   * this unit began and could not settle (a write sent without learning whether it landed), handed to
   * the task's next attempt in the transaction that ends the unit and keeps its count, as a failed
   * unit's note is; they replace what the call's earlier units left, so give every note still owed
   * each time (an empty list when none is). The next attempt gets them back from unfinishedUnits().
   * Like every note still there when the erase call returns, they stay until the task completes (in
   * its completion's transaction): a process that dies in the verification pass after the call leaves
   * them to the attempt that takes the task over. So a note may also carry what the call found and no
   * later attempt could find again (residue on threads of a user it deleted for good), counting nothing.
   */
  eraseUnit(category: DataCategory, work: () => Promise<void | number>, note?: string, options?: { remote?: boolean; supersedes?: string; leaves?: () => readonly string[] }): Promise<boolean>;
  /**
   * Correction, on a retry: whether an earlier attempt of this task may have written records of
   * `category` (one of its units resolved to a count above 0, began and never ended, or threw anything but
   * a refusal or a WriteUndone: its write may have committed, its answer lost). A record that
   * holds the corrected value and is no longer found by the old one is that attempt's write only if
   * this says true: otherwise it is another person's. Undefined outside the orchestrator.
   */
  writtenBefore?(category: DataCategory): Promise<boolean>;
  /** Erasure: the notes of units earlier attempts of this task began and did not finish, oldest first. */
  unfinishedUnits(): Promise<string[]>;
  /**
   * Erasure, when a unit that would finish notes was refused (a hold took their category): finishes the
   * `notes` (an earlier attempt's, from unfinishedUnits(), or those this call's units left) after reading
   * alone what their work did, and keeps `erased`, the records of `category` that work erased, with the
   * task's progress, in one transaction: so a process that dies afterwards, before the task completes,
   * neither loses that count (its retry reads no note any more) nor leaves a note a retry would count
   * again. Include `erased` in what erase returns, as for a unit's count. Throws when the attempt no
   * longer holds its task (nothing changed). `leaves`: notes handed to the task's next attempts in the
   * same transaction, as eraseUnit's `leaves` (they replace what the call's units left before). Undefined outside the orchestrator.
   */
  settleNotes?(category: DataCategory, notes: readonly string[], erased: number, leaves?: readonly string[]): Promise<void>;
  /**
   * Erasure and correction, inside a unit's `work` (a correction: or before its first unit): the milliseconds within which a write started now must have
   * committed, or undefined (outside a unit's work, or an orchestrator that sets no bound). A hold
   * placement waits for a unit only until the unit's end (its lease, on the service's clock): a write
   * still running after that could erase what the hold keeps. Bound every write by it (a statement
   * timeout the database enforces, so that a cut write is rolled back and erased nothing), and when
   * it is cut, fail the unit (throw) and try smaller, or throw a retryable ConnectorError.
   * Already less a reserve for the commit, the round trip and the hosts' clocks.
   */
  unitTimeLeft?(): number | undefined;
  /** Reports records collect left out as other people's data (see LeftOutRecords); sets add up. */
  leftOut?(set: LeftOutRecords): void;
  /** Reports a kind of record collect could not search for (see NotSearchedRecords); each kind once. */
  notSearched?(set: NotSearchedRecords): void;
  /**
   * The kinds of `ids` this connector's own RESOLVE found for the request (neither given with it nor
   * found by another connector). A deletion resolves them before erasing, so that what it keeps and
   * reaches by them (invoices by the customer id a users row held) is still reached once its erasure
   * removed that row: a provider follows such a value beside what its rows yield now, unless another
   * person's row holds it by then (a key given to someone else), instead of refusing it as a given value
   * its rows do not hold. Undefined outside the orchestrator (every value is then given).
   */
  foundHere?: readonly string[];
}

/**
 * One person a system holds data about, as a breach roster lists them (Connector.listSubjects). A
 * system lists each person once, by the identities it holds them by, in normalized form (normalizeEmail,
 * phones in E.164): `email` where it holds one; otherwise the kinds it keys them by (`userId`,
 * `paymentCustomerId`). The roster joins entries that share an identity, across systems, so a person an
 * auth-log knows only by userId is reached at the email the account database holds for that userId.
 */
export interface RosterEntry {
  identities: Readonly<Partial<Record<IdentityKind, string>>>;
  /**
   * Further values of a kind the system holds the same person by (two accounts, two user ids, under one
   * address), beyond the one in `identities`: they join the person to other systems' entries as well.
   */
  moreIdentities?: Readonly<Partial<Record<IdentityKind, readonly string[]>>>;
  /** How many records the system holds about them, counted as collect would yield them, when known. */
  records?: number;
}

/** What listSubjects gets: no request, no task; a roster job that can stop it. */
export interface RosterContext {
  logger: ConnectorLogger;
  /** Aborted when the roster must stop (lease lost, shutdown): stop promptly. */
  signal: AbortSignal;
  /** Keeps the roster job's lease; call it during long listings (at least every few seconds). */
  heartbeat(): Promise<void>;
  /**
   * Says, in words for people, whom the listing could not reach (a bounded read of part of the system):
   * the roster then names the system PARTIAL with those words, and is not complete. Once per kind.
   */
  notListed?(what: string): void;
}

/** eraseUnit outside an erasure: nothing may be erased there. */
export const noErasure: TaskContext["eraseUnit"] = async () => false;

export interface Connector {
  readonly spec: ConnectorSpec;
  /** Reachability and credentials. Once it passes, the other calls are expected to work. */
  check(ctx: Pick<TaskContext, "logger" | "signal">): Promise<CheckResult>;
  /** Discovers more identities of the subject for other connectors. */
  resolve?(ids: Identities, ctx: TaskContext): Promise<Partial<Record<IdentityKind, string>>>;
  /** Streams the subject's records; must never buffer them all. */
  collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord>;
  /** Erases what the instruction allows; idempotent (running it twice erases once). */
  erase?(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome>;
  /**
   * Asks whether remote work started by erase is finished. Its outcome counts only what the remote work
   * did (added to what erase reported), and carries `remote` again while the work goes on.
   */
  poll?(reference: string, ctx: TaskContext): Promise<ErasureOutcome>;
  /**
   * Looks records up by id, whatever identities erasure removed (a deleted customer no longer leads to
   * its invoices): yields those still in the system, with the personal fields they still hold (and their
   * date). The verification pass after an erasure asks it for every record the survey found, to erase or
   * to keep, that collecting again no longer finds: a kept one still there counts as kept (and its purge
   * erases it by id, eraseHeldBack), one to erase still there fails the erasure.
   */
  lookup?(refs: readonly RecordRef[], ctx: TaskContext): AsyncIterable<LookedUpRecord>;
  /**
   * The record types lookup finds (absent: every type). A survey keeps the ids of these only (those it
   * plans to erase and those it plans to keep): records that cannot lose their way to the subject (a big
   * table found by a user id) need not be held.
   */
  readonly lookupTypes?: readonly string[];
  /**
   * Erases, by id, records an earlier erasure left residual only because kept records held them back
   * (ResidualRecords.heldBackIds): the purge that erases those kept records calls it once they are gone,
   * inside the same hold fence (each write one eraseUnit of the record's category), with the instruction
   * for the records' categories. A record that kept records still hold back stays, named residual again
   * with its id; one no longer in the system is left out (not erased by this call). It never looks the
   * subject up: what the person created since the deletion (a new account) is not touched. `ids` are the
   * deletion's identities, to confirm a record still is the subject's (one changed since stays, residual). Idempotent.
   */
  eraseHeldBack?(ids: Identities, refs: readonly RecordRef[], instruction: ErasureInstruction, ctx: TaskContext): Promise<HeldBackOutcome>;
  /**
   * Lists everyone the system holds personal data about, each person once (see RosterEntry): what a
   * breach roster needs to notify the people a breach of this system affects (POLICY: within 72 hours).
   * Streams: never buffer the whole system. A connector without it is named in every roster as not
   * listable, so the roster never reads as complete without it.
   */
  listSubjects?(ctx: RosterContext): AsyncIterable<RosterEntry>;
  /** Applies corrections to the fields this system holds. */
  rectify?(ids: Identities, changes: readonly FieldChange[], ctx: TaskContext): Promise<RectifyOutcome>;
  /** Releases connections and timers; called once when the process that registered it stops. */
  close?(): Promise<void>;
}

/**
 * The one error type connectors throw. `userMessage` is shown on the task in GraphQL (no internals,
 * no personal data); `internalMessage` goes to the log only. Retryable errors are retried with
 * backoff (after retryAfterMs when given, e.g. from Retry-After); others fail the task at once.
 */
/** Marks ConnectorErrors, so `instanceof` holds for one thrown by a connector compiled against another copy of this SDK. */
const CONNECTOR_ERROR = Symbol.for("dsr.sdk.ConnectorError");

export class ConnectorError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[CONNECTOR_ERROR] === true;
  }

  constructor(
    readonly userMessage: string,
    readonly internalMessage: string,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(userMessage);
    this.name = "ConnectorError";
    Object.defineProperty(this, CONNECTOR_ERROR, { value: true });
  }
}

/** Marks WriteUndone errors across copies of this SDK, as CONNECTOR_ERROR does. */
const WRITE_UNDONE = Symbol.for("dsr.sdk.WriteUndone");

/**
 * What a correction's `work` (inside ctx.eraseUnit) throws when its write is known to have changed
 * nothing: never sent, refused, or cut and rolled back by the system (a statement timeout). Any other
 * throw from a correction's unit (a retryable ConnectorError, a time-out, a lost answer) is taken to
 * have perhaps written: the unit is kept in doubt, the retry's writtenBefore answers true for its
 * categories, and a correction that then fails says the system may hold the new values.
 */
export class WriteUndone extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[WRITE_UNDONE] === true;
  }

  constructor(message: string) {
    super(message);
    this.name = "WriteUndone";
    Object.defineProperty(this, WRITE_UNDONE, { value: true });
  }
}

/**
 * A connector's configuration is wrong: thrown by its factory before anything connects, listing every
 * problem (the service prints them all at boot and refuses to start).
 */
export class ConnectorConfigError extends Error {
  constructor(
    readonly connector: string,
    readonly problems: string[],
    kind = "connector",
  ) {
    super(`invalid ${kind} configuration${connector ? ` "${connector}"` : ""}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConnectorConfigError";
  }
}

/**
 * Starts `work` unless `signal` has already aborted, and settles as it does, or rejects with
 * `stopped()` as soon as the signal aborts, whichever comes first. For calls a client library cannot
 * cancel, or that should not be handed the signal: the abandoned call runs on, and its outcome is
 * dropped (never an unhandled rejection).
 */
export function raceAbort<T>(work: () => Promise<T>, signal: AbortSignal, stopped: () => unknown): Promise<T> {
  if (signal.aborted) return Promise.reject(stopped());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(stopped());
    signal.addEventListener("abort", onAbort, { once: true });
    work().then(
      (value) => (signal.removeEventListener("abort", onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener("abort", onAbort), reject(error)),
    );
  });
}

/**
 * Reads a Retry-After header into milliseconds from `now`: delay-seconds (digits, a fraction tolerated)
 * or an HTTP-date (0 once past). Anything else, a negative number or words that are no date, is no
 * wait asked (undefined), never read as a date by the parser's guesses ("-5" is a day in 2001 to V8).
 * The value may be huge (a date in the year 9999, 10^15 seconds): it is the system's ask, and the
 * orchestrator cuts what it honours to DSR_RETRY_AFTER_MAX_MS. Infinity when it passes every number.
 */
export function retryAfterMs(header: string | null | undefined, now: Date = new Date()): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) {
    const ms = Math.ceil(Number(value) * 1000);
    return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
  }
  // An HTTP-date names its day or month in letters (IMF-fixdate, RFC 850, asctime).
  if (!/[A-Za-z]{3}/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

const NAME = /^[a-z][a-z0-9-]{1,39}$/;
/**
 * A data category's name: upper-case letters, digits and _. The export names a category's files by its
 * lower-case form (data/<category>.json), so two categories must never differ by case alone.
 */
export const CATEGORY_NAME = /^[A-Z][A-Z0-9_]{0,39}$/;
/** Names Windows reserves for devices, with any extension: an archive's data/aux.json cannot be extracted there. */
const WINDOWS_DEVICE = /^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])$/;
/** An identity kind: a plain name, so it can never be mistaken for an external id. */
export const IDENTITY_KIND = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
/** An external id's system, as the request input accepts it. */
export const EXTERNAL_SYSTEM = /^[a-z][a-z0-9_-]{0,31}$/;

/** What is wrong with one entry of `needs` (or a table's identity), or null. */
export function needProblem(need: unknown): string | null {
  if (typeof need !== "string") return "must be an identity kind or external:<system>";
  if (need.startsWith("external:")) {
    return EXTERNAL_SYSTEM.test(need.slice("external:".length)) ? null : `"${need}": the system after external: must be lower-case letters, digits, _ or -, at most 32`;
  }
  return kindProblem(need);
}

/** What is wrong with an identity kind's name, or null. */
export function kindProblem(kind: unknown): string | null {
  if (typeof kind !== "string" || !IDENTITY_KIND.test(kind)) return `"${String(kind)}" is not an identity kind (letters, digits and _, e.g. userId), nor external:<system> for an external id`;
  const request = REQUEST_IDENTITY_KINDS.find((k) => k.toLowerCase() === kind.toLowerCase());
  if (request && request !== kind) return `"${kind}" would be a second spelling of ${request}: write ${request}`;
  return null;
}

/** Checks a spec before a connector is registered; returns every problem found. */
export function specProblems(spec: ConnectorSpec): string[] {
  const problems: string[] = [];
  if (!NAME.test(spec.name ?? "")) problems.push(`name "${spec.name}" must be 2-40 lower-case letters, digits or dashes, starting with a letter`);
  if (!spec.version) problems.push(`${spec.name}: version is required`);
  if (!spec.categories?.length) problems.push(`${spec.name}: declare at least one category`);
  for (const category of spec.categories ?? []) {
    if (!CATEGORY_NAME.test(String(category))) problems.push(`${spec.name}: category "${String(category)}" must be upper-case letters, digits and _, starting with a letter (e.g. ACCOUNT): the export names its files after it`);
    else if (WINDOWS_DEVICE.test(String(category))) problems.push(`${spec.name}: category "${String(category)}" would name export files Windows cannot create (a device name): choose another`);
  }
  if (!spec.supports?.length) problems.push(`${spec.name}: declare at least one supported action`);
  if (spec.minUnitMs !== undefined && !(Number.isInteger(spec.minUnitMs) && spec.minUnitMs > 0)) problems.push(`${spec.name}: minUnitMs must be a whole number of ms above 0`);
  if (spec.processingLocation !== undefined && !COUNTRY_CODE.test(spec.processingLocation)) problems.push(`${spec.name}: processingLocation must be an ISO 3166-1 alpha-2 country code in capitals, e.g. IN or US`);
  for (const kind of spec.provides ?? []) if ((spec.needs ?? []).includes(kind)) problems.push(`${spec.name}: cannot both need and provide ${kind}`);
  for (const need of spec.needs ?? []) {
    const problem = needProblem(need);
    if (problem) problems.push(`${spec.name}: needs ${problem}`);
  }
  for (const kind of spec.provides ?? []) {
    const problem = kindProblem(kind);
    if (problem) problems.push(`${spec.name}: provides ${problem}`);
    else if (kind === "email") problems.push(`${spec.name}: cannot provide email (every request carries the subject's email)`);
  }
  for (const declared of spec.identityFields ?? []) {
    const problem = typeof declared?.field === "string" && declared.field.trim() ? needProblem(declared.kind) : "must name its field";
    if (problem) problems.push(`${spec.name}: identityFields ${problem}`);
  }
  return problems;
}
