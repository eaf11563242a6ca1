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
 * Creates one job for these objects. The idempotency key names the task and the objects, so a restart
 * (of the erase, or of the poll that gave them a job) gets the same job back instead of a second one.
 */
async function createJob(api: RedactionApi, objects: JobObjects, ctx: TaskContext): Promise<string> {
  const ids = KINDS.flatMap((kind) => idsIn(objects, kind)).sort();
  const job = await api.create(objects, writeKey(ctx.idempotencyKey, "redaction_job.create", ids.join(",")), ctx);
  await ctx.heartbeat();
  return job.id;
}

/** Collects what erase hands to redaction jobs and starts the jobs, customer by customer. */
export class Redactor {
  readonly jobs: string[] = [];
  /** Objects beyond MAX_JOBS jobs: the polls give them jobs as earlier ones end. */
  readonly waiting: JobObjects[] = [];

  constructor(private readonly api: RedactionApi) {}

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
      const id = await createJob(this.api, batch, ctx);
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
  for (const kind of KINDS) {
    for (const id of idsIn(job.objects as JobObjects | null | undefined, kind)) {
      const o = await api.object(kind, id, ctx);
      const left = o ? personalFields(kind, o) : [];
      if (left.length) residue.add(kind, left, reason);
    }
  }
  return residue.list();
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
      case "failed": {
        const codes = [...new Set((await api.validationErrors(id, ctx)).map((e) => e.code))].sort();
        await api.cancel(id, writeKey(ctx.idempotencyKey, "redaction_job.cancel", id), ctx);
        residual.push(...(await leftBy(job, `Stripe's redaction job failed validation (${codes.join(", ") || "no reason given"}) and was canceled`, api, ctx)));
        break;
      }
      case "canceled":
      case "canceling":
        residual.push(...(await leftBy(job, "Stripe's redaction job was canceled before it ran", api, ctx)));
        break;
      default:
        pending.push(id);
        atWork += countOf(job);
        if (job.status === "redacting") running = true;
    }
  }
  let started = 0;
  while (!heldBack && waiting.length && pending.length < MAX_JOBS) {
    const batch = waiting.shift()!;
    const id = await createJob(api, batch, ctx);
    if (!pending.includes(id)) (pending.push(id), (atWork += sizeOf(batch)));
    started += 1;
  }
  const heldWaiting = heldBack ? waiting.splice(0).reduce((n, objects) => n + sizeOf(objects), 0) : 0;
  ctx.logger.info({ jobs: jobs.length, pending: pending.length, started, waiting: waiting.length, redacted, withdrawn: withdrawn + heldWaiting, residual: residual.reduce((n, r) => n + r.count, 0) }, "Stripe redaction jobs polled");
  const done = { erased: redacted, redacted, ...(residual.length ? { residual } : {}) };
  return pending.length || waiting.length ? { ...done, remote: { reference: referenceOf(pending, waiting), pollAfterMs, pending: pendingStatement(atWork, pending.length, waiting), ...(running ? {} : { revocable: true }) } } : done;
}
