import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { SamplePerson } from "../people";
import { Collection, collectionOf, COLLECTIONS, seedPerson, StripeObject } from "./seed";
import { makeFolder } from "../../folders";
import { Clock, systemClock } from "../../clock";

/** An answer the stand-in gave to a POST or DELETE with an Idempotency-Key, replayed on a repeat. */
export interface StoredAnswer {
  /** Method, path and parameters the key was first used with. */
  fingerprint: string;
  status: number;
  body: unknown;
  /** Unix seconds; Stripe keeps keys for 24 hours. */
  at: number;
}

/** One side effect, counted so tests can assert it happened exactly once. */
export interface SideEffect {
  /** e.g. `customer.update`, `customer.delete`, `payment_method.detach`, `subscription.cancel`. */
  kind: string;
  id: string;
}

/** The lists of object ids a redaction job takes, each with the collection its ids name. */
export const JOB_LISTS = { customers: "customer", charges: "charge", invoices: "invoice", checkout_sessions: "checkout_session", payment_intents: "payment_intent" } as const satisfies Record<string, Collection>;
export type JobList = keyof typeof JOB_LISTS;

/** A redaction job as the stand-in keeps it (Stripe's `privacy.redaction_job`). */
export interface StoredRedactionJob {
  id: string;
  object: "privacy.redaction_job";
  created: number;
  livemode: false;
  status: "created" | "validating" | "ready" | "failed" | "redacting" | "succeeded" | "canceling" | "canceled";
  validation_behavior: "error" | "fix";
  objects: Record<JobList, string[]>;
  /** Why validation failed, as Stripe's validation error objects. */
  validationErrors: { id: string; object: "privacy.redaction_job_validation_error"; code: string; message: string; erroring_object: { id: string; object_type: string } | null }[];
}

/**
 * An event (Stripe's `event`): what changed, with the object as it was then. Stripe records one for
 * every change and lists them for 30 days (GET /v1/events); the stand-in records customer updates.
 */
export interface StoredEvent {
  id: string;
  object: "event";
  type: string;
  created: number;
  data: { object: StripeObject; previous_attributes?: Record<string, unknown> };
}

interface StateFile {
  format: 1;
  /** Objects changed since the seed (deleted customers as `{ id, object, deleted: true }`). */
  changed: StripeObject[];
  idempotency: [string, StoredAnswer][];
  /** Redaction jobs, in creation order. */
  redactionJobs?: StoredRedactionJob[];
}

const DAY_SECONDS = 86_400;

/**
 * The stand-in's data: the seed plus every change since. With a state file, only the changes are
 * saved (the seed is rebuilt from the people), after each change and atomically (write, then rename),
 * so a restarted sample workspace keeps its erasures.
 */
export class StripeStore {
  private readonly objects = new Map<Collection, Map<string, StripeObject>>(COLLECTIONS.map((c) => [c, new Map()]));
  private readonly changed = new Map<string, StripeObject>();
  readonly idempotency = new Map<string, StoredAnswer>();
  readonly effects: SideEffect[] = [];
  /** Events, oldest first (customer.updated, as customers are changed through the API). */
  readonly events: StoredEvent[] = [];
  /** Redaction jobs by id (see redactionJobs.ts for their states). */
  readonly redactionJobs = new Map<string, StoredRedactionJob>();
  /**
   * How long a created or changed object stays out of Search API results, in ms (0, the default: at
   * once). Stripe documents its search index as lagging behind writes, usually by under a minute, and
   * warns against search in read-after-write flows; list filters read the objects themselves.
   */
  searchLagMs = 0;
  /** Stripe's clock, for idempotency keys' age and redaction jobs' `created` (tests move it). */
  clock: Clock = systemClock;
  /** When each object written since the store started becomes searchable (Date.now() ms). */
  private readonly indexedAt = new Map<string, number>();

  constructor(
    people: readonly SamplePerson[],
    private readonly stateFile?: string,
  ) {
    for (const p of people) for (const o of seedPerson(p)) this.collection(collectionOf(o)).set(o.id, o);
    if (stateFile) this.load(stateFile);
  }

