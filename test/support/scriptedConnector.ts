import { Connector, ConnectorError, ConnectorSpec, ErasureInstruction, ErasureOutcome, Identities, KeptRecords, NotSearchedRecords, RosterContext, RosterEntry, SubjectRecord, TaskContext } from "../../src/connectors/sdk";

/** What the next call of a step does. */
export type Behaviour =
  | { kind: "ok" }
  | { kind: "retryable"; retryAfterMs?: number }
  | { kind: "fatal" }
  | { kind: "hang" }
  | { kind: "throw" }
  | { kind: "remote"; pollAfterMs: number; polls: number };

export interface Call {
  step: string;
  attempt: number;
  at: Date;
  wallMs: number;
  idempotencyKey: string;
}

/**
 * A real connector for orchestrator tests whose every call can be told to succeed, fail retryably (with
 * Retry-After), fail for good, hang past its lease, or hand work to a slow "remote system". It counts
 * side effects per idempotency key, as a remote system honouring idempotency keys would.
 */
export class ScriptedConnector implements Connector {
  readonly spec: ConnectorSpec;
  readonly calls: Call[] = [];
  /** Erasures that reached the remote system, per idempotency key. */
  readonly effects = new Map<string, number>();
  readonly data = new Map<string, SubjectRecord[]>();
  /** The instructions erase received, in order. */
  readonly instructions: ErasureInstruction[] = [];
  private readonly scripts = new Map<string, Behaviour[]>();
  private remotePolls = new Map<string, number>();
  delayMs = 0;
  /** A faulty system: erase reports success but deletes nothing (the verification pass must notice). */
  eraseIsNoop = false;
  /** Kept sets erase reports on top of what it really kept (a connector at fault). */
  extraKept: KeptRecords[] = [];
  /** Kinds of record collect reports it could not search for (ctx.notSearched). */
  notSearched: NotSearchedRecords[] = [];

  constructor(spec: Partial<ConnectorSpec> & { name: string }, private readonly provide: Record<string, string> = {}) {
    this.spec = { version: "1.0.0", supports: ["access", "erasure", "rectification"], needs: ["email"], provides: [], categories: ["ACCOUNT"], ...spec };
  }

  /** Queues behaviours for the next calls of a step (resolve, collect, erase, rectify). */
  script(step: string, ...behaviours: Behaviour[]): this {
    this.scripts.set(step, [...(this.scripts.get(step) ?? []), ...behaviours]);
    return this;
  }

  seed(email: string, count: number): this {
    this.data.set(
      email,
      Array.from({ length: count }, (_, i) => ({ category: this.spec.categories[0], type: "row", id: `${this.spec.name}-${i}`, data: { n: i, note: `row ${i}` } })),
    );
    return this;
  }

  /** Seeds one record per date (type `row`), for retention tests. */
  seedDated(email: string, dates: Date[]): this {
    this.data.set(
      email,
      dates.map((recordedAt, i) => ({ category: this.spec.categories[0], type: "row", id: `${this.spec.name}-${i}`, data: { n: i }, recordedAt })),
    );
    return this;
  }

  callsOf(step: string): Call[] {
    return this.calls.filter((c) => c.step === step);
  }

  protected async act(step: string, ctx: Pick<TaskContext, "attempt" | "now" | "idempotencyKey" | "signal">): Promise<Behaviour> {
    this.calls.push({ step, attempt: ctx.attempt, at: ctx.now(), wallMs: Date.now(), idempotencyKey: ctx.idempotencyKey });
    const behaviour = this.scripts.get(step)?.shift() ?? { kind: "ok" };
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    switch (behaviour.kind) {
      case "retryable":
        throw new ConnectorError("The system is busy; will retry", `scripted retryable failure of ${step}`, true, behaviour.retryAfterMs);
      case "fatal":
        throw new ConnectorError("The system refused the request", `scripted fatal failure of ${step}`, false);
      case "throw":
        throw new TypeError("scripted bug: cannot read properties of undefined");
      case "hang":
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
        throw new Error("aborted");
    }
    return behaviour;
  }

