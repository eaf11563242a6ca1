import { ConnectorError, ErasureOutcome, ResidualRecords, TaskContext } from "../sdk";
import type { ToRedact } from "./erasure";
import { ResidueTally, writeKey } from "./erasure";
import { JOB_OBJECTS, personalFields, RedactedKind, StripeThing } from "./records";

/**
 * Stripe's own mechanism for what its API cannot delete or edit: redaction jobs
 * (POST /v1/privacy/redaction_jobs with the objects' ids; Stripe validates them, the job is run, and
 * Stripe redacts the objects asynchronously; it can take days). A job moves
 * created/validating -> ready | failed; ready -(run)-> redacting -> succeeded; ready | failed -(cancel)->
 * canceling -> canceled. The connector creates the jobs during erase and returns their ids as the
 * task's remote reference; the orchestrator keeps it in the task row and polls until every job ended,
 * so a restart in between loses nothing and creates nothing twice (creation carries an idempotency key).
 */

export type RedactionJobStatus = "created" | "validating" | "ready" | "failed" | "redacting" | "succeeded" | "canceling" | "canceled";

/** A redaction job as the connector reads it. */
export interface RedactionJob {
  id: string;
  status: RedactionJobStatus;
  /** Unix seconds. */
  created?: number;
  /** The objects to redact, by type (expanded on retrieve). */
  objects?: { charges?: string[] | null; invoices?: string[] | null; checkout_sessions?: string[] | null; payment_intents?: string[] | null; customers?: string[] | null } | null;
}

/** A job's objects as the connector creates it (a kind with none is left out). */
export type JobObjects = Partial<Record<(typeof JOB_OBJECTS)[RedactedKind], string[]>>;
const KINDS = Object.keys(JOB_OBJECTS) as RedactedKind[];
const idsIn = (objects: JobObjects | null | undefined, kind: RedactedKind): string[] => objects?.[JOB_OBJECTS[kind]] ?? [];
const sizeOf = (objects: JobObjects | null | undefined) => KINDS.reduce((n, kind) => n + idsIn(objects, kind).length, 0);

/** A reason a job's validation failed. */
export interface RedactionValidationError {
  code: string;
  erroring_object?: { id: string; object_type: string } | null;
}

/** The redaction-job calls (Stripe's preview API, through the SDK's raw requests). */
export interface RedactionApi {
  create(objects: JobObjects, key: string, ctx: TaskContext): Promise<RedactionJob>;
  retrieve(id: string, ctx: TaskContext): Promise<RedactionJob>;
  run(id: string, key: string, ctx: TaskContext): Promise<RedactionJob>;
  cancel(id: string, key: string, ctx: TaskContext): Promise<RedactionJob>;
  validationErrors(id: string, ctx: TaskContext): Promise<RedactionValidationError[]>;
  /** The account's jobs, newest first, with their objects. */
  list(ctx: TaskContext): AsyncIterable<RedactionJob>;
  /** The object now (undefined: gone), to name what a failed job left. */
  object(kind: RedactedKind, id: string, ctx: TaskContext): Promise<StripeThing | undefined>;
}

/** Stripe takes at most 10 object ids per job. */
export const MAX_OBJECTS_PER_JOB = 10;
/**
 * Jobs one erasure keeps at work at once. Objects beyond them wait in the task's remote reference and
 * are given to new jobs as earlier ones end (pollRedaction), however many there are.
 */
export const MAX_JOBS = 60;

/** A Stripe id (object or job): letters, digits and underscores. */
const STRIPE_ID = /^[A-Za-z0-9_]+$/;

/**
 * The task's remote reference: the ids of the jobs at work, comma-separated, then, when objects wait
 * for a job, `|` and each waiting job's objects (`charges=ch_1.ch_2+invoices=in_1`), `;`-separated.
 * A reference of job ids alone (as erasures before waves wrote it) reads as before.
 */
export function referenceOf(jobs: readonly string[], waiting: readonly JobObjects[]): string {
  const queued = waiting.map((objects) => KINDS.filter((kind) => idsIn(objects, kind).length).map((kind) => `${JOB_OBJECTS[kind]}=${idsIn(objects, kind).join(".")}`).join("+"));
  return jobs.join(",") + (queued.length ? `|${queued.join(";")}` : "");
}

