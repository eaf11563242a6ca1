import { randomBytes } from "node:crypto";
import type { Endpoint } from "./routes";
import { Collection, StripeObject } from "./seed";
import { JOB_LISTS, JobList, StoredRedactionJob, StripeStore } from "./store";
import { invalid, listPage, missing, Params } from "./wire";

/**
 * Stripe's redaction jobs (privacy API), as the stand-in plays them. A job is created with object ids
 * (customers, charges, invoices, Checkout Sessions, PaymentIntents; at most 10) and starts `validating`; each retrieve moves a job one step
 * on, unless the desk is paused (a job that takes days): validating -> ready | failed (with validation
 * errors), redacting -> succeeded (the objects' personal fields then show `[redacted]`), canceling ->
 * canceled. `run` moves ready -> redacting; `cancel` ready | failed -> canceling; `validate` failed ->
 * validating. Redacting a customer redacts every object of it; an invoice, the charge that paid it.
 */

/** What a test can do to the stand-in's redaction jobs. */
export interface RedactionDesk {
  /** While true, jobs do not move on (Stripe takes its time). */
  paused: boolean;
  /** Object ids whose validation fails (invalid_state), to play a refused redaction. */
  refuse: Set<string>;
  /** Jobs succeed without redacting anything: a processor claiming work it did not do (tests of the verification pass). */
  pretend?: boolean;
}

/** Stripe's limit of object ids per job. */
const MAX_IDS = 10;
const REDACTED = "[redacted]";
const TERMINAL = new Set(["succeeded", "canceled"]);

/** The personal fields of each kind the stand-in redacts. */
const PERSONAL: Partial<Record<Collection, readonly string[]>> = {
  customer: ["email", "name", "phone", "address", "shipping", "description"],
  payment_method: ["billing_details"],
  charge: ["billing_details", "receipt_email", "description", "shipping"],
  invoice: ["customer_name", "customer_email", "customer_phone", "customer_address", "customer_shipping", "description", "footer"],
  checkout_session: ["customer_details", "customer_email", "shipping_details"],
  payment_intent: ["receipt_email", "shipping"],
};

function redactValue(v: unknown): unknown {
  if (v === null || v === undefined || v === "") return v;
  if (typeof v === "object") return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, redactValue(x)]));
  return REDACTED;
}

function redactObject(store: StripeStore, name: Collection, id: string): void {
  const o = store.get(name, id);
  if (!o || o.deleted) return;
  const out: StripeObject = { ...o, metadata: {} };
  for (const f of PERSONAL[name] ?? []) if (f in out) out[f] = redactValue(out[f]);
  store.put(out, `${name}.redact`);
}

/** Every object a job redacts: its roots and what hangs off them. */
function redactJob(store: StripeStore, job: StoredRedactionJob): void {
  for (const id of job.objects.customers) {
    for (const name of ["payment_method", "charge", "invoice", "subscription", "checkout_session", "payment_intent"] as const) for (const o of store.all(name).filter((x) => x.customer === id)) redactObject(store, name, o.id);
    redactObject(store, "customer", id);
  }
  for (const id of job.objects.invoices) {
    const invoice = store.get("invoice", id);
    if (typeof invoice?.charge === "string") redactObject(store, "charge", invoice.charge);
    redactObject(store, "invoice", id);
  }
  for (const list of ["charges", "checkout_sessions", "payment_intents"] as const) for (const id of job.objects[list]) redactObject(store, JOB_LISTS[list], id);
}

/** A job's objects by collection. */
const objectsOf = (job: StoredRedactionJob): [Collection, string][] =>
  (Object.entries(JOB_LISTS) as [JobList, Collection][]).flatMap(([list, name]) => job.objects[list].map((id): [Collection, string] => [name, id]));

const ids = (v: unknown): string[] => (v === undefined || v === "" ? [] : Array.isArray(v) ? v.map(String) : typeof v === "object" && v ? Object.values(v).map(String) : [String(v)]);

/** The validation errors of a job's objects now. */
function validate(store: StripeStore, job: StoredRedactionJob, desk: RedactionDesk): StoredRedactionJob["validationErrors"] {
  const errors: StoredRedactionJob["validationErrors"] = [];
  const error = (code: string, message: string, object?: { id: string; object_type: string }) =>
    errors.push({ id: `prjve_${randomBytes(8).toString("hex")}`, object: "privacy.redaction_job_validation_error", code, message, erroring_object: object ?? null });
  const all = objectsOf(job);
  if (all.length > MAX_IDS) error("too_many_objects", `A redaction job takes at most ${MAX_IDS} object ids.`);
  // Objects of live jobs created before this one are theirs.
  const earlier = [...store.redactionJobs.values()];
  const locked = new Set(earlier.slice(0, Math.max(0, earlier.findIndex((j) => j.id === job.id))).filter((j) => !TERMINAL.has(j.status) && j.status !== "failed").flatMap((j) => objectsOf(j).map(([, id]) => id)));
  for (const [name, id] of all) {
    const o = store.get(name, id);
    if (!o || o.deleted) error("invalid_state", `The ${name} cannot be redacted: it does not exist.`, { id, object_type: name });
    else if (locked.has(id)) error("locked_by_other_job", `The ${name} is part of another redaction job.`, { id, object_type: name });
    else if (desk.refuse.has(id)) error("invalid_state", `The ${name} is not redactable in its current state.`, { id, object_type: name });
  }
  return errors;
}

