import pino, { DestinationStream, Logger } from "pino";

export type { Logger };

/**
 * Keys whose values never reach a log line, at any depth: credentials, identities and record payloads.
 * Code logs ids and counts; this is the safety net for the day someone logs an object whole.
 * (Only `code` is judged by value: an error's code, such as ECONNREFUSED or NOT_FOUND, stays readable.)
 */
export const SENSITIVE_KEYS = [
  "token",
  "authorization",
  "cookie",
  "secret",
  "password",
  "apiKey",
  "key",
  "code",
  "email",
  "phone",
  "name",
  "subject",
  "identities",
  "ids",
  "found",
  "records",
  "record",
  "data",
  "payload",
  "corrections",
  "changes",
  "value",
  "variables",
  "query",
];

/** Keys that look sensitive by name but carry codes the service chose (error codes, a connector's name, HTTP status). */
const SAFE_KEYS = new Set(["errorCodes", "level", "msg", "service", "component", "connector", "connectors"]);

const SENSITIVE = new Set(SENSITIVE_KEYS);
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** International numbers (E.164 with optional separators): what the service stores; timestamps and ids do not start with "+". */
const PHONE = /\+\d[\d\s().-]{6,}\d/g;
const CENSOR = "[redacted]";

/** Emails and phone numbers inside free text (error messages from drivers and remote APIs quote values). */
export function scrubText(text: string): string {
  // Neither can match without its mark (most strings are ids, names of steps, timestamps).
  const email = text.includes("@");
  const phone = text.includes("+");
  if (!email && !phone) return text;
  return (email ? text.replace(EMAIL, "[email]") : text).replace(PHONE, "[phone]");
}

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === "string") return scrubText(value);
  if (value === null || typeof value !== "object" || depth > 6) return value;
  if (value instanceof Date) return value;
  if (value instanceof Error) return scrub(pino.stdSerializers.err(value), depth);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // `code` is a verification code or a secret, except an error's code (ECONNREFUSED, NOT_FOUND): kept when it is one.
    const sensitive = SENSITIVE.has(k) && !SAFE_KEYS.has(k) && !(k === "code" && typeof v === "string" && /^[A-Z][A-Z0-9_]+$/.test(v));
    out[k] = sensitive ? CENSOR : scrub(v, depth + 1);
  }
  return out;
}

export interface LoggerOptions {
  /** json (default) or pretty (one readable line per entry, for a terminal). */
  format?: "json" | "pretty";
  /** Where lines go (default: stdout). Tests pass a capture stream. */
  destination?: DestinationStream;
}

/**
 * A structured logger whose redaction is configuration, not discipline: sensitive keys are censored at
 * any depth and emails / phone numbers are scrubbed from every string, the message included, in every
 * line's fields and in a child logger's bindings alike. One pass does it all (the `log` formatter for a
 * line's fields and the base; `child`, below, for bindings, which pino passes through no formatter): pino's
 * own `redact` paths censored only the keys it was given at fixed depths, which this pass already covers,
 * and cost three times the rest of a line (15 us of every GraphQL operation's log line).
 */
export function createLogger(level: string, base: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination(1);
  const root = pino(
    {
      level,
      base: scrub({ service: "dsr", ...base }, 0) as Record<string, unknown>,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => scrub(object, 0) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === "string" ? scrubText(a) : a)) as Parameters<typeof method>);
        },
      },
      depthLimit: 6,
    },
    options.format === "pretty" ? prettyStream(destination) : destination,
  );
  // Children are made with Object.create(parent), so every descendant inherits this `child`.
  const child = root.child;
  root.child = function scrubbedChild(this: Logger, bindings, childOptions) {
    return child.call(this, scrub(bindings, 0) as typeof bindings, childOptions);
  } as typeof child;
  return root;
}

/** The format to use: DSR_LOG_FORMAT, else pretty for a developer's terminal and JSON everywhere else. */
export function logFormat(config: { NODE_ENV: string; DSR_LOG_FORMAT?: "json" | "pretty" }, tty = Boolean(process.stdout.isTTY)): "json" | "pretty" {
  return config.DSR_LOG_FORMAT ?? (config.NODE_ENV === "development" && tty ? "pretty" : "json");
}

const PRETTY_SKIPPED = new Set(["time", "level", "msg", "service", "pid", "hostname"]);

/** `12:00:01.234 INFO  message key=value ...`: pino's JSON (already redacted) made readable, no extra dependency. */
export function prettyStream(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        out.write(line);
        return;
      }
      const time = typeof entry.time === "string" ? entry.time.slice(11, 23) : "";
      const fields = Object.entries(entry)
        .filter(([k]) => !PRETTY_SKIPPED.has(k))
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      out.write(`${time} ${String(entry.level).toUpperCase().padEnd(5)} ${entry.msg ?? ""}${fields.length ? `  ${fields.join(" ")}` : ""}\n`);
    },
  };
}
