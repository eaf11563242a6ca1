import { ConnectorConfigError, specProblems } from "../sdk";
import { isLoopbackHost } from "../../config/transport";

/**
 * How the Stripe connector reaches Stripe. `apiKey` is a secret: the connectors file maps it from an
 * environment variable, never writes it inline.
 */
export interface StripeConnectorOptions {
  /** Connector name (it keys tasks and idempotency; never rename a live one); default "payments". */
  name?: string;
  /** Secret or restricted API key (sk_... / rk_...): read customers, payment methods, charges, invoices, subscriptions, Checkout Sessions, PaymentIntents; write them for erasure (and redaction jobs); read events (with emailLookup "search": the customers changed within searchLagMs). */
  apiKey: string;
  /** API host; default api.stripe.com (a stand-in's host in the sample workspace and tests). */
  host?: string;
  /** API port; default 443 for https, 80 for http. */
  port?: number;
  /** "https" (default), or "http" to a loopback host only: the key never crosses a network in clear. */
  protocol?: "https" | "http";
  /** Time limit of one API call in milliseconds (1000-120000 in production use); default 30000. */
  timeoutMs?: number;
  /** Objects per list page, 1-100 (Stripe's maximum); default 100. */
  pageSize?: number;
  /**
   * How a subject without a customer id is found: "search" (default; the Search API, which matches email
   * case-insensitively) or "list" (Stripe's case-sensitive email filter, where Search is unavailable:
   * it finds addresses stored in lower or upper case only).
   */
  emailLookup?: "search" | "list";
  /**
   * The most customers one address may have (Stripe makes a customer per guest checkout, so one person
   * can have many): all of them are the subject's, up to this; past it, the look-up fails, naming the
   * limit, rather than collect or erase only some of them. 1-100000; default 1000.
   */
  maxCustomersPerEmail?: number;
  /**
   * Repeats of a call that failed for a passing reason (429, 5xx, a conflict, a time-out, a lost
   * connection), made at once inline after Retry-After or a short backoff, before the task fails and the
   * orchestrator retries it from the start. Writes are repeated with their idempotency key, so Stripe
   * replays one that was done. 0-10; default 2.
   */
  retries?: number;
  /** The longest wait for an inline repeat, in milliseconds; a longer Retry-After leaves it to the orchestrator. 0-600000; default 10000. */
  maxInlineWaitMs?: number;
  /**
   * How far Stripe's Search API may lag behind writes, in milliseconds (Stripe: under a minute as a
   * rule, up to an hour in an outage; not for read-after-write). With emailLookup "search", the
   * customers and charges created within this long before a look-up are read through the list API as
   * well (by creation time, each confirmed by its address): a checkout made just before the request,
   * the address typed in mixed case, is found by neither search (not indexed yet) nor the case-sensitive
   * email filter. So are the customers changed within it (Stripe's `customer.updated` events, which it
   * lists for 30 days): an older customer whose address was changed to the subject's is still indexed
   * under the old one. 0 turns this off. 0-86400000; default 3600000 (1 h).
   */
  searchLagMs?: number;
  /** How long to wait between polls of Stripe redaction jobs (they can take days), in milliseconds; default 3600000 (1 h). */
  redactionPollMs?: number;
  /** Stripe-Version sent with redaction-job calls (a preview API at Stripe); default: the account's version. */
  redactionApiVersion?: string;
  /**
   * The metadata key under which the platform tags each customer it creates for an account with that
   * account's user id (e.g. "user_id"). A customer found by the subject's address whose tag names
   * another user id (or any, when the subject's is not known) is that account's, not the subject's: a
   * customer's email is whatever was typed into it. Such a customer is passed over and reported. Unset
   * (the default): every customer with the address is the subject's.
   */
  accountMetadataKey?: string;
}

/** The options with every default filled in (redactionApiVersion and accountMetadataKey stay optional). */
export type ResolvedStripeOptions = Required<Omit<StripeConnectorOptions, "redactionApiVersion" | "accountMetadataKey">> & Pick<StripeConnectorOptions, "redactionApiVersion" | "accountMetadataKey">;

const FIELDS = ["name", "apiKey", "host", "port", "protocol", "timeoutMs", "pageSize", "emailLookup", "maxCustomersPerEmail", "retries", "maxInlineWaitMs", "searchLagMs", "redactionPollMs", "redactionApiVersion", "accountMetadataKey"];
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}|[0-9a-fA-F:]+)$/;

const wholeIn = (v: unknown, min: number, max: number) => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
/** Numbers may come from environment variables (the connectors file's `env`) as digit strings. */
const numeric = (v: unknown) => (typeof v === "string" && /^\d{1,9}$/.test(v) ? Number(v) : v);

/**
 * Validates the options and fills in defaults; throws ConnectorConfigError listing every problem.
 * Never echoes the key back.
 */