const malformed = () => new ConnectorError("The payment processor's redaction jobs could not be followed: the task's reference to them is damaged", "Stripe poll: the remote reference is not one referenceOf wrote", false);

/** Reads a reference referenceOf wrote; anything else is refused (not retryable), naming no id. */
export function parseReference(reference: string): { jobs: string[]; waiting: JobObjects[] } {
  const [head, tail, ...more] = reference.split("|");
  const jobs = head.split(",").filter(Boolean);
  const lists = new Map(KINDS.map((kind) => [JOB_OBJECTS[kind] as string, kind]));
  const waiting = (tail ?? "").split(";").filter(Boolean).map((batch) => {
    const objects: JobObjects = {};
    for (const part of batch.split("+")) {
      const [list, ids, ...rest] = part.split("=");
      const kind = lists.get(list);
      const named = (ids ?? "").split(".");
      if (!kind || rest.length || !named.every((id) => STRIPE_ID.test(id))) throw malformed();
      objects[JOB_OBJECTS[kind]] = named;
    }
    return objects;
  });
  if (more.length || (tail !== undefined && !waiting.length) || !jobs.every((id) => STRIPE_ID.test(id)) || waiting.some((objects) => !sizeOf(objects))) throw malformed();
  return { jobs, waiting };
}

/**
 * Jobs' objects: an invoice goes with the charge that paid it (redacting one touches the other); any
 * other object is a unit of its own. Units are packed in order, at most MAX_OBJECTS_PER_JOB per job.
 */
export function jobBatches(items: readonly ToRedact[]): JobObjects[] {
  const invoices = new Set(items.filter((i) => i.kind === "invoice").map((i) => i.id));
  const units: ToRedact[][] = [];
  for (const i of items) {
    if (i.kind === "invoice") units.push([i, ...items.filter((c) => c.kind === "charge" && c.invoice === i.id)]);
    else if (i.kind !== "charge" || !i.invoice || !invoices.has(i.invoice)) units.push([i]);
  }
  const batches: ToRedact[][] = [];
  for (const u of units) {
    const last = batches.at(-1);
    if (last && last.length + u.length <= MAX_OBJECTS_PER_JOB) last.push(...u);
    else batches.push([...u]);
  }
  return batches.map((batch) => {
    const objects: JobObjects = {};
    for (const kind of KINDS) {
      const ids = batch.filter((i) => i.kind === kind).map((i) => i.id);
      if (ids.length) objects[JOB_OBJECTS[kind]] = ids;
    }
    return objects;
  });
}

/** What is still under way, for people: objects with Stripe's jobs, and those waiting for one. */
function pendingStatement(atWork: number, jobs: number, waiting: readonly JobObjects[]): string {
  const queued = waiting.reduce((n, objects) => n + sizeOf(objects), 0);
  const wait = queued ? `; ${queued} more wait for a job (at most ${MAX_JOBS} jobs at work at once), given one as earlier jobs end` : "";
  return `Stripe is redacting ${atWork} payment object(s) in ${jobs} redaction job(s), which can take days${wait}. None of them is counted erased until its job has succeeded.`;
}

/**
 * How far back a job an earlier attempt of the erasure created may be: the longest a request runs (a
 * month, extended by two more).
 */
export const JOB_LOOKBACK_MS = 93 * 86_400_000;

/** Job statuses that will not redact: a job in one of them is no job to follow. */
const ENDED = new Set<RedactionJobStatus>(["succeeded", "canceling", "canceled"]);
const setKey = (objects: JobObjects | null | undefined) => KINDS.flatMap((kind) => idsIn(objects, kind)).sort().join(",");

/**
 * The jobs still at work (or failed, not yet canceled) created within JOB_LOOKBACK_MS, newest first,
 * by their objects: what an earlier attempt of the erasure may have created. Stripe keeps an
 * idempotency key 24 hours only; a retry after that (an operator's, days later) would otherwise create
 * a second job for the same objects, which fails validation (locked_by_other_job) and leaves the first
 * at Stripe, never run.
 */
