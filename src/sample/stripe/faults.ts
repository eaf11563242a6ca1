import { seededRandom } from "../people";

/** What a faulty call does: answer 500, answer 429 with Retry-After, or never answer in time. */
export type FaultKind = "500" | "429" | "hang";

/**
 * Faults on demand. A `rate` of the calls (after authentication) fail with one of `kinds`, picked at
 * random; `next` holds faults for the very next calls, in order. A hung write is carried out and its
 * answer withheld (as when a response is lost), so a retry with the same key must be replayed.
 */
export class StripeFaults {
  /** Share of calls that fail, 0 to 1. */
  rate = 0;
  /** Faults the rate picks from. */
  kinds: FaultKind[] = ["500", "429", "hang"];
  /** Retry-After of a 429, in whole seconds (HTTP's unit). */
  retryAfterSeconds = 1;
  /** How long a hung call is held before its (late) answer; longer than any client's timeout. */
  hangMs = 60_000;
  /** Routes (e.g. `GET /v1/events`) the API key may not call: answered 403, as Stripe answers a restricted key without the permission. */
  forbidden?: RegExp;
  /** Stripe-Should-Retry sent with an injected 500 or 429 ("true" or "false"); none when unset. */
  shouldRetry?: "true" | "false";
  /** Every call waits this long before it is handled (a remote system's round trip); 0: none. */
  latencyMs = 0;
  /** Faults for the next calls, used first. */
  readonly next: FaultKind[] = [];
  /** Only calls whose route (e.g. `POST /v1/charges/:id`) matches may fail; all when unset. */
  match?: RegExp;
  private random = seededRandom(42);

  /** Sets the rate and kinds (and optionally the seed, for a repeatable sequence). */
  set(options: { rate: number; kinds?: FaultKind[]; retryAfterSeconds?: number; seed?: number; match?: RegExp }): void {
    if (!(options.rate >= 0 && options.rate <= 1)) throw new RangeError("fault rate must be from 0 to 1");
    this.rate = options.rate;
    if (options.kinds) this.kinds = [...options.kinds];
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.seed !== undefined) this.random = seededRandom(options.seed);
    this.match = options.match;
  }

  /** No more faults. */
  clear(): void {
    this.rate = 0;
    this.next.length = 0;
    this.match = undefined;
    this.shouldRetry = undefined;
    this.forbidden = undefined;
  }

  /** The fault for this call to `route`, if any. */
  pick(route: string): FaultKind | undefined {
    if (this.match && !this.match.test(route)) return undefined;
    const queued = this.next.shift();
    if (queued) return queued;
    if (this.rate === 0 || this.random() >= this.rate) return undefined;
    return this.kinds[Math.floor(this.random() * this.kinds.length)];
  }
}

/** How one call ended, as the stand-in saw it. */
export type CallOutcome = "ok" | "replayed" | "error" | "unauthorized" | FaultKind;

/** One call, in the order received. */
export interface CallEntry {
  /** Date.now() when the call arrived. */
  at: number;
  method: string;
  /** The route's pattern, e.g. `GET /v1/customers/:id` (no ids: the log may be printed). */
  route: string;
  outcome: CallOutcome;
  /** For a 429: the Retry-After sent, in milliseconds. */
  retryAfterMs?: number;
}

/** Counters of the calls the stand-in answered (or withheld), for tests to assert on. */
export class StripeCalls {
  readonly log: CallEntry[] = [];
  /** Calls per route pattern. */
  readonly byRoute: Record<string, number> = {};

  record(entry: CallEntry): void {
    this.log.push(entry);
    this.byRoute[entry.route] = (this.byRoute[entry.route] ?? 0) + 1;
  }

  get total(): number {
    return this.log.length;
  }

  /** How many calls ended one way. */
  count(outcome: CallOutcome): number {
    return this.log.filter((c) => c.outcome === outcome).length;
  }

  /** Forgets every call (side effects are counted by the store). */
  reset(): void {
    this.log.length = 0;
    for (const k of Object.keys(this.byRoute)) delete this.byRoute[k];
  }
}
