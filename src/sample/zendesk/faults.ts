import { seededRandom } from "../people";

/**
 * How a failing call fails: HTTP 500, HTTP 429 with Retry-After, no answer at all, HTTP 200 whose body
 * is an error and not what was asked for (`200-error`: what a proxy or an overloaded front end can answer),
 * or a cursor page that says more follow (`meta.has_more`) without the link to them (`cut-cursor`).
 */
export type FaultKind = "500" | "429" | "hang" | "200-error" | "cut-cursor";

/** A fault for the calls that match; `times` calls fail (then the rule is spent), or all when absent. */
export interface FaultRule {
  kind: FaultKind;
  /** HTTP method to match, e.g. DELETE; any when absent. */
  method?: string;
  /** Path to match (a RegExp, or a substring); any when absent. */
  path?: RegExp | string;
  /** How many matching calls fail; every one when absent. */
  times?: number;
  /** Fail after the handler ran: the side effect happened, its answer is lost (a crash after the write). */
  afterEffect?: boolean;
  /** Retry-After of a 429, in seconds; the faults' default when absent. */
  retryAfterSeconds?: number;
}

/** What the stand-in does instead of (or after) answering one call. */
export interface FaultDecision {
  kind: FaultKind;
  afterEffect: boolean;
  retryAfterSeconds: number;
}

/** A call held on purpose: `reached` settles when a matching call arrives, `release` lets it proceed. */
export interface Pause {
  reached: Promise<void>;
  release(): void;
}

/** Faults on demand: rules, a random failure rate, and Zendesk's per-minute request limit. */
export class ZendeskFaults {
  /** Share of calls (0-1) that fail at random, with one of `kinds`. */
  rate = 0;
  /** The kinds random failures are drawn from. */
  kinds: FaultKind[] = ["500", "429", "hang"];
  /** Retry-After of 429s, in seconds (fractions allowed: the header carries them as written). */
  retryAfterSeconds = 1;
  /** Zendesk's plan limit: more calls than this within a sliding minute get 429; 0 means no limit. */
  requestsPerMinute = 0;
  /** Every call waits this long before it is handled (a remote system's round trip); 0: none. */
  latencyMs = 0;
  rules: FaultRule[] = [];
  private random: () => number;
  private recent: number[] = [];
  private pauses: { method?: string; path?: RegExp | string; arrived: () => void; gate: Promise<void> }[] = [];

  constructor(seed = 4) {
    this.random = seededRandom(seed);
  }

  /** Adds a rule; the returned function removes it again. */
  add(rule: FaultRule): () => void {
    const entry = { ...rule };
    this.rules.push(entry);
    return () => {
      this.rules = this.rules.filter((r) => r !== entry);
    };
  }

  /**
   * Holds the next call that matches before its handler runs, until `release()`: a remote call in flight
   * for as long as a test needs (to act while an erasure is mid-way).
   */
  pause(match: { method?: string; path?: RegExp | string }): Pause {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (arrived = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.pauses.push({ ...match, arrived, gate });
    return { reached, release };
  }

  /** The gate a call must wait for, when a pause matches it (each pause holds one call). */
  gateFor(method: string, path: string): Promise<void> | undefined {
    const i = this.pauses.findIndex((p) => (!p.method || p.method === method) && (!p.path || (typeof p.path === "string" ? path.includes(p.path) : p.path.test(path))));
    if (i < 0) return undefined;
    const [pause] = this.pauses.splice(i, 1);
    pause.arrived();
    return pause.gate;
  }

  /** Back to no faults at all. */
  clear(): void {
    this.rate = 0;
    this.requestsPerMinute = 0;
    this.rules = [];
    this.recent = [];
    this.pauses = [];
  }

  /** Decides the fate of one call (and counts it against the per-minute limit). */
  decide(method: string, path: string, now = Date.now()): FaultDecision | undefined {
    const rule = this.rules.find((r) => (r.times ?? 1) > 0 && (!r.method || r.method === method) && (!r.path || (typeof r.path === "string" ? path.includes(r.path) : r.path.test(path))));
    if (rule) {
      if (rule.times !== undefined) rule.times -= 1;
      return { kind: rule.kind, afterEffect: rule.afterEffect ?? false, retryAfterSeconds: rule.retryAfterSeconds ?? this.retryAfterSeconds };
    }
    if (this.requestsPerMinute > 0) {
      this.recent = this.recent.filter((t) => t > now - 60_000);
      if (this.recent.length >= this.requestsPerMinute) {
        return { kind: "429", afterEffect: false, retryAfterSeconds: Math.ceil((this.recent[0] + 60_000 - now) / 1000) };
      }
      this.recent.push(now);
    }
    if (this.rate > 0 && this.random() < this.rate) {
      const kind = this.kinds[Math.floor(this.random() * this.kinds.length)];
      return { kind, afterEffect: false, retryAfterSeconds: this.retryAfterSeconds };
    }
    return undefined;
  }
}

/** One call the stand-in received. */
export interface CallEntry {
  /** Date.now() when it arrived. */
  at: number;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Status answered; 0 for a hang. */
  status: number;
  /** The fault served, if any. */
  fault?: FaultKind;
}

/** Every call received, in order, for tests to count and time. */
export class ZendeskCalls {
  readonly entries: CallEntry[] = [];

  get total(): number {
    return this.entries.length;
  }

  /** Calls matching the method (any when absent) and path pattern. */
  count(method?: string, path?: RegExp): number {
    return this.entries.filter((e) => (!method || e.method === method) && (!path || path.test(e.path))).length;
  }

  clear(): void {
    this.entries.length = 0;
  }
}
