import type { ErrorCode } from "../errors";
import { hashToken } from "../auth/tokens";

/**
 * The code of a rate-limited answer, the one code of `ERROR_CODES` that does not say the operation is
 * wrong (or not allowed): it says "the same operation will work later", which a client must be able to
 * tell apart to retry. The HTTP status (429)
 * and `Retry-After` carry the same meaning for clients that read only HTTP.
 */
export const RATE_LIMITED: ErrorCode = "RATE_LIMITED";

export interface RateLimitOptions {
  /** Tokens added per second (the sustained rate). */
  perSecond: number;
  /** Bucket size: how many operations may arrive at once after a quiet spell. */
  burst: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full (idle) ones are dropped; a full bucket is the same as no bucket. */
const SWEEP_ABOVE = 10_000;

/** A refusal: when to retry, and the GraphQL-shaped answer to send with HTTP 429. */
export interface RateLimitRefusal {
  retryAfterSeconds: number;
  body: { errors: [{ message: string; extensions: { code: ErrorCode; retryAfterSeconds: number } }] };
}

/**
 * A token bucket per bearer token (keyed by its SHA-256, so the map holds no credentials). Requests without
 * a token are not limited here: they are refused before any work. Buckets live in this process: with N
 * `serve` processes behind a balancer a token gets up to N times the rate, which the limits allow for.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    // Monotonic: a wall clock stepped back (NTP) would otherwise drain every bucket for as long as the step.
    this.now = options.now ?? (() => performance.now());
  }

  /** Takes one operation from a bearer token's bucket: null when allowed (or without a token), else the refusal. */
  take(token: string | null): RateLimitRefusal | null {
    if (!token) return null;
    const key = hashToken(token);
    const t = this.now();
    if (this.buckets.size > SWEEP_ABOVE) {
      for (const [k, b] of this.buckets) {
        this.refill(b, t);
        if (b.tokens >= this.options.burst) this.buckets.delete(k);
      }
    }
    const bucket = this.buckets.get(key) ?? { tokens: this.options.burst, at: t };
    this.buckets.set(key, bucket);
    this.refill(bucket, t);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return null;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.perSecond));
    return {
      retryAfterSeconds,
      body: { errors: [{ message: `Too many requests with this token; retry in ${retryAfterSeconds} s`, extensions: { code: RATE_LIMITED, retryAfterSeconds } }] },
    };
  }

  private refill(b: Bucket, t: number): void {
    b.tokens = Math.min(this.options.burst, b.tokens + ((t - b.at) / 1000) * this.options.perSecond);
    b.at = t;
  }
}
