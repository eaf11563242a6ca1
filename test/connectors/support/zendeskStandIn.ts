import { ConnectorError, normalizeEmail } from "../../../src/connectors/sdk";
import { createZendeskConnector, ZendeskConnector, ZendeskConnectorOptions } from "../../../src/connectors/zendesk";
import { samplePeople } from "../../../src/sample/people";
import { startZendeskStandIn, ZendeskStandIn, ZendeskStandInOptions, ZendeskTicket } from "../../../src/sample/zendesk";

export const EMAIL = "dsr-bot@support.example.com";
export const TOKEN = "zd_test_token_3f9a";

/** Thirty sample people: enough writers that Ada and Grace never share a ticket. */
export const PEOPLE = samplePeople(30, { authEventsForAda: 10 });
export const ADA_PERSON = PEOPLE[0];
export const GRACE_PERSON = PEOPLE[1];
/** Ada as the orchestrator passes her once the account database has resolved her ticketing user id. */
export const ADA = { email: ADA_PERSON.email, ticketingUserId: ADA_PERSON.ticketingUserId! };
/** Zoë, whom the stand-in stores as Zoe+dsr@Example.COM, by the normalized email only. */
export const ZOE = { email: PEOPLE[2].email.toLowerCase() };
/** Björn, whom the stand-in stores as bjorn@xn--bcher-kva.de, by his email in matching form only (the domain in Unicode). */
export const BJORN = { email: normalizeEmail(PEOPLE[3].email) };
export const BJORN_PERSON = PEOPLE[3];
/** Grace by email only, so that the search path is exercised too. */
export const GRACE = { email: GRACE_PERSON.email };

/** A stand-in seeded with PEOPLE on a free loopback port. */
export function startStandIn(options: Partial<ZendeskStandInOptions> = {}): Promise<ZendeskStandIn> {
  return startZendeskStandIn({ email: EMAIL, apiToken: TOKEN, people: PEOPLE, ...options });
}

/** A connector for `standIn`, fast enough for tests (no rate limit to speak of, short time-outs). */
export function connectorFor(standIn: ZendeskStandIn, options: Partial<ZendeskConnectorOptions> = {}): ZendeskConnector {
  return createZendeskConnector({ baseUrl: standIn.url, email: EMAIL, apiToken: TOKEN, requestsPerMinute: 60_000, timeoutMs: 2_000, ...options });
}

/** The subject's tickets in the stand-in's own data: requested, then CC'd on, each once. */
export function ticketsOf(standIn: ZendeskStandIn, userId: number): { ticket: ZendeskTicket; role: "requester" | "cc" }[] {
  const requested = standIn.store.ticketsRequestedBy(userId).map((ticket) => ({ ticket, role: "requester" as const }));
  const ccd = standIn.store
    .ticketsCcing(userId)
    .filter((t) => t.requester_id !== userId)
    .map((ticket) => ({ ticket, role: "cc" as const }));
  return [...requested, ...ccd];
}

/** Every ticket the stand-in still holds that leads to the user (requested by them or CC'ing them), soft-deleted tickets too. */
export function ticketsTiedTo(standIn: ZendeskStandIn, userId: number): ZendeskTicket[] {
  return standIn.store.state.tickets.filter((t) => t.requester_id === userId || t.collaborator_ids.includes(userId));
}

/**
 * How many records collect should return for a user, counted from the stand-in's data: the user, their
 * tickets, every comment on tickets they requested, their own comments on tickets they were CC'd on,
 * and the live attachments of those comments.
 */
export function expectedRecordCount(standIn: ZendeskStandIn, userId: number): number {
  let count = 1;
  for (const { ticket, role } of ticketsOf(standIn, userId)) {
    count += 1;
    for (const c of ticket.comments) {
      if (role === "cc" && c.author_id !== userId) continue;
      count += 1 + c.attachments.filter((a) => a.file_name !== "redacted.txt").length;
    }
  }
  return count;
}

/** What a retry loop saw: attempts, and each retryable error's retryAfterMs with the wait actually taken. */
export interface RetryLog {
  attempts: number;
  waits: { retryAfterMs?: number; waitedMs: number }[];
}

/**
 * Runs `work` until it succeeds, as the orchestrator would: only retryable ConnectorErrors are retried,
 * never sooner than their retryAfterMs (else after `backoffMs`), at most `maxAttempts` times.
 */
export async function withRetries<T>(work: (attempt: number) => Promise<T>, log: RetryLog = { attempts: 0, waits: [] }, maxAttempts = 60, backoffMs = 20): Promise<T> {
  for (;;) {
    log.attempts += 1;
    try {
      return await work(log.attempts);
    } catch (error) {
      if (!(error instanceof ConnectorError) || !error.retryable || log.attempts >= maxAttempts) throw error;
      const started = Date.now();
      await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs ?? backoffMs));
      log.waits.push({ retryAfterMs: error.retryAfterMs, waitedMs: Date.now() - started });
    }
  }
}
