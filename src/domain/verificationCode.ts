import { createHmac, randomInt, timingSafeEqual } from "node:crypto";

/** Digits in a one-time verification code. */
export const CODE_DIGITS = 6;

export function generateCode(): string {
  return String(randomInt(0, 10 ** CODE_DIGITS)).padStart(CODE_DIGITS, "0");
}

/** HMAC keyed by the server secret and bound to the request: a leaked table cannot be brute-forced offline. */
export function hashCode(secret: string, requestId: string, code: string): string {
  return createHmac("sha256", secret).update(`${requestId}:${code}`, "utf8").digest("hex");
}

export function codeMatches(secret: string, requestId: string, code: string, storedHash: string): boolean {
  const given = Buffer.from(hashCode(secret, requestId, code.trim()), "hex");
  const stored = Buffer.from(storedHash, "hex");
  return given.length === stored.length && timingSafeEqual(given, stored);
}
