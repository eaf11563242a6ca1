import { ConnectorConfigError, specProblems } from "../sdk";
import { isLoopbackHost } from "../../config/transport";

/** How to reach one Zendesk Support account. The API token is a secret: map it from an environment variable. */
export interface ZendeskConnectorOptions {
  /** Connector name (keys tasks and idempotency; never rename a live one); default "ticketing". */
  name?: string;
  /** Version shown with the connector's health; default the connector code's version. */
  version?: string;
  /** The account's base URL, e.g. https://acme.zendesk.com (the API is under /api/v2/); https unless loopback. */
  baseUrl: string;
  /** Email of the agent or admin the API token acts for. */
  email: string;
  /** Zendesk API token (secret). */
  apiToken: string;
  /** Calls per minute at most, spread evenly; keep it below the plan's limit (Zendesk Team: 200). Default 200. */
  requestsPerMinute?: number;
  /** How long one call may take before it counts as a (retryable) time-out, in ms; default 15000. */
  timeoutMs?: number;
  /** Items per page when listing (1-100, Zendesk's maximum); default 100. */
  pageSize?: number;
  /** Extra tries of a read that met a retryable fault before the task fails for the orchestrator to retry; default 2. */
  readRetries?: number;
  /** A read's Retry-After (or backoff) up to this long is waited out in the call; longer ends the task with retryAfterMs. Default 10000. */
  maxInlineWaitMs?: number;
  /**
   * True when the platform sets each Zendesk user's external_id to its account's user id: a user reached by
   * the ticketing user id the account database gives whose external_id names another user id stops the
   * collect or erase (the subject's user id known). Default false: external_id is not read.
   */
  accountExternalId?: boolean;
  /**
   * How many emails of the held-back (suspended) queue one collect, erase or roster listing reads at most
   * (looking for the subject's, or listing their senders): Zendesk offers no filter by sender, so each 100
   * cost a call. Past it, collect names the rest not searched and the roster not listed. Default 1000.
   */
  suspendedScanLimit?: number;
  /**
   * How long Zendesk's search may take to show a new comment, in ms: an erasure soft-deletes the user (so
   * nothing more is written as them), waits this long (the task in REMOTE_PROCESSING), searches again for
   * tickets they wrote on and redacts what it finds, then deletes the user for good. 0 deletes the user at
   * once and leaves what the search did not show yet. Also how far back collect and erase read the users
   * Zendesk changed (its incremental user export), for a new user the search does not show yet; 0 reads
   * none. Default 600000 (10 minutes).
   */
  searchLagMs?: number;
}

/** The options with every default filled in. */
export type ResolvedZendeskOptions = Required<ZendeskConnectorOptions>;

export const ZENDESK_CONNECTOR_VERSION = "1.0.0";

const DEFAULTS = { name: "ticketing", version: ZENDESK_CONNECTOR_VERSION, requestsPerMinute: 200, timeoutMs: 15_000, pageSize: 100, readRetries: 2, maxInlineWaitMs: 10_000, accountExternalId: false, suspendedScanLimit: 1_000, searchLagMs: 600_000 };
const FIELDS = ["name", "version", "baseUrl", "email", "apiToken", ...Object.keys(DEFAULTS)];

function wholeNumber(problems: string[], field: string, value: unknown, min: number, max: number): void {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) problems.push(`${field} must be a whole number from ${min} to ${max}`);
}

/** Every problem of the options (empty when valid); the token's value never appears in a message. */
export function zendeskOptionProblems(options: unknown): string[] {
  if (typeof options !== "object" || options === null) return ["the options must be an object with baseUrl, email and apiToken"];
  const o: Record<string, unknown> = { ...DEFAULTS, ...(options as Record<string, unknown>) };
  const problems = Object.keys(options).filter((k) => !FIELDS.includes(k)).map((k) => `unknown option "${k}" (allowed: ${FIELDS.join(", ")})`);
  problems.push(...specProblems({ name: o.name as string, version: o.version as string, supports: ["access"], needs: [], provides: [], categories: ["SUPPORT"] }));
  let url: URL | undefined;
  try {
    url = typeof o.baseUrl === "string" ? new URL(o.baseUrl) : undefined;
  } catch {
    url = undefined;
  }
  if (!url) problems.push("baseUrl must be the account's URL, e.g. https://acme.zendesk.com");
  else if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) problems.push("baseUrl must use https (plain http only for a loopback host): the API token travels in every call");
  else if (url.username || url.password || url.search || url.hash) problems.push("baseUrl must not carry credentials, a query or a fragment");
  if (typeof o.email !== "string" || !/^[^\s@]+@[^\s@]+$/.test(o.email)) problems.push("email must be the email address of the agent the API token acts for");
  if (typeof o.apiToken !== "string" || o.apiToken.trim() === "") problems.push("apiToken is required (map it from an environment variable)");
  wholeNumber(problems, "requestsPerMinute", o.requestsPerMinute, 1, 100_000);
  wholeNumber(problems, "timeoutMs", o.timeoutMs, 100, 600_000);
  wholeNumber(problems, "pageSize", o.pageSize, 1, 100);
  wholeNumber(problems, "readRetries", o.readRetries, 0, 10);
  wholeNumber(problems, "maxInlineWaitMs", o.maxInlineWaitMs, 0, 600_000);
  wholeNumber(problems, "suspendedScanLimit", o.suspendedScanLimit, 1, 1_000_000);
  wholeNumber(problems, "searchLagMs", o.searchLagMs, 0, 86_400_000);
  if (typeof o.accountExternalId !== "boolean") problems.push("accountExternalId must be true or false");
  return problems;
}

/** Validates the options (throwing ConnectorConfigError with every problem) and fills in the defaults. */
export function resolveZendeskOptions(options: ZendeskConnectorOptions): ResolvedZendeskOptions {
  const problems = zendeskOptionProblems(options);
  const name = typeof options?.name === "string" ? options.name : DEFAULTS.name;
  if (problems.length) throw new ConnectorConfigError(name, problems, "Zendesk connector");
  return { ...DEFAULTS, ...options, baseUrl: options.baseUrl.replace(/\/+$/, "") };
}
