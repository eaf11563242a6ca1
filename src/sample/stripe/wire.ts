import { StripeObject } from "./seed";

/**
 * Stripe's wire conventions the stand-in follows: error objects, list objects with `starting_after`
 * pagination, and form-encoded updates where an empty string unsets a field.
 */

/** An error answered as `{ error: { type, message, code, param } }`. */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }

  toJSON(): { error: Record<string, unknown> } {
    return { error: { type: this.type, message: this.message, ...(this.code ? { code: this.code } : {}), ...(this.param ? { param: this.param } : {}) } };
  }
}

export const invalid = (message: string, param?: string, code = "parameter_invalid") => new StripeApiError(400, "invalid_request_error", message, code, param);
export const missing = (what: string, id: string, param?: string) => new StripeApiError(404, "invalid_request_error", `No such ${what}: '${id}'`, "resource_missing", param);

/** The parameters of a call: query and form body together, as Stripe reads them. */
export type Params = Record<string, unknown>;

/** Rejects parameters an endpoint does not take, as Stripe does ("Received unknown parameter"). */
export function onlyKnown(params: Params, allowed: readonly string[]): void {
  for (const key of Object.keys(params)) if (key !== "expand" && !allowed.includes(key)) throw invalid(`Received unknown parameter: ${key}`, key, "parameter_unknown");
}

/** A list object: `limit` (1-100, default 10) objects after `starting_after` or before `ending_before`. */
export function listPage(url: string, items: StripeObject[], params: Params, what: string): Record<string, unknown> {
  const limit = params.limit === undefined ? 10 : Number(params.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid("Invalid integer: limit must be between 1 and 100", "limit");
  if (params.starting_after !== undefined && params.ending_before !== undefined) throw invalid("You may only specify one of these parameters: ending_before, starting_after.");
  let from = 0;
  let to = items.length;
  for (const param of ["starting_after", "ending_before"] as const) {
    const cursor = params[param];
    if (cursor === undefined) continue;
    const at = items.findIndex((o) => o.id === cursor);
    if (at < 0) throw missing(what, String(cursor), param);
    if (param === "starting_after") from = at + 1;
    else to = at;
  }
  const data = params.ending_before !== undefined ? items.slice(Math.max(from, to - limit), to) : items.slice(from, from + limit);
  const hasMore = params.ending_before !== undefined ? to - limit > from : from + limit < to;
  return { object: "list", data, has_more: hasMore, url };
}

/**
 * Stripe's `created` filter of a list: a Unix time (exactly then), or a range of `gt`, `gte`, `lt`,
 * `lte` (seconds); none given lets every object through.
 */
export function createdFilter(params: Params): (o: StripeObject) => boolean {
  const given = params.created;
  if (given === undefined) return () => true;
  const seconds = (v: unknown, param: string) => {
    const n = typeof v === "string" && /^\d{1,12}$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw invalid("Invalid timestamp: must be an integer Unix timestamp", param);
    return n;
  };
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    const at = seconds(given, "created");
    return (o) => o.created === at;
  }
  const bounds = given as Record<string, unknown>;
  for (const k of Object.keys(bounds)) if (!["gt", "gte", "lt", "lte"].includes(k)) throw invalid(`Received unknown parameter: created[${k}]`, `created[${k}]`, "parameter_unknown");
  const b = Object.fromEntries(Object.entries(bounds).map(([k, v]) => [k, seconds(v, `created[${k}]`)]));
  return (o) => {
    const c = o.created ?? 0;
    return (b.gt === undefined || c > b.gt) && (b.gte === undefined || c >= b.gte) && (b.lt === undefined || c < b.lt) && (b.lte === undefined || c <= b.lte);
  };
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Applies a form-encoded update: "" unsets (metadata keys are removed, `metadata=""` clears all). */
export function applyUpdate(target: Record<string, unknown>, params: Params): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(params)) {
    if (key === "expand") continue;
    if (key === "metadata") {
      const metadata: Record<string, unknown> = value === "" || !isPlain(target.metadata) ? {} : { ...target.metadata };
      if (isPlain(value)) {
        for (const [k, v] of Object.entries(value)) {
          if (v === "") delete metadata[k];
          else metadata[k] = String(v);
        }
      }
      out.metadata = metadata;
    } else if (value === "") out[key] = null;
    else if (isPlain(value)) out[key] = applyUpdate(isPlain(target[key]) ? target[key] : {}, value);
    else out[key] = value;
  }
  return out;
}

/** Canonical JSON (sorted keys) of a call's parameters: what an idempotency key is bound to. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isPlain(value))
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(",")}}`;
  return JSON.stringify(value) ?? "null";
}
