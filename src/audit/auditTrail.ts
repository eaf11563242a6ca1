import { EntityManager } from "typeorm";
import { isMysql } from "../db/dataSource";
import { HotStatements, transactionRunner } from "../db/hotStatements";
import { AuditEventRow, AuditStreamHeadRow } from "../entities";
import { SYSTEM_ACTOR, type Actor } from "./actor";
import { canonicalJson, eventHash, GENESIS_HASH, streamOf } from "./chain";

export { canonicalJson, GENESIS_HASH } from "./chain";

/** Details an event may carry: ids, statuses, counts, reasons. Never personal data. */
export type AuditDetails = Record<string, string | number | boolean | null | string[]>;

/**
 * What an event says of a reason: the service's own words (a SYSTEM actor's) as they are, a person's only
 * that one was given. A person's words may name anyone ("called from +44 7700 900123"), and the trail is
 * kept for good and changed by no one (an event's hash covers its details), so they stay on the record
 * they explain (a request's statusReason or extensionReason, a hold's releaseReason) and are removed with
 * it (orchestrator/recordRetention.ts); the event says who gave one, and when.
 */
export function reasonDetails(actor: Actor, reason: string): AuditDetails {
  return actor.id === SYSTEM_ACTOR.id ? { reason } : { reasonGiven: true };
}

export interface NewAuditEvent {
  requestId: string | null;
  actor: Actor;
  action: string;
  details?: AuditDetails;
}

type Queued = { event: NewAuditEvent; at: Date };

/** Every transaction appends events and moves its streams' heads: prepared statements (src/db/hotStatements.ts). */
const eventStatements = new HotStatements(AuditEventRow);
const headStatements = new HotStatements(AuditStreamHeadRow);

/** Events a transaction has appended, written to their streams together just before it commits. */
const pending = new WeakMap<EntityManager, Queued[]>();

/**
 * Appends one event to its stream inside the caller's transaction, so the event exists exactly when the
 * state change it records does. Inside inTransaction the event is queued and written by
 * flushAuditEvents at the transaction's end, so a stream's head is locked only for the last moment
 * before commit. Outside one, it is written at once.
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
 * Locks the heads of `streams` (creating the missing ones) and returns them. Only these rows are locked,
 * in key order, so two transactions wait for each other only when they write about the same request,
 * and never deadlock on the heads. SQLite transactions are exclusive already.
 */
async function lockHeads(em: EntityManager, streams: string[]): Promise<Map<string, { seq: number; hash: string }>> {
  const mysql = isMysql(em.connection);
  const read = async (names: string[]) => {
    const marks = names.map(() => "?").join(",");
    const rows: Array<{ stream: string; seq: number; hash: string }> = await em.query(
      `SELECT stream, seq, hash FROM audit_stream_heads WHERE stream IN (${marks}) ORDER BY stream${mysql ? " FOR UPDATE" : ""}`,
      names,
    );
    return rows;
  };
  const heads = new Map((await read(streams)).map((r) => [r.stream, { seq: Number(r.seq), hash: r.hash }]));
  const missing = streams.filter((s) => !heads.has(s));
  if (missing.length) {
    // A new stream (a request's first event): create its head, then lock it like any other. The upsert
    // makes two transactions that both see it missing agree instead of failing on the key.
    const values = missing.map(() => `(?, 0, '${GENESIS_HASH}', 0, '${GENESIS_HASH}', 0)`).join(",");
    // MySQL: INSERT IGNORE, not ON DUPLICATE KEY UPDATE, whose row count (mysql2 connects with
    // CLIENT_FOUND_ROWS) says 1 for a head that was already there, as for one it created.
    const sql = mysql
      ? `INSERT IGNORE INTO audit_stream_heads (stream, seq, hash, sealedSeq, sealedHash, unsealed) VALUES ${values}`
      : `INSERT INTO audit_stream_heads (stream, seq, hash, sealedSeq, sealedHash, unsealed) VALUES ${values} ON CONFLICT(stream) DO NOTHING`;
    // Rows this INSERT created are the genesis heads it wrote, locked by it until commit: no read needed.
    // A head another transaction created meanwhile counts 0 rows (it is left as it is), and then all are
    // read and locked as any other.
    const inserted = (await transactionRunner(em).query(sql, missing, true)).affected ?? 0;
    if (inserted === missing.length) for (const stream of missing) heads.set(stream, { seq: 0, hash: GENESIS_HASH });
    else for (const r of await read(missing)) heads.set(r.stream, { seq: Number(r.seq), hash: r.hash });
  }
  return heads;
}

/** Chains events onto their streams' heads and moves the heads. */
async function writeAuditEvents(em: EntityManager, events: readonly Queued[]): Promise<void> {
  const streams = [...new Set(events.map((q) => streamOf(q.event.requestId)))].sort();
  const heads = await lockHeads(em, streams);
  const rows: AuditEventRow[] = [];
  for (const { event, at } of events) {
    const stream = streamOf(event.requestId);
    const head = heads.get(stream)!;
    const unhashed = {
      stream,
      seq: head.seq + 1,
      requestId: event.requestId,
      actorId: event.actor.id,
      actorRole: event.actor.role,
      action: event.action,
      details: canonicalJson(event.details ?? {}),
      occurredAt: new Date(Math.floor(at.getTime())),
      prevHash: head.hash,
    };
    const row = { ...unhashed, hash: eventHash(unhashed) };
    rows.push(row);
    heads.set(stream, { seq: row.seq, hash: row.hash });
  }
  await eventStatements.insert(em, rows);
  for (const stream of streams) {
    const { seq, hash } = heads.get(stream)!;
    // The head was read or created above, in this transaction: one row moves, or the events must not land.
    if ((await headStatements.update(em, { seq, hash, unsealed: 1 }, { stream })) !== 1) throw new Error(`audit stream ${stream}: its head was not there to move`);
  }
}

