import { expect } from "chai";
import { ConnectorError, normalizeEmail } from "../../../src/connectors/sdk";
import { testContext } from "../../../src/connectors/testing/conformance";
import { createZendeskConnector, ZendeskConnector, ZendeskConnectorOptions } from "../../../src/connectors/zendesk";
import { samplePeople } from "../../../src/sample/people";
import { FAST } from "../../export/support";
import type { TestDatabase } from "../../support/databases";
import { submit, TestService } from "../../support/harness";
import { collaboratorsOf } from "../../../src/sample/zendesk/store";
import { FaultRule, startZendeskStandIn, ZendeskStandIn, ZendeskStandInOptions, ZendeskSuspendedTicket, ZendeskTicket } from "../../../src/sample/zendesk";

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
  return createZendeskConnector({ baseUrl: standIn.url, email: EMAIL, apiToken: TOKEN, requestsPerMinute: 60_000, timeoutMs: 2_000, searchLagMs: 0, ...options });
}

/**
 * An email the stand-in holds as suspended, from `email`, with `text` in its subject, body and attachment's
 * name. Its author is the live user who holds the address (any identity, verified or not), as Zendesk ties
 * held-back mail; none (id null) when no one does.
 */
export function addSuspendedTicket(standIn: ZendeskStandIn, email: string, text: string, at: Date): ZendeskSuspendedTicket {
  const id = standIn.store.state.nextId++;
  const holder = standIn.store.state.users.find((u) => u.active && [u.email, ...(u.secondary_emails ?? []), ...(u.unverified_emails ?? [])].some((e) => e.toLowerCase() === email.toLowerCase()));
  const held: ZendeskSuspendedTicket = {
    id,
    author: { id: holder?.id ?? null, name: "Sender", email },
    subject: `Suspended ${text}`,
    content: `Body ${text}`,
    cause: "Detected as spam",
    recipient: "support@example.com",
    ticket_id: null,
    attachments: [{ id: standIn.store.state.nextId++, file_name: `${text}.pdf`, content_type: "application/pdf", size: 1234, inline: false, content_path: `/attachments/token/s${id}/?name=${text}.pdf` }],
    via: { channel: "email" },
    created_at: at.toISOString(),
    updated_at: at.toISOString(),
  };
  standIn.store.state.suspended_tickets = [...standIn.store.suspendedTickets(), held];
  return held;
}

/**
 * The subject's tickets in the stand-in's own data: requested, then CC'd on, then neither but carrying
 * a comment of theirs not redacted to nothing, each once.
 */
export function ticketsOf(standIn: ZendeskStandIn, userId: number): { ticket: ZendeskTicket; role: "requester" | "cc" | "commenter" }[] {
  const requested = standIn.store.ticketsRequestedBy(userId).map((ticket) => ({ ticket, role: "requester" as const }));
  const ccd = standIn.store
    .ticketsCcing(userId)
    .filter((t) => t.requester_id !== userId)
    .map((ticket) => ({ ticket, role: "cc" as const }));
  const commented = standIn.store.state.tickets
    .filter((t) => !t.deleted_at && t.requester_id !== userId && !collaboratorsOf(t).includes(userId))
    .filter((t) => t.comments.some((c) => c.author_id === userId && !redactedToNothing(c)))
    .map((ticket) => ({ ticket, role: "commenter" as const }));
  return [...requested, ...ccd, ...commented];
}

/** Every ticket the stand-in still holds that leads to the user (requested by them, CC'ing them or followed by them), soft-deleted tickets too. */
export function ticketsTiedTo(standIn: ZendeskStandIn, userId: number): ZendeskTicket[] {
  return standIn.store.state.tickets.filter((t) => t.requester_id === userId || collaboratorsOf(t).includes(userId));
}

/** Whether Zendesk shows the user as staff (an agent or admin): what staff write on a thread a person requested is that person's communication. */
export function isStaff(standIn: ZendeskStandIn, userId: number): boolean {
  const role = standIn.store.user(userId)?.role;
  return role === "agent" || role === "admin";
}

/** Whether a comment is redacted to nothing (only redaction marks, no live attachment): no one's record any more. */
export const redactedToNothing = (c: ZendeskTicket["comments"][number]) =>
  [...c.plain_body].every((ch) => ch === "▇" || /\s/.test(ch)) && c.attachments.every((a) => a.file_name === "redacted.txt");

/**
 * How many records collect should return for a user, counted from the stand-in's data: the user, their
 * tickets, on tickets they requested the comments they and the staff wrote, on tickets they were CC'd on
 * their own comments, and the live attachments of those comments. Other customers' comments are theirs.
 */
