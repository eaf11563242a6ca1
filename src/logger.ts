import pino, { Logger } from "pino";

export type { Logger };

/**
 * Paths that must never reach a log line: credentials, identities and record payloads. Code logs ids and
 * counts; these paths are the safety net for the day someone logs an object whole.
 */
export const REDACT_PATHS = [
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "req.headers.authorization",
  "verification.code",
  "secret",
  "*.secret",
  "email",
  "*.email",
  "phone",
  "*.phone",
  "subject",
  "*.subject",
  "records",
  "*.records",
  "variables",
  "*.variables",
];

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: "dsr", ...base },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    depthLimit: 6,
  });
}
