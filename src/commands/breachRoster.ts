import { randomUUID } from "node:crypto";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { BreachRosterRow, BreachRosterStatus } from "../entities";
import { badField, conflict } from "../errors";
import { linkTtlSeconds, signLink } from "../export/links";
import { findBreachRoster, noRosterFileReason } from "../queries/breachRosterFinder";
import { Services } from "../services";

export interface StartBreachRosterCommand {
  /** The connectors whose data the breach touched. */
  connectors: string[];
  reason: string;
  caseReference?: string | null;
}

/**
 * Asks for a breach roster: everyone the named systems hold personal data about, with the contact
 * addresses the service can find. A worker draws it (src/roster/rosterRunner.ts); the row says how it
 * went. Audited. Each connector must be registered, and named once.
 */
export async function startBreachRoster(services: Services, actor: Actor, input: StartBreachRosterCommand): Promise<BreachRosterRow> {
  if (!input.connectors.length) throw badField("connectors", "name at least one connector whose data the breach touched");
  input.connectors.forEach((name, i) => {
    if (!services.connectors.get(name)) throw badField("connectors", `connectors[${i}] is not a connector of this installation (the connectors query lists them)`);
    if (input.connectors.indexOf(name) !== i) throw badField("connectors", `connectors[${i}] names a connector already named`);
  });
  const now = services.clock.now();
  const row = Object.assign(new BreachRosterRow(), {
    id: randomUUID(),
    connectors: [...input.connectors],
    reason: input.reason.trim(),
    caseReference: input.caseReference?.trim() || null,
    status: BreachRosterStatus.QUEUED,
    requestedBy: actor.id,
    requestedByRole: actor.role,
    createdAt: now,
    completedAt: null,
    attempts: 0,
    claimedBy: null,
    leaseExpiresAt: null,
    systems: null,
    people: null,
    withoutEmail: null,
    objectKey: null,
    expiresAt: null,
    lastError: null,
  });
  await inTransaction(services.ds, async (em) => {
    await em.getRepository(BreachRosterRow).insert(row);
    await appendAuditEvent(em, { requestId: null, actor, action: "roster.requested", details: { rosterId: row.id, connectors: row.connectors, caseReference: row.caseReference } }, now);
  });
  services.wakeWorkers();
  return row;
}

/**
 * Hands out a signed, expiring link that downloads a roster's CSV (decrypted while it streams; every
 * download is audited): default 24 hours, at most 7 days, never past the file's own retention.
 */
export async function createBreachRosterLink(services: Services, actor: Actor, id: string, ttlSeconds: number | undefined, baseUrl: string): Promise<{ url: string; expiresAt: Date; roster: BreachRosterRow }> {
  const ttl = linkTtlSeconds(ttlSeconds);
  const now = services.clock.now();
  return inTransaction(services.ds, async (em) => {
    const row = await findBreachRoster(em, id);
    const why = noRosterFileReason(row);
    if (why) throw conflict(why, { status: row.status });
    const expiresAt = new Date(Math.min(now.getTime() + ttl * 1000, row.expiresAt!.getTime()));
    await appendAuditEvent(em, { requestId: null, actor, action: "roster.link_created", details: { rosterId: row.id, expiresAt: expiresAt.toISOString() } }, now);
    return { url: signLink(services.secret, "roster", baseUrl, row.id, expiresAt), expiresAt, roster: row };
  });
}