export function expectedRecordCount(standIn: ZendeskStandIn, userId: number): number {
  let count = 1;
  for (const { ticket, role } of ticketsOf(standIn, userId)) {
    count += 1;
    for (const c of ticket.comments) {
      if (redactedToNothing(c)) continue;
      if (c.author_id !== userId && (role !== "requester" || !isStaff(standIn, c.author_id))) continue;
      count += 1 + c.attachments.filter((a) => a.file_name !== "redacted.txt").length;
    }
  }
  return count;
}

/** Whether another customer (neither the user nor staff) wrote on a thread, in words not redacted: then the thread is theirs too. */
export const othersWroteOn = (standIn: ZendeskStandIn, ticket: ZendeskTicket, userId: number): boolean =>
  ticket.comments.some((c) => c.author_id !== userId && !isStaff(standIn, c.author_id) && !redactedToNothing(c));

/**
 * The threads the user requested that another customer wrote on: an erasure of the user redacts their
 * words there and deletes none. With `before`, only those whose last activity is older (outside the rule: a newer one is kept whole).
 */
export const sharedThreads = (standIn: ZendeskStandIn, userId: number, before?: Date): ZendeskTicket[] =>
  ticketsOf(standIn, userId)
    .filter(({ ticket, role }) => role === "requester" && othersWroteOn(standIn, ticket, userId) && (!before || Date.parse(ticket.updated_at) < before.getTime()))
    .map(({ ticket }) => ticket);

/**
 * The closed tickets someone else opened that the user is CC'd on: Zendesk takes no update of a closed
 * ticket, so an erasure cannot take them off its CCs; each ticket's record goes with the user (deleted for
 * good, their CC names no one) or stays with it. With `before`, only those whose last activity is older (outside the rule).
 */
export const closedCcThreads = (standIn: ZendeskStandIn, userId: number, before?: Date): ZendeskTicket[] =>
  ticketsOf(standIn, userId)
    .filter(({ ticket, role }) => role === "cc" && ticket.status === "closed" && (!before || Date.parse(ticket.updated_at) < before.getTime()))
    .map(({ ticket }) => ticket);

/** The user's own comments an erasure redacts (not deletes): on threads they were CC'd on, and on shared threads they requested. */
export function ownRedactable(standIn: ZendeskStandIn, userId: number): ZendeskTicket["comments"] {
  const shared = new Set(sharedThreads(standIn, userId));
  return ticketsOf(standIn, userId)
    .filter(({ ticket, role }) => role !== "requester" || shared.has(ticket))
    .flatMap(({ ticket }) => ticket.comments.filter((c) => c.author_id === userId && !redactedToNothing(c)));
}

/**
 * What an erasure of the user names residual, by type: on each shared thread (with `before`, outside the
 * rule), the ticket and the staff's replies with their live attachments.
 */
export function sharedResidue(standIn: ZendeskStandIn, userId: number, before?: Date): Record<string, number> {
  const residue: Record<string, number> = {};
  const add = (type: string, n: number) => n && (residue[type] = (residue[type] ?? 0) + n);
  for (const ticket of sharedThreads(standIn, userId, before)) {
    add("ticket", 1);
    for (const c of ticket.comments.filter((x) => isStaff(standIn, x.author_id) && !redactedToNothing(x))) {
      add("comment", 1);
      add("attachment", c.attachments.filter((a) => a.file_name !== "redacted.txt").length);
    }
  }
  return residue;
}

/** An erasure outcome as counts: erased, and residual records by type, summed over reasons (reasons and fields are checked where they matter). */
export const outcomeCounts = (o: { erased: number; residual?: readonly { type: string; count: number }[] }) => ({
  erased: o.erased,
  residual: (o.residual ?? []).reduce<Record<string, number>>((by, r) => ({ ...by, [r.type]: (by[r.type] ?? 0) + r.count }), {}),
});

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

/** A context whose units run at once and put the note of each unit whose work threw into `notes` (what the orchestrator hands the next attempt). */
export const notingContext = (notes: string[]) =>
  testContext({
    eraseUnit: async (_category, work, note) => {
      await work().catch((error: unknown) => {
        if (note) notes.push(note);
        throw error;
      });
      return true;
    },
  });

/**
 * Runs a DELETION of `email` through the service, approved, to its end, letting Zendesk's search catch up
 * while the erasure waits (REMOTE_PROCESSING): the stand-in's lag is lifted and the service's clock moved
 * past `lagMs`. `waiting` sees the stand-in then. Returns the request as `report` shows it at the end.
 */
export async function deleteAcrossSearchLag(t: TestService, z: ZendeskStandIn, email: string, lagMs: number, report: string, waiting?: () => void): Promise<any> {
  const r = await submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "test" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  const state = () => t.ok(report, { id: r.id }).then((x) => x.request);
  const ended = (x: { status: string }) => ["COMPLETED", "FAILED"].includes(x.status);
  const first = await t.waitFor(async () => {
    const x = await state();
    return ended(x) || x.tasks.some((k: { step: string; status: string }) => k.step === "ERASE" && k.status === "REMOTE_PROCESSING") ? x : undefined;
  }, "the first pass ended", 30_000);
  if (!ended(first)) {
    waiting?.();
    z.store.searchLagMs = 0;
    t.clock.advance(lagMs + 1_000);
  }
  return t.waitFor(async () => {
    const x = await state();
    return ended(x) ? x : undefined;
  }, "the deletion ended", 30_000);
}

