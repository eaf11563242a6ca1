import { ConnectorError } from "../sdk";
import { classifyDbError, type Operation, stopped } from "../sql/errors";

/** DynamoDB asks the caller to slow down: worth retrying later. */
const THROTTLED = new Set(["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException", "TooManyRequestsException"]);
/** DynamoDB (or the network before it) failed on its side. */
const SERVER = new Set(["InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "TransactionConflictException", "TimeoutError", "RequestTimeout", "RequestTimeoutException"]);
/** The credentials are missing, wrong, expired or not allowed: waiting will not fix them. */
const CREDENTIALS = new Set([
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignatureException",
  "MissingAuthenticationTokenException",
  "AccessDeniedException",
  "ExpiredTokenException",
  "CredentialsProviderError",
  "InvalidClientTokenId",
]);

/** Whether DynamoDB refused a call to slow the caller down (worth sending again after a wait). */
export const isThrottled = (error: unknown): boolean => THROTTLED.has(String((error as { name?: unknown } | null)?.name));

/** What failed, in words for people, and whether it may pass; read from the error's name and status only. */
export interface DynamoFault {
  /** Error name or network code, safe to show (e.g. ThrottlingException, ECONNREFUSED). */
  code: string;
  retryable: boolean;
  /** A sentence for the task's userMessage, without the connector name. */
  what: string;
}

/** Classifies anything the AWS SDK threw. */
export function classifyDynamoError(error: unknown, table: string): DynamoFault {
  const e = (error ?? {}) as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  const name = typeof e.name === "string" ? e.name : "Error";
  const status = e.$metadata?.httpStatusCode;
  if (THROTTLED.has(name)) return { code: name, retryable: true, what: `DynamoDB is throttling requests to table ${table} (${name}); the task will be retried` };
  if (SERVER.has(name) || (status !== undefined && status >= 500) || (e.$retryable && !CREDENTIALS.has(name))) {
    return { code: name, retryable: true, what: `DynamoDB failed or timed out (${name}); the task will be retried` };
  }
  if (name === "ResourceNotFoundException") return { code: name, retryable: false, what: `table ${table} does not exist in this region; create it or fix tableName and region` };
  if (CREDENTIALS.has(name)) return { code: name, retryable: false, what: `DynamoDB rejected the credentials (${name}); fix the access key, its permissions or the region` };
  const network = classifyDbError(error);
  if (network.transient) return { code: network.code, retryable: true, what: `DynamoDB is unreachable (${network.code}); the task will be retried` };
  if (name === "ValidationException") return { code: name, retryable: false, what: `DynamoDB refused the request (${name}); check partitionKey and sortKey against the table's key schema` };
  return { code: name === "Error" ? network.code : name, retryable: false, what: `DynamoDB refused the request (${name}); details are in the service log` };
}

/**
 * Turns anything a DynamoDB call threw into a ConnectorError (an abort becomes a retryable stop). A
 * TimeoutError is the client's own limit (connect, or answer, within `timeoutMs`), named as such.
 */
export function toDynamoConnectorError(error: unknown, connector: string, op: Operation, table: string, signal: AbortSignal, timeoutMs: number): ConnectorError {
  if (error instanceof ConnectorError) return error;
  if (signal.aborted) return stopped(connector, op, signal);
  const fault = classifyDynamoError(error, table);
  const message = error instanceof Error ? error.message.slice(0, 300) : String(error);
  const what = fault.code === "TimeoutError" ? `DynamoDB did not answer within timeoutMs (${timeoutMs} ms); the task will be retried` : fault.what;
  return new ConnectorError(`${connector}: ${what}`, `${connector} ${op} (DynamoDB table ${table}): ${fault.code}: ${message}`, fault.retryable);
}
