import type { Logger } from "../logger";
import { signPayload } from "../signing";
import type { Clock } from "../clock";

/** What the subject must receive to prove they own the email of a request. */
export interface VerificationMessage {
  requestId: string;
  requestType: string;
  email: string;
  code: string;
  expiresAt: Date;
}

/** Delivers verification codes to data subjects. Pluggable: log (development) or webhook (your mailer). */
export interface Notifier {
  readonly kind: string;
  sendVerificationCode(message: VerificationMessage): Promise<void>;
}

/** Development only: writes the code to the service log (never the email), so a developer can verify. */
export class LogNotifier implements Notifier {
  readonly kind = "log";
  constructor(private readonly logger: Logger) {}
  async sendVerificationCode(m: VerificationMessage): Promise<void> {
    this.logger.info(
      { requestId: m.requestId, verificationCode: m.code, expiresAt: m.expiresAt.toISOString() },
      "verification code issued (development notifier: deliver it to the subject yourself)",
    );
  }
}

/**
 * An error with its causes: fetch says only "fetch failed" and keeps the reason (ECONNREFUSED, a
 * certificate error, a time-out) in `cause`, which is what an operator needs.
 */
function withCauses(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth += 1) {
    const { message, code } = e as { message?: string; code?: string };
    const part = message && code && !message.includes(code) ? `${message} (${code})` : (message ?? code);
    if (part && !parts.includes(part)) parts.push(part);
  }
  return parts.join(": ") || String(error);
}

/**
 * POSTs `{requestId, requestType, email, code, expiresAt}` as JSON to a URL, signed with the
 * Dsr-Signature header (HMAC-SHA256 over "<t>.<body>"). A non-2xx answer is an error.
 */
export class WebhookNotifier implements Notifier {
  readonly kind = "webhook";
  constructor(
    private readonly url: string,
    private readonly secret: string,
    private readonly clock: Clock,
    private readonly timeoutMs = 10_000,
  ) {}
  async sendVerificationCode(m: VerificationMessage): Promise<void> {
    const body = JSON.stringify({ kind: "verification_code", ...m, expiresAt: m.expiresAt.toISOString() });
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "dsr-signature": signPayload(this.secret, body, this.clock.now()) },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
        // The body holds the person's address and code: a redirect elsewhere is refused, never followed.
        redirect: "manual",
      });
    } catch (error) {
      throw new Error(`notifier webhook ${new URL(this.url).origin} could not be reached: ${withCauses(error)}; check DSR_NOTIFIER_URL and that the mailer is up`);
    }
    await response.body?.cancel();
    if (response.status >= 300 && response.status <= 399) throw new Error(`notifier webhook answered with a redirect (HTTP ${response.status}), which is not followed; set DSR_NOTIFIER_URL to the address that answers`);
    if (!response.ok) throw new Error(`notifier webhook answered HTTP ${response.status}`);
  }
}
