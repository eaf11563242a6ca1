import type { ErrorCode } from "../errors";
import { createHash } from "node:crypto";
import type { RequestHandler } from "express";

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

/**
 * A token bucket per bearer token (keyed by its SHA-256, so the map holds no credentials). Requests without
 * a token are not limited here: they are refused before any work. Buckets live in this process: with N
 * `serve` processes behind a balancer a token gets up to N times the rate, which the limits allow for.
 */
export function rateLimitByToken(options: RateLimitOptions): RequestHandler {
  const now = options.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  const refill = (b: Bucket, t: number) => {
    b.tokens = Math.min(options.burst, b.tokens + ((t - b.at) / 1000) * options.perSecond);
    b.at = t;
  };
  return (req, res, next) => {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!token) return next();
    const key = createHash("sha256").update(token).digest("base64url");
    const t = now();
    if (buckets.size > SWEEP_ABOVE) {
      for (const [k, b] of buckets) {
        refill(b, t);
        if (b.tokens >= options.burst) buckets.delete(k);
      }
    }
    const bucket = buckets.get(key) ?? { tokens: options.burst, at: t };
    buckets.set(key, bucket);
    refill(bucket, t);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return next();
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / options.perSecond));
    res
      .status(429)
      .set("Retry-After", String(retryAfterSeconds))
      .json({
        errors: [{ message: `Too many requests with this token; retry in ${retryAfterSeconds} s`, extensions: { code: RATE_LIMITED, retryAfterSeconds } }],
      });
  };
}