  async check() {
    return { ok: true, message: `${this.spec.name} reachable` };
  }

  async resolve(ids: Identities, ctx: TaskContext) {
    await this.act("resolve", ctx);
    return this.provide;
  }

  async *collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord> {
    await this.act("collect", ctx);
    for (const set of this.notSearched) ctx.notSearched?.(set);
    for (const record of this.data.get(ids.email) ?? []) yield record;
  }

  async erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
    const behaviour = await this.act("erase", ctx);
    this.instructions.push(instruction);
    this.effects.set(ctx.idempotencyKey, (this.effects.get(ctx.idempotencyKey) ?? 0) + 1);
    const all = this.data.get(ids.email) ?? [];
    // Records inside retention stay, as a real system's would; the rest go.
    const keeps = (r: SubjectRecord) => {
      const since = instruction.keepRecordedSince?.[r.category];
      return !instruction.categories.includes(r.category) || (since !== undefined && r.recordedAt !== undefined && r.recordedAt >= since);
    };
    const left = this.eraseIsNoop ? all : all.filter(keeps);
    const erased = all.length - left.length;
    if (left.length) this.data.set(ids.email, left);
    else this.data.delete(ids.email);
    const keptDated = all.filter(keeps).filter((r) => r.recordedAt && instruction.categories.includes(r.category));
    const kept: KeptRecords[] = keptDated.length
      ? [{ category: keptDated[0].category, type: "row", count: keptDated.length, newestRecordedAt: new Date(Math.max(...keptDated.map((r) => r.recordedAt!.getTime()))) }]
      : [];
    if (behaviour.kind === "remote") {
      this.remotePolls.set(ctx.idempotencyKey, behaviour.polls);
      return { erased, remote: { reference: `job-${ctx.idempotencyKey}`, pollAfterMs: behaviour.pollAfterMs } };
    }
    return { erased, kept: [...kept, ...this.extraKept] };
  }

  async poll(reference: string, ctx: TaskContext): Promise<ErasureOutcome> {
    this.calls.push({ step: "poll", attempt: ctx.attempt, at: ctx.now(), wallMs: Date.now(), idempotencyKey: ctx.idempotencyKey });
    const left = (this.remotePolls.get(ctx.idempotencyKey) ?? 1) - 1;
    this.remotePolls.set(ctx.idempotencyKey, left);
    return left > 0 ? { erased: 0, remote: { reference, pollAfterMs: 50 } } : { erased: 0 };
  }

  async rectify(_ids: Identities, changes: readonly { field: string; value: string }[], ctx: TaskContext) {
    await this.act("rectify", ctx);
    return { changed: changes.map((c) => c.field).filter((f) => f !== "unknownField"), notHeld: changes.map((c) => c.field).filter((f) => f === "unknownField") };
  }
}

/**
 * A ScriptedConnector that also lists the people it holds (listSubjects, one entry per seeded email with
 * its record count), scripted like its other calls under the step `list`.
 */
export class ListingConnector extends ScriptedConnector {
  /** When set, listings wait for it before their first entry, whatever their signal says (a stalled attempt). */
  gate?: Promise<void>;
  /** Listings that yielded their last entry. */
  finished = 0;
  /** When set, each listing says, after its entries, that it could not reach these people (ctx.notListed). */
  unreached?: string;

  async *listSubjects(ctx: RosterContext): AsyncIterable<RosterEntry> {
    await this.act("list", { attempt: 0, now: () => new Date(), idempotencyKey: "", signal: ctx.signal });
    await this.gate;
    for (const [email, records] of this.data) {
      await ctx.heartbeat();
      yield { identities: { email }, records: records.length };
    }
    if (this.unreached) ctx.notListed?.(this.unreached);
    this.finished += 1;
  }
}