function job(store: StripeStore, id: string): StoredRedactionJob {
  const found = store.redactionJobs.get(id);
  if (!found) throw missing("privacy.redaction_job", id);
  return found;
}

/** The job as Stripe answers it (validation errors are their own list). */
const shown = ({ validationErrors: _errors, ...rest }: StoredRedactionJob) => rest;

/** One step on for a retrieved job, unless the desk is paused. */
function advance(store: StripeStore, j: StoredRedactionJob, desk: RedactionDesk): StoredRedactionJob {
  if (desk.paused) return j;
  if (j.status === "validating") {
    const validationErrors = validate(store, j, desk);
    return store.putJob({ ...j, status: validationErrors.length ? "failed" : "ready", validationErrors }, `redaction_job.${validationErrors.length ? "failed" : "ready"}`);
  }
  if (j.status === "redacting") {
    if (!desk.pretend) redactJob(store, j);
    return store.putJob({ ...j, status: "succeeded" }, "redaction_job.succeeded");
  }
  if (j.status === "canceling") return store.putJob({ ...j, status: "canceled" }, "redaction_job.canceled");
  return j;
}

function move(store: StripeStore, id: string, from: readonly StoredRedactionJob["status"][], to: StoredRedactionJob["status"], verb: string): StoredRedactionJob {
  const j = job(store, id);
  if (!from.includes(j.status)) throw invalid(`A redaction job can be ${verb} only in the ${from.join(" or ")} status; this one is ${j.status}.`, undefined, "redaction_job_invalid_state");
  return store.putJob({ ...j, status: to, ...(to === "validating" ? { validationErrors: [] } : {}) }, `redaction_job.${verb}`);
}

/** The redaction-job endpoints, given the desk tests steer. */
export function redactionEndpoints(desk: RedactionDesk): Endpoint[] {
  const base = "/v1/privacy/redaction_jobs";
  return [
    {
      method: "POST",
      path: base,
      params: ["objects", "validation_behavior"],
      handle: (store, params: Params) => {
        const objects = (params.objects ?? {}) as Record<string, unknown>;
        if (typeof objects !== "object") throw invalid("objects must be a hash of id lists", "objects");
        for (const k of Object.keys(objects)) if (!(k in JOB_LISTS)) throw invalid(`This stand-in redacts customers, charges, invoices, Checkout Sessions and PaymentIntents, not ${k}`, `objects[${k}]`, "parameter_unknown");
        const behavior = params.validation_behavior ?? "error";
        if (behavior !== "error" && behavior !== "fix") throw invalid("validation_behavior must be error or fix", "validation_behavior");
        const created: StoredRedactionJob = {
          id: `prj_${randomBytes(12).toString("hex")}`,
          object: "privacy.redaction_job",
          created: Math.floor(store.clock.now().getTime() / 1000),
          livemode: false,
          status: "validating",
          validation_behavior: behavior,
          objects: Object.fromEntries(Object.keys(JOB_LISTS).map((list) => [list, ids(objects[list])])) as StoredRedactionJob["objects"],
          validationErrors: [],
        };
        if (!objectsOf(created).length) throw invalid("Provide at least one object to redact.", "objects");
        return shown(store.putJob(created, "redaction_job.create"));
      },
    },
    { method: "GET", path: base, params: ["limit", "starting_after", "ending_before", "status"], handle: (store, params) => listPage(base, [...store.redactionJobs.values()].reverse().map(shown) as never, params, "privacy.redaction_job") },
    { method: "GET", path: `${base}/:id`, params: [], handle: (store, _p, { id }) => shown(advance(store, job(store, id), desk)) },
    { method: "POST", path: `${base}/:id/run`, params: [], handle: (store, _p, { id }) => shown(move(store, id, ["ready"], "redacting", "run")) },
    { method: "POST", path: `${base}/:id/cancel`, params: [], handle: (store, _p, { id }) => shown(move(store, id, ["ready", "failed"], "canceling", "canceled")) },
    { method: "POST", path: `${base}/:id/validate`, params: [], handle: (store, _p, { id }) => shown(move(store, id, ["failed"], "validating", "validated")) },
    {
      method: "GET",
      path: `${base}/:id/validation_errors`,
      params: ["limit", "starting_after", "ending_before"],
      handle: (store, params, { id }) => listPage(`${base}/${id}/validation_errors`, job(store, id).validationErrors as never, params, "privacy.redaction_job_validation_error"),
    },
  ];
}