  private collection(name: Collection): Map<string, StripeObject> {
    const found = this.objects.get(name);
    if (!found) throw new Error(`unknown collection ${name}`);
    return found;
  }

  get(name: Collection, id: string): StripeObject | undefined {
    return this.collection(name).get(id);
  }

  /** Every object of a collection, newest first (Stripe's list order), ties broken by id. */
  all(name: Collection): StripeObject[] {
    return [...this.collection(name).values()].sort((a, b) => (b.created ?? 0) - (a.created ?? 0) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** Replaces an object, records the side effect (and, for a customer's update, its event) and saves. */
  put(o: StripeObject, effect: string): StripeObject {
    const before = this.collection(collectionOf(o)).get(o.id);
    if (effect === "customer.update" && before) {
      const previous = Object.fromEntries(Object.keys(o).filter((k) => JSON.stringify(o[k]) !== JSON.stringify(before[k])).map((k) => [k, before[k] ?? null]));
      this.events.push({ id: `evt_${randomBytes(12).toString("hex")}`, object: "event", type: "customer.updated", created: Math.floor(Date.now() / 1000), data: { object: o, previous_attributes: previous } });
    }
    this.collection(collectionOf(o)).set(o.id, o);
    if (this.searchLagMs > 0) this.indexedAt.set(o.id, Date.now() + this.searchLagMs);
    this.changed.set(o.id, o);
    this.effects.push({ kind: effect, id: o.id });
    this.save();
    return o;
  }

  /** Whether the Search API finds the object yet (see searchLagMs); an object not written since the start is indexed. */
  searchable(o: StripeObject): boolean {
    return (this.indexedAt.get(o.id) ?? 0) <= Date.now();
  }

  /** Saves a redaction job's new state. */
  putJob(job: StoredRedactionJob, effect: string): StoredRedactionJob {
    this.redactionJobs.set(job.id, job);
    this.effects.push({ kind: effect, id: job.id });
    this.save();
    return job;
  }

  /**
   * The answer a key replays, if Stripe still keeps it: keys are pruned once 24 hours old, and a key
   * used after that starts a new request (docs.stripe.com/api/idempotent_requests).
   */
  replayable(key: string): StoredAnswer | undefined {
    const answer = this.idempotency.get(key);
    return answer && answer.at > Math.floor(this.clock.now().getTime() / 1000) - DAY_SECONDS ? answer : undefined;
  }

  /** Keeps the answer to an idempotent request (saved with the next change or now). */
  remember(key: string, answer: StoredAnswer): void {
    this.idempotency.set(key, answer);
    const expired = answer.at - DAY_SECONDS;
    for (const [k, a] of this.idempotency) if (a.at < expired) this.idempotency.delete(k);
    this.save();
  }

  /** How many times a side effect happened (to one object, or to any). */
  effectCount(kind: string, id?: string): number {
    return this.effects.filter((e) => e.kind === kind && (id === undefined || e.id === id)).length;
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    const state = JSON.parse(text) as StateFile;
    if (state.format !== 1) throw new Error(`Stripe stand-in state file ${file} has an unknown format`);
    for (const o of state.changed) {
      this.collection(collectionOf(o)).set(o.id, o);
      this.changed.set(o.id, o);
    }
    for (const [key, answer] of state.idempotency) this.idempotency.set(key, answer);
    // Jobs saved before the stand-in took Checkout Sessions and PaymentIntents have no list of them.
    for (const job of state.redactionJobs ?? []) {
      const objects = Object.fromEntries(Object.keys(JOB_LISTS).map((list) => [list, job.objects[list as JobList] ?? []])) as StoredRedactionJob["objects"];
      this.redactionJobs.set(job.id, { ...job, objects });
    }
  }

  private save(): void {
    if (!this.stateFile) return;
    const state: StateFile = { format: 1, changed: [...this.changed.values()], idempotency: [...this.idempotency], redactionJobs: [...this.redactionJobs.values()] };
    makeFolder(dirname(this.stateFile));
    // Write beside, then rename: a crash mid-write leaves the previous state, never half a file.
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, this.stateFile);
  }
}
