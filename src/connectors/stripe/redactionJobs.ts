import type { ErasureOutcome, ResidualRecords, TaskContext } from "../sdk";
import type { ToRedact } from "./erasure";
import { ResidueTally, residualOf, writeKey } from "./erasure";
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
/** Jobs one erasure waits for: their ids must fit the task's remote reference (2000 characters). */
export const MAX_JOBS = 60;

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

/** The personal fields a job's object of each kind is expected to lose (named when it cannot). */
const FIELDS_LEFT: Record<RedactedKind, readonly string[]> = {
  charge: ["billing_details", "shipping"],
  invoice: ["customer_name", "customer_email", "customer_phone", "customer_address", "customer_shipping"],
  checkout_session: ["customer_details", "customer_email", "shipping_details"],
  payment_intent: ["receipt_email", "shipping"],
};

/** Collects what erase hands to redaction jobs and starts the jobs, customer by customer. */
export class Redactor {
  readonly jobs: string[] = [];
  readonly residual: ResidualRecords[] = [];

  constructor(private readonly api: RedactionApi) {}

  /**
   * Creates the jobs for these objects (before their customer is deleted: a restart then finds them
   * again, and the same idempotency key returns the same job). Beyond MAX_JOBS, objects stay residual.
   */
  async start(items: readonly ToRedact[], ctx: TaskContext): Promise<void> {
    for (const batch of jobBatches(items)) {
      if (this.jobs.length >= MAX_JOBS) {
        for (const kind of KINDS) {
          const n = idsIn(batch, kind).length;
          if (n) this.residual.push(residualOf(kind, n, FIELDS_LEFT[kind], "more objects than one erasure's redaction jobs hold; retrying the task redacts them"));
        }
        continue;
      }
      const ids = KINDS.flatMap((kind) => idsIn(batch, kind)).sort();
      const job = await this.api.create(batch, writeKey(ctx.idempotencyKey, "redaction_job.create", ids.join(",")), ctx);
      if (!this.jobs.includes(job.id)) this.jobs.push(job.id);
      await ctx.heartbeat();
    }
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
 * objects are not locked), and asks to be polled again while any job is still at work.
 */
export async function pollRedaction(reference: string, api: RedactionApi, ctx: TaskContext, pollAfterMs: number): Promise<ErasureOutcome> {
  const pending: string[] = [];
  let redacted = 0;
  /** Objects of jobs a legal hold withdrew before they ran (canceled: the hold keeps them). */
  let withdrawn = 0;
  let heldBack = false;
  const residual: ResidualRecords[] = [];
  for (const id of reference.split(",").filter(Boolean)) {
    const job = await api.retrieve(id, ctx);
    await ctx.heartbeat();
    switch (job.status) {
      case "ready": {
        // Running the job is the erasure, and Stripe cannot call it back: one unit, fenced until the job
        // ends. A hold placed on PAYMENTS since the job was created withdraws it: the job is canceled and
        // its objects stay, the hold's.
        const ran = !heldBack && (await ctx.eraseUnit("PAYMENTS", async () => void (await api.run(id, writeKey(ctx.idempotencyKey, "redaction_job.run", id), ctx)), undefined, { remote: true }));
        if (ran) pending.push(id);
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
    }
  }
  ctx.logger.info({ jobs: reference.split(",").length, pending: pending.length, redacted, withdrawn, residual: residual.reduce((n, r) => n + r.count, 0) }, "Stripe redaction jobs polled");
  const done = { erased: redacted, redacted, ...(residual.length ? { residual } : {}) };
  return pending.length ? { ...done, remote: { reference: pending.join(","), pollAfterMs } } : done;
}