function liveJobs(api: RedactionApi, ctx: TaskContext): () => Promise<Map<string, string>> {
  let found: Promise<Map<string, string>> | undefined;
  const read = async () => {
    // Stripe dates its jobs on the wall clock, not the orchestrator's (which tests move by years).
    const since = Math.floor((Date.now() - JOB_LOOKBACK_MS) / 1000);
    const jobs = new Map<string, string>();
    for await (const job of api.list(ctx)) {
      if (job.created !== undefined && job.created < since) break;
      const key = setKey(job.objects as JobObjects | null | undefined);
      if (!ENDED.has(job.status) && key && !jobs.has(key)) jobs.set(key, job.id);
    }
    return jobs;
  };
  return () => (found ??= read());
}

/**
 * The job for these objects: one at work for exactly them (liveJobs), else a new one. The idempotency
 * key names the task and the objects, so a restart within Stripe's 24 hours gets the same job back too.
 */
async function createJob(api: RedactionApi, objects: JobObjects, ctx: TaskContext, live: () => Promise<Map<string, string>>): Promise<string> {
  const ids = setKey(objects);
  const existing = (await live()).get(ids);
  if (existing) return existing;
  const job = await api.create(objects, writeKey(ctx.idempotencyKey, "redaction_job.create", ids), ctx);
  await ctx.heartbeat();
  return job.id;
}

/** Collects what erase hands to redaction jobs and starts the jobs, customer by customer. */
export class Redactor {
  readonly jobs: string[] = [];
  /** Objects beyond MAX_JOBS jobs: the polls give them jobs as earlier ones end. */
  readonly waiting: JobObjects[] = [];

  private readonly live: () => Promise<Map<string, string>>;

  constructor(
    private readonly api: RedactionApi,
    ctx: TaskContext,
  ) {
    this.live = liveJobs(api, ctx);
  }

  /**
   * Creates the jobs for these objects (before their customer is deleted: a restart then finds them
   * again, and the same idempotency key returns the same job). Beyond MAX_JOBS, objects wait.
   */
  async start(items: readonly ToRedact[], ctx: TaskContext): Promise<void> {
    for (const batch of jobBatches(items)) {
      if (this.jobs.length >= MAX_JOBS) {
        this.waiting.push(batch);
        continue;
      }
      const id = await createJob(this.api, batch, ctx, this.live);
      if (!this.jobs.includes(id)) (this.jobs.push(id), (this.atWork += sizeOf(batch)));
    }
  }

  /** Objects given to the jobs this erasure created. */
  private atWork = 0;

  /** The remote work to poll, if any job is at work or objects wait. */
  remote(pollAfterMs: number): ErasureOutcome["remote"] {
    if (!this.jobs.length && !this.waiting.length) return undefined;
    return { reference: referenceOf(this.jobs, this.waiting), pollAfterMs, pending: pendingStatement(this.atWork, this.jobs.length, this.waiting) };
  }
}

const countOf = (job: RedactionJob) => sizeOf(job.objects as JobObjects | null | undefined);

/** Names what a job that will not redact left behind, with each object's remaining personal fields. */
async function leftBy(job: RedactionJob, reason: string, api: RedactionApi, ctx: TaskContext): Promise<ResidualRecords[]> {
  const residue = new ResidueTally();
  for (const { kind, o } of await objectsOf(job, api, ctx)) {
    const left = o ? personalFields(kind, o) : [];
    if (left.length) residue.add(kind, left, reason);
  }
  return residue.list();
}

/** A job's objects as they are now (undefined: gone). */
async function objectsOf(job: RedactionJob, api: RedactionApi, ctx: TaskContext): Promise<{ kind: RedactedKind; id: string; o: StripeThing | undefined }[]> {
  const out: { kind: RedactedKind; id: string; o: StripeThing | undefined }[] = [];
  for (const kind of KINDS) for (const id of idsIn(job.objects as JobObjects | null | undefined, kind)) out.push({ kind, id, o: await api.object(kind, id, ctx) });
  return out;
}

