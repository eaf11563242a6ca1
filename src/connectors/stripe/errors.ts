import { ConnectorError, retryAfterMs } from "../sdk";

/** The calls of the connector, named in error messages. */
export type Operation = "check" | "collect" | "erase" | "roster";

/** The parts of a `stripe` SDK error this mapping reads; its message is never used (it can quote ids). */
interface StripeErrorLike {
  type?: string;
  statusCode?: number;
  code?: string;
  param?: string;
  requestId?: string;
  headers?: Record<string, string>;
}

const isStripeError = (e: unknown): e is StripeErrorLike => typeof e === "object" && e !== null && typeof (e as StripeErrorLike).type === "string" && (e as StripeErrorLike).type!.startsWith("Stripe");

/** Stripe said the object does not exist (resource_missing). */
export const isMissing = (e: unknown): boolean => isStripeError(e) && (e.statusCode === 404 || e.code === "resource_missing");

/** Stripe said the API key may not make the call (a restricted key without that permission). */
export const isForbidden = (e: unknown): boolean => isStripeError(e) && (e.statusCode === 403 || e.type === "StripePermissionError");

/**
 * Turns anything a Stripe call threw into a ConnectorError. Rate limits, 5xx, 409 conflicts,
 * connection failures and time-outs are retryable (a 429 after its Retry-After); a rejected key and
 * refused requests are not. A Stripe-Should-Retry header decides first, either way. User messages name the call, never ids or Stripe's own message.
 */
export function toConnectorError(error: unknown, connector: string, op: Operation): ConnectorError {
  if (error instanceof ConnectorError) return error;
  if (!isStripeError(error)) {
    const kind = error instanceof Error ? error.name : typeof error;
    return new ConnectorError(`${connector}: the ${op} failed unexpectedly; details are in the service log`, `${connector} ${op}: ${kind}`, false);
  }
  const status = error.statusCode;
  const internal = `${connector} ${op}: ${error.type}${status ? ` HTTP ${status}` : ""}${error.code ? ` code ${error.code}` : ""}${error.param ? ` param ${error.param}` : ""}${error.requestId ? ` request ${error.requestId}` : ""}`;
  // Stripe's own word on a repeat (Stripe-Should-Retry, as its SDKs read it) goes before the status:
  // "false" on a write's saved answer means the same key replays the same failure for a day.
  const shouldRetry = error.headers?.["stripe-should-retry"];
  if (shouldRetry === "false") {
    return new ConnectorError(`${connector}: Stripe answered the ${op} with an error it says repeating will not mend${status ? ` (HTTP ${status})` : ""}; details are in the service log`, `${internal} (Stripe-Should-Retry: false)`, false);
  }
  if (shouldRetry === "true" && status !== 429 && !(status !== undefined && status >= 500)) {
    return new ConnectorError(`${connector}: Stripe asked for the ${op} call to be repeated; the task will be retried`, `${internal} (Stripe-Should-Retry: true)`, true, retryAfterMs(error.headers?.["retry-after"]));
  }
  if (status === 429 || error.type === "StripeRateLimitError") {
    return new ConnectorError(`${connector}: Stripe is limiting the request rate; the task will be retried`, internal, true, retryAfterMs(error.headers?.["retry-after"]));
  }
  if (error.type === "StripeConnectionError") {
    return new ConnectorError(`${connector}: Stripe could not be reached or did not answer in time; the task will be retried`, internal, true);
  }
  if ((status !== undefined && status >= 500) || error.type === "StripeAPIError") {
    return new ConnectorError(`${connector}: Stripe had a temporary error; the task will be retried`, internal, true);
  }
  if (status === 409) return new ConnectorError(`${connector}: a concurrent Stripe request conflicted; the task will be retried`, internal, true);
  if (status === 401 || error.type === "StripeAuthenticationError") {
    return new ConnectorError(`${connector}: Stripe rejected the API key; check the connector's apiKey`, internal, false);
  }
  if (status === 403 || error.type === "StripePermissionError") {
    return new ConnectorError(`${connector}: the API key may not make this ${op} call; grant the restricted key read and write access to customers, payment methods, charges, invoices, subscriptions, Checkout Sessions and PaymentIntents, and read access to events (the customers changed within searchLagMs are found through them)`, internal, false);
  }
  if (error.type === "StripeIdempotencyError") {
    return new ConnectorError(`${connector}: Stripe refused a repeated write whose parameters changed; details are in the service log`, internal, false);
  }
  return new ConnectorError(`${connector}: Stripe refused the ${op} request${error.code ? ` (${error.code})` : ""}; details are in the service log`, internal, false);
}

/** Thrown when the task must stop (lease lost, shutdown): the work resumes on the next attempt. */
export function stopped(connector: string, op: Operation, signal: AbortSignal): ConnectorError {
  return new ConnectorError(`${connector}: the ${op} was stopped before it finished; it resumes on the next attempt`, `${connector} ${op} aborted: ${String(signal.reason)}`, true);
}