export function resolveStripeOptions(given: StripeConnectorOptions): ResolvedStripeOptions {
  const o = (given ?? {}) as unknown as Record<string, unknown>;
  const name = o.name === undefined ? "payments" : o.name;
  const problems: string[] = [];
  for (const key of Object.keys(o)) if (!FIELDS.includes(key)) problems.push(`unknown option "${key}" (allowed: ${FIELDS.join(", ")})`);
  problems.push(...specProblems({ name: name as string, version: "1", supports: ["access"], needs: [], provides: [], categories: ["PAYMENTS"] }));
  if (typeof o.apiKey !== "string" || o.apiKey.trim() === "") problems.push("apiKey is required (map it from an environment variable, e.g. STRIPE_API_KEY)");
  else if (/\s/.test(o.apiKey)) problems.push("apiKey contains whitespace (check how the environment variable was set)");
  else if (o.apiKey.startsWith("pk_")) problems.push("apiKey is a publishable key (pk_...): use a secret (sk_...) or restricted (rk_...) key");
  const protocol = o.protocol ?? "https";
  if (protocol !== "https" && protocol !== "http") problems.push(`protocol must be "https" or "http"`);
  const host = o.host ?? "api.stripe.com";
  if (typeof host !== "string" || !HOST.test(host)) problems.push("host must be a host name or IP address, without scheme, port or path");
  else if (protocol === "http" && !isLoopbackHost(host)) problems.push(`protocol "http" is allowed only to a loopback host (127.0.0.1, localhost, ::1): the API key must not cross a network in clear`);
  const port = numeric(o.port) ?? (protocol === "http" ? 80 : 443);
  if (!wholeIn(port, 1, 65535)) problems.push("port must be a whole number from 1 to 65535");
  const timeoutMs = numeric(o.timeoutMs) ?? 30_000;
  if (!wholeIn(timeoutMs, 1, 600_000)) problems.push("timeoutMs must be a whole number of milliseconds from 1 to 600000");
  const pageSize = numeric(o.pageSize) ?? 100;
  if (!wholeIn(pageSize, 1, 100)) problems.push("pageSize must be a whole number from 1 to 100");
  const emailLookup = o.emailLookup ?? "search";
  if (emailLookup !== "search" && emailLookup !== "list") problems.push(`emailLookup must be "search" or "list"`);
  const maxCustomersPerEmail = numeric(o.maxCustomersPerEmail) ?? 1000;
  if (!wholeIn(maxCustomersPerEmail, 1, 100_000)) problems.push("maxCustomersPerEmail must be a whole number from 1 to 100000");
  const retries = numeric(o.retries) ?? 2;
  if (!wholeIn(retries, 0, 10)) problems.push("retries must be a whole number from 0 to 10");
  const maxInlineWaitMs = numeric(o.maxInlineWaitMs) ?? 10_000;
  if (!wholeIn(maxInlineWaitMs, 0, 600_000)) problems.push("maxInlineWaitMs must be a whole number of milliseconds from 0 to 600000");
  const searchLagMs = numeric(o.searchLagMs) ?? 3_600_000;
  if (!wholeIn(searchLagMs, 0, 86_400_000)) problems.push("searchLagMs must be a whole number of milliseconds from 0 to 86400000 (1 day)");
  const redactionPollMs = numeric(o.redactionPollMs) ?? 3_600_000;
  if (!wholeIn(redactionPollMs, 1, 604_800_000)) problems.push("redactionPollMs must be a whole number of milliseconds from 1 to 604800000 (7 days)");
  const redactionApiVersion = o.redactionApiVersion;
  if (redactionApiVersion !== undefined && (typeof redactionApiVersion !== "string" || !/^[0-9]{4}-[0-9]{2}-[0-9]{2}(\.[a-z]+)?$/.test(redactionApiVersion))) {
    problems.push('redactionApiVersion must read like "2025-05-28.preview"');
  }
  const accountMetadataKey = o.accountMetadataKey;
  // Stripe's metadata keys: up to 40 characters, no square brackets.
  if (accountMetadataKey !== undefined && (typeof accountMetadataKey !== "string" || !/^[A-Za-z0-9_.-]{1,40}$/.test(accountMetadataKey))) {
    problems.push("accountMetadataKey must be a Stripe metadata key: 1 to 40 letters, digits, _ . or -");
  }
  if (problems.length) throw new ConnectorConfigError(typeof name === "string" ? name : "", problems, "Stripe connector");
  return { name, apiKey: o.apiKey, host, port, protocol, timeoutMs, pageSize, emailLookup, maxCustomersPerEmail, retries, maxInlineWaitMs, searchLagMs, redactionPollMs, redactionApiVersion, accountMetadataKey } as ResolvedStripeOptions;
}
