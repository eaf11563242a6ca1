import { ConnectorError, Identities, normalizeEmail, TaskContext } from "../../../src/connectors/sdk";
import { createStripeConnector, StripeConnector, StripeConnectorOptions } from "../../../src/connectors/stripe";
import { testContext } from "../../../src/connectors/testing/conformance";
import { samplePeople, SamplePerson } from "../../../src/sample/people";
import { startStripeStandIn, StripeObject, StripeStandIn } from "../../../src/sample/stripe";

export const API_KEY = "sk_test_dsr_stand_in";

/** A small cast: Ada (60 payments) and Grace (6) and ten others. */
export const PEOPLE: readonly SamplePerson[] = samplePeople(12, { authEventsForAda: 1 });
export const [ADA_PERSON, GRACE_PERSON] = PEOPLE;
export const ADA: Identities = { email: ADA_PERSON.email, paymentCustomerId: ADA_PERSON.paymentCustomerId };
/** Zoë, whom the stand-in stores as Zoe+dsr@Example.COM, by the normalized email only (Stripe's search path). */
export const ZOE: Identities = { email: PEOPLE[2].email.toLowerCase() };
/** Björn, whom the stand-in stores as bjorn@xn--bcher-kva.de, by his email in matching form only (the domain in Unicode). */
export const BJORN: Identities = { email: normalizeEmail(PEOPLE[3].email) };
/** Grace as the account database would not know her customer id: found by email. */
export const GRACE: Identities = { email: GRACE_PERSON.email };

/** Starts a stand-in seeded with PEOPLE. */
export function startStandIn(stateFile?: string): Promise<StripeStandIn> {
  return startStripeStandIn({ apiKey: API_KEY, people: PEOPLE, stateFile });
}

/** A connector pointed at the stand-in, with a short timeout so hung calls fail fast. */
export function connectorFor(standIn: StripeStandIn, options: Partial<StripeConnectorOptions> = {}): StripeConnector {
  return createStripeConnector({ apiKey: API_KEY, host: "127.0.0.1", port: standIn.port, protocol: "http", timeoutMs: 400, pageSize: 25, ...options });
}

/** The objects the stand-in holds for a customer, of one kind (newest first). */
export function heldFor(standIn: StripeStandIn, kind: "payment_method" | "charge" | "invoice" | "subscription", customer: string): StripeObject[] {
  return standIn.store.all(kind).filter((o) => o.customer === customer);
}

/** Every side effect that happened more than once: must stay empty. */
export function repeatedEffects(standIn: StripeStandIn): string[] {
  const seen = new Map<string, number>();
  for (const e of standIn.store.effects) seen.set(`${e.kind} ${e.id}`, (seen.get(`${e.kind} ${e.id}`) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
}

/** What a retry loop went through. */
export interface RetryRun<T> {
  value: T;
  attempts: number;
  /** Each wait it made, with the retryAfterMs that asked for it. */
  waits: { ms: number; retryAfterMs?: number }[];
}

/**
 * Runs `work` as the orchestrator would: again after each retryable ConnectorError, never sooner than
 * its retryAfterMs (else after a short backoff), with the same idempotency key and a growing attempt.
 */
export async function retryLoop<T>(work: (ctx: TaskContext) => Promise<T>, maxAttempts = 200): Promise<RetryRun<T>> {
  const idempotencyKey = `retry-${Date.now()}-${Math.random()}`;
  const waits: RetryRun<T>["waits"] = [];
  for (let attempt = 1; ; attempt += 1) {
    try {
      return { value: await work(testContext({ idempotencyKey, attempt })), attempts: attempt, waits };
    } catch (error) {
      if (!(error instanceof ConnectorError) || !error.retryable || attempt >= maxAttempts) throw error;
      const ms = error.retryAfterMs ?? Math.min(200, 10 * attempt);
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, ms));
      waits.push({ ms: Date.now() - started, retryAfterMs: error.retryAfterMs });
    }
  }
}
