import { randomUUID } from "node:crypto";
import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { BreachRosterRow, BreachRosterStatus } from "../entities";
import { badField, conflict, notFound } from "../errors";
import { DEFAULT_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS, MIN_LINK_TTL_SECONDS, signLink } from "../export/links";
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

/** Why a roster has no file to download, or null when it has one. */
export function noRosterFileReason(row: BreachRosterRow): string | null {
  if (row.status === BreachRosterStatus.COMPLETED) return row.objectKey ? null : "this roster's file was removed when its retention ended; draw a new roster";
  if (row.status === BreachRosterStatus.FAILED) return "this roster failed: it has no file (see lastError), draw a new one";
  return `this roster is ${row.status}: its file is not written yet`;
}

/**
 * Hands out a signed, expiring link that downloads a roster's CSV (decrypted while it streams; every
 * download is audited): default 24 hours, at most 7 days, never past the file's own retention.
 */
export async function createBreachRosterLink(services: Services, actor: Actor, id: string, ttlSeconds: number | undefined, baseUrl: string): Promise<{ url: string; expiresAt: Date; roster: BreachRosterRow }> {
  const ttl = ttlSeconds ?? DEFAULT_LINK_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < MIN_LINK_TTL_SECONDS || ttl > MAX_LINK_TTL_SECONDS) {
    throw badField("ttl", `ttl must be a whole number of seconds from ${MIN_LINK_TTL_SECONDS} to ${MAX_LINK_TTL_SECONDS} (7 days)`);
  }
  const now = services.clock.now();
  return inTransaction(services.ds, async (em) => {
    const row = await em.getRepository(BreachRosterRow).findOneBy({ id: id.toLowerCase() });
    if (!row) throw notFound("Breach roster", id);
    const why = noRosterFileReason(row);
    if (why) throw conflict(why, { status: row.status });
    const expiresAt = new Date(Math.min(now.getTime() + ttl * 1000, row.expiresAt!.getTime()));
    await appendAuditEvent(em, { requestId: null, actor, action: "roster.link_created", details: { rosterId: row.id, expiresAt: expiresAt.toISOString() } }, now);
    return { url: signLink(services.secret, "roster", baseUrl, row.id, expiresAt), expiresAt, roster: row };
  });
}
