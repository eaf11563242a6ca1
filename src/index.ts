/** Public entry points for embedding the service or scripting against it. */
export { startService, type RunningService, type StartOptions } from "./server";
export { loadConfig, ConfigError, type Config } from "./config/env";
export { ManualClock, systemClock, type Clock } from "./clock";
export { DsrError, ERROR_CODES, type ErrorCode } from "./errors";
export { RequestSource, RequestStatus, RequestType, Role, VerificationMethod } from "./domain/enums";
export { signPayload, verifySignature } from "./signing";
export { verifyStatusCallback, type CallbackVerification } from "./callbacks/verify";
export type { StatusCallbackEvent } from "./callbacks/outbox";
export type { Notifier, VerificationMessage } from "./notifier/notifier";
