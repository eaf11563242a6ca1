import { SIGNATURE_TOLERANCE_SECONDS, verifySignature } from "../signing";
import type { StatusCallbackEvent } from "./outbox";

export type CallbackVerification = { ok: true; event: StatusCallbackEvent } | { ok: false; reason: string };

/**
 * For receivers of status callbacks: checks the Dsr-Signature header (`t=<unix>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`) against the raw body as received, before parsing it. Refuses a wrong secret, any
 * changed byte, and a timestamp more than `toleranceSeconds` (default 5 minutes) away from `now`.
 */
export function verifyStatusCallback(
  secret: string,
  signatureHeader: string | undefined,
  rawBody: string,
  now: Date = new Date(),
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): CallbackVerification {
  const header = signatureHeader ?? "";
  const t = Number(/(?:^|,)t=(\d+)(?:,|$)/.exec(header)?.[1]);
  if (!Number.isInteger(t)) return { ok: false, reason: "missing or malformed Dsr-Signature header" };
  if (Math.abs(now.getTime() / 1000 - t) > toleranceSeconds) return { ok: false, reason: "signature timestamp outside the tolerance window" };
  if (!verifySignature(secret, header, rawBody, now, toleranceSeconds)) return { ok: false, reason: "signature does not match the body" };
  return { ok: true, event: JSON.parse(rawBody) as StatusCallbackEvent };
}