/**
 * A stand-in whose search lags `lagMs`, a connector that waits as long, and the service running it, whose
 * rule keeps threads of the last 730 days on deletion only when told (otherwise what the erasure finds, it erases).
 */
export async function overLaggingSearch(db: TestDatabase, lagMs: number, keepsOnDeletion = false): Promise<{ z: ZendeskStandIn; connector: ZendeskConnector; t: TestService }> {
  const z = await startStandIn();
  z.store.searchLagMs = lagMs;
  const connector = connectorFor(z, { searchLagMs: lagMs });
  const rules = [{ category: "SUPPORT", period: "730 days", legalBasis: "dispute resolution", basisKind: "LEGITIMATE_INTEREST", keepsOnDeletion }];
  const t = await new TestService(db, { ...FAST, DSR_RETENTION_RULES: JSON.stringify(rules) }, [connector]).start();
  return { z, connector, t };
}

/**
 * A stand-in, a connector for it with 1-second time-outs, and the service running it, whose rule keeps
 * nothing of SUPPORT on deletion (an erasure erases what it reaches) and whose retries wait a minute of its
 * clock (at most 3 attempts): for tests of an attempt that fails and of its retry. `prepare` sees the
 * stand-in before the service starts; `env` overrides the service's settings.
 */
export async function retryingZendeskService(db: TestDatabase, prepare?: (z: ZendeskStandIn) => void, env: Record<string, string> = {}): Promise<{ z: ZendeskStandIn; connector: ZendeskConnector; t: TestService }> {
  const z = await startStandIn();
  prepare?.(z);
  z.store.save();
  const connector = connectorFor(z, { timeoutMs: 1_000 });
  const rules = [{ category: "SUPPORT", period: "730 days", legalBasis: "dispute resolution", basisKind: "LEGITIMATE_INTEREST", keepsOnDeletion: false }];
  const t = await new TestService(db, { ...FAST, DSR_TASK_MAX_ATTEMPTS: "3", DSR_RETRY_BASE_MS: "60000", DSR_RETRY_MAX_MS: "60000", DSR_RETENTION_RULES: JSON.stringify(rules), ...env }, [connector]).start();
  return { z, connector, t };
}

/**
 * Runs an approved DELETION of `email` until its first attempt failed on `fault` (the erase task back to
 * PENDING, its error shown), calls `between` (what happens at Zendesk or in the service before the retry),
 * moves the service's clock past the retry's wait, and answers `report`'s request once the deletion ended
 * COMPLETED, with its ticketing line of `deletionOutcome`.
 */
export async function deletionRetriedAfter(t: TestService, z: ZendeskStandIn, email: string, fault: FaultRule, report: string, between: () => Promise<void>): Promise<{ done: any; line: any }> {
  const r = await submit(t, { type: "DELETION", subject: { email }, identityVerified: true, verificationEvidence: "test" });
  z.faults.add(fault);
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  const state = () => t.ok(report, { id: r.id }).then((x) => x.request);
  const failed = await t.waitFor(async () => {
    const x = await state();
    const erase = x.tasks.find((k: { step: string }) => k.step === "ERASE");
    return erase?.status === "PENDING" && erase.attempts === 1 && erase.lastError ? x : undefined;
  }, "the first attempt failed", 30_000);
  expect(failed.status).to.equal("IN_PROGRESS");
  await between();
  t.clock.advance(120_000);
  const done = await t.waitFor(async () => {
    const x = await state();
    return ["COMPLETED", "FAILED"].includes(x.status) ? x : undefined;
  }, "the deletion ended", 30_000);
  expect(done.status, done.statusReason).to.equal("COMPLETED");
  return { done, line: done.deletionOutcome.find((o: { connector: string }) => o.connector === "ticketing") };
}

/**
 * retryingZendeskService for each test of a suite (`prepare` and `env` as there), stopped after it: the object
 * returned holds the current test's stand-in, connector and service.
 */
export function retryingZendeskEach(db: () => TestDatabase, prepare?: (z: ZendeskStandIn) => void, env: Record<string, string> = {}): { z: ZendeskStandIn; connector: ZendeskConnector; t: TestService } {
  const current = {} as { z: ZendeskStandIn; connector: ZendeskConnector; t: TestService };
  beforeEach(async function () {
    this.timeout(60_000);
    Object.assign(current, await retryingZendeskService(db(), prepare, env));
  });
  afterEach(async () => {
    await current.t?.stop();
    await current.connector?.close();
    await current.z?.close();
  });
  return current;
}