/** What the privacy team can do about an object Stripe's validation refused, by the error's code. */
const REMEDY: Record<string, string> = {
  invalid_state: "its own state keeps Stripe from redacting it (a payment not final, an open dispute): settle it in the Stripe Dashboard",
  invalid_cascading_source: "a related object's state keeps Stripe from redacting it: settle that object in the Stripe Dashboard",
  invalid_file_purpose: "a file attached to it cannot be redacted: remove the file in the Stripe Dashboard",
  locked_by_other_job: "another redaction job holds it: let that job end, or cancel it",
};

/**
 * Why objects Stripe's validation refused stay, and what to do: `codes` are the errors' codes; `how`
 * says whether an error named the object, the invoice or charge it goes with (a job redacts the two
 * together), or no object (the whole job stays).
 */
function refusedReason(codes: ReadonlySet<string>, how: "object" | "partner" | "job"): string {
  const list = [...codes].sort();
  const remedies = [...new Set(list.map((code) => REMEDY[code] ?? "see the job's validation errors in the Stripe Dashboard"))].join("; ");
  const which = {
    object: "for this object, so it was left out and stays unredacted; the job's other objects were given a new job",
    partner: "for the invoice or charge this one goes with (a job redacts the two together), so both were left out and stay unredacted; the job's other objects were given a new job",
    job: "and was canceled: none of its objects was redacted",
  }[how];
  return `Stripe's redaction job failed validation (${list.join(", ") || "no reason given"}) ${which}. To erase ${{ object: "it", partner: "it, first the other one", job: "them" }[how]}: ${remedies || "see the job in the Stripe Dashboard"}; then run the deletion again`;
}

/**
 * What a job that failed validation leaves: each object a validation error names stays (residual, with
 * what to do about it), and with it the invoice or charge it goes with (a job redacts the two together);
 * the job's other objects still holding personal data are handed back for a new job (`retry`). Stripe
 * runs no job with an error (validation_behavior "error"), so before this one refused object kept every
 * other object of its job unredacted. An error that names no object of the job (too_many_objects)
 * leaves them all.
 */
async function refusedBy(job: RedactionJob, errors: readonly RedactionValidationError[], api: RedactionApi, ctx: TaskContext): Promise<{ residual: ResidualRecords[]; retry?: JobObjects }> {
  const objects = await objectsOf(job, api, ctx);
  const codes = new Map<string, Set<string>>();
  const allCodes = new Set(errors.map((e) => e.code));
  let whole = !errors.length;
  for (const e of errors) {
    const id = e.erroring_object?.id;
    if (!id || !objects.some((x) => x.id === id)) whole = true;
    else codes.set(id, (codes.get(id) ?? new Set()).add(e.code));
  }
  if (whole) return { residual: await leftBy(job, refusedReason(allCodes, "job"), api, ctx) };
  // The invoice a refused charge paid, or the charge that paid a refused invoice.
  const partnerOf = (x: (typeof objects)[number]) => (x.kind === "charge" ? x.o?.invoice : x.kind === "invoice" ? x.o?.charge : undefined);
  const partners = new Map<string, Set<string>>();
  for (const x of objects) {
    const p = partnerOf(x);
    if (codes.has(x.id) && typeof p === "string" && !codes.has(p) && objects.some((y) => y.id === p)) partners.set(p, codes.get(x.id)!);
  }
  const byKind = new Map<RedactedKind, { codes: Set<string>; partner: boolean }>();
  for (const x of objects) {
    const named = codes.get(x.id) ?? partners.get(x.id);
    if (!named) continue;
    const k = byKind.get(x.kind) ?? { codes: new Set<string>(), partner: false };
    for (const c of named) k.codes.add(c);
    k.partner ||= !codes.has(x.id);
    byKind.set(x.kind, k);
  }
  const residue = new ResidueTally();
  const retry: JobObjects = {};
  for (const x of objects) {
    const left = x.o ? personalFields(x.kind, x.o) : [];
    if (!left.length) continue;
    const held = byKind.get(x.kind);
    if (codes.has(x.id) || partners.has(x.id)) residue.add(x.kind, left, refusedReason(held!.codes, held!.partner ? "partner" : "object"));
    else (retry[JOB_OBJECTS[x.kind]] ??= []).push(x.id);
  }
  return { residual: residue.list(), ...(sizeOf(retry) ? { retry } : {}) };
}

