import { createHash } from "node:crypto";
import { DataSource, EntityManager, MoreThan } from "typeorm";
import { isMysql } from "../db/dataSource";
import { AuditChainHeadRow, AuditEventRow } from "../entities";
import type { Actor } from "./actor";

export const GENESIS_HASH = "0".repeat(64);

/** Details an event may carry: ids, statuses, counts, reasons. Never personal data. */
export type AuditDetails = Record<string, string | number | boolean | null | string[]>;

export interface NewAuditEvent {
  requestId: string | null;
  actor: Actor;
  action: string;
  details?: AuditDetails;
}

/** JSON with object keys sorted, so the same details always hash the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The hash of one event: it covers every column but `hash` itself, prevHash included. */
export function eventHash(e: Omit<AuditEventRow, "hash">): string {
  const content = [e.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, e.occurredAt.toISOString(), e.prevHash];
  return createHash("sha256").update(JSON.stringify(content)).digest("hex");
}

/** Events a transaction has appended, written to the chain together just before it commits. */
const pending = new WeakMap<EntityManager, Array<{ event: NewAuditEvent; at: Date }>>();

/**
 * Appends one event to the chain inside the caller's transaction, so the event exists exactly when the
 * state change it records does. Inside inTransaction the event is queued and written by
 * flushAuditEvents at the transaction's end: the chain head (one row every transaction appends to) is
 * then locked only for the last moment before commit, not for the whole transaction, so concurrent
 * transactions queue on it as briefly as possible. Outside one, it is written at once.
 */
export async function appendAuditEvent(em: EntityManager, event: NewAuditEvent, at: Date): Promise<void> {
  const queued = pending.get(em);
  if (queued) queued.push({ event, at });
  else await writeAuditEvents(em, [{ event, at }]);
}

/** Starts queueing the events `em`'s transaction appends (inTransaction calls it first). */
export function deferAuditEvents(em: EntityManager): void {
  pending.set(em, []);
}

/** Writes the queued events, in order, as the transaction's last step (inTransaction calls it). */
export async function flushAuditEvents(em: EntityManager): Promise<void> {
  const queued = pending.get(em) ?? [];
  pending.delete(em);
  if (queued.length) await writeAuditEvents(em, queued);
}

/**
 * Chains events onto the head: the head row is locked until commit (MySQL) or the transaction is the
 * only writer (SQLite), so appends of concurrent transactions never interleave.
 */
async function writeAuditEvents(em: EntityManager, events: ReadonlyArray<{ event: NewAuditEvent; at: Date }>): Promise<void> {
  const heads = em.getRepository(AuditChainHeadRow);
  const head = await heads.findOne({ where: { id: 1 }, ...(isMysql(em.connection) ? { lock: { mode: "pessimistic_write" as const } } : {}) });
  if (!head) throw new Error("audit_chain_head row is missing; run migrations");
  let { seq, hash } = head;
  const rows: AuditEventRow[] = [];
  for (const { event, at } of events) {
    const unhashed = {
      seq: seq + 1,
      requestId: event.requestId,
      actorId: event.actor.id,
      actorRole: event.actor.role,
      action: event.action,
      details: canonicalJson(event.details ?? {}),
      occurredAt: new Date(Math.floor(at.getTime())),
      prevHash: hash,
    };
    const row = em.getRepository(AuditEventRow).create({ ...unhashed, hash: eventHash(unhashed) });
    rows.push(row);
    ({ seq, hash } = row);
  }
  await em.getRepository(AuditEventRow).insert(rows);
  await heads.update({ id: 1 }, { seq, hash });
}

export interface ChainVerification {
  ok: boolean;
  checkedEvents: number;
  /** seq of the first event that does not fit the chain (or the head's seq when the tail is missing). */
  firstBrokenSeq: number | null;
  problem: string | null;
}

const PAGE = 1000;

/** Recomputes the whole chain in seq order and reports the first link that does not hold. */
export async function verifyAuditChain(ds: DataSource): Promise<ChainVerification> {
  const events = ds.getRepository(AuditEventRow);
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  const broken = (seq: number, problem: string): ChainVerification => ({ ok: false, checkedEvents: checked, firstBrokenSeq: seq, problem });
  for (;;) {
    const page = await events.find({ where: { seq: MoreThan(expectedSeq - 1) }, order: { seq: "ASC" }, take: PAGE });
    for (const e of page) {
      if (e.seq !== expectedSeq) return broken(expectedSeq, `event ${expectedSeq} is missing (next stored event is ${e.seq})`);
      if (e.prevHash !== prevHash) return broken(e.seq, `event ${e.seq} does not point at the hash of event ${e.seq - 1}`);
      if (eventHash(e) !== e.hash) return broken(e.seq, `event ${e.seq} was changed after it was written (its hash does not match its content)`);
      prevHash = e.hash;
      expectedSeq += 1;
      checked += 1;
    }
    if (page.length < PAGE) break;
  }
  const head = await ds.getRepository(AuditChainHeadRow).findOneBy({ id: 1 });
  if (!head) return broken(expectedSeq, "the chain head row is missing");
  if (head.seq !== expectedSeq - 1 || head.hash !== prevHash) {
    return broken(Math.min(head.seq, expectedSeq), `the chain ends at event ${expectedSeq - 1} but its head records event ${head.seq}: events were removed from the end`);
  }
  return { ok: true, checkedEvents: checked, firstBrokenSeq: null, problem: null };
}