/**
 * One poll of an erasure's redaction jobs: runs those Stripe validated, counts those that succeeded as
 * erased (redacted), names what failed or canceled jobs left as residual (cancelling a failed job so its
 * objects are not locked), gives waiting objects jobs as far as MAX_JOBS allows, and asks to be polled
 * again while any job is at work or objects wait. Once a legal hold withdrew a job, the objects still
 * waiting are the hold's too: they get no job.
 */
export async function pollRedaction(reference: string, api: RedactionApi, ctx: TaskContext, pollAfterMs: number): Promise<ErasureOutcome> {
  const { jobs, waiting } = parseReference(reference);
  const pending: string[] = [];
  /** Objects of the jobs still at work. */
  let atWork = 0;
  /** Whether a job still at work was run: Stripe redacts it, and nobody can call it back. */
  let running = false;
  let redacted = 0;
  /** Objects of jobs a legal hold withdrew before they ran (canceled: the hold keeps them). */
  let withdrawn = 0;
  let heldBack = false;
  const residual: ResidualRecords[] = [];
  /** Objects of failed jobs that Stripe did not refuse: given a new job first. */
  const retried: JobObjects[] = [];
  const live = liveJobs(api, ctx);
  for (const id of jobs) {
    const job = await api.retrieve(id, ctx);
    await ctx.heartbeat();
    switch (job.status) {
      case "ready": {
        // Running the job is the erasure, and Stripe cannot call it back: one unit, fenced until the job
        // ends. A hold placed on PAYMENTS since the job was created withdraws it: the job is canceled and
        // its objects stay, the hold's.
        const ran = !heldBack && (await ctx.eraseUnit("PAYMENTS", async () => void (await api.run(id, writeKey(ctx.idempotencyKey, "redaction_job.run", id), ctx)), undefined, { remote: true }));
        if (ran) (pending.push(id), (atWork += countOf(job)), (running = true));
        else {
          heldBack = true;
          await api.cancel(id, writeKey(ctx.idempotencyKey, "redaction_job.cancel", id), ctx);
          withdrawn += countOf(job);
        }
        break;
      }
      case "succeeded":
        redacted += countOf(job);
        break;
      case "failed":
        // Its objects are locked while it stands: canceled, and split once Stripe says it is (next poll).
        await api.cancel(id, writeKey(ctx.idempotencyKey, "redaction_job.cancel", id), ctx);
        pending.push(id);
        break;
      case "canceling":
      case "canceled": {
        // One that failed validation: what Stripe refused stays, the rest get a new job once it is
        // canceled (before, its objects are still the job's). One canceled before it ran leaves every object.
        const errors = await api.validationErrors(id, ctx);
        if (!errors.length) residual.push(...(await leftBy(job, "Stripe's redaction job was canceled before it ran", api, ctx)));
        else if (job.status === "canceling") pending.push(id);
        else {
          const split = await refusedBy(job, errors, api, ctx);
          residual.push(...split.residual);
          if (split.retry) retried.push(split.retry);
        }
        break;
      }
      default:
        pending.push(id);
        atWork += countOf(job);
        if (job.status === "redacting") running = true;
    }
  }
  waiting.unshift(...retried);
  let started = 0;
  while (!heldBack && waiting.length && pending.length < MAX_JOBS) {
    const batch = waiting.shift()!;
    const id = await createJob(api, batch, ctx, live);
    if (!pending.includes(id)) (pending.push(id), (atWork += sizeOf(batch)));
    started += 1;
  }
  const heldWaiting = heldBack ? waiting.splice(0).reduce((n, objects) => n + sizeOf(objects), 0) : 0;
  ctx.logger.info({ jobs: jobs.length, pending: pending.length, started, waiting: waiting.length, redacted, withdrawn: withdrawn + heldWaiting, residual: residual.reduce((n, r) => n + r.count, 0) }, "Stripe redaction jobs polled");
  const done = { erased: redacted, redacted, ...(residual.length ? { residual } : {}) };
  return pending.length || waiting.length ? { ...done, remote: { reference: referenceOf(pending, waiting), pollAfterMs, pending: pendingStatement(atWork, pending.length, waiting), ...(running ? {} : { revocable: true }) } } : done;
}
