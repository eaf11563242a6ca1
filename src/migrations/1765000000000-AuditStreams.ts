import { createHash } from "node:crypto";
import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { eventHash, GENESIS_HASH, streamOf } from "../audit/chain";
import { isoFromSqliteText } from "../db/timestamps";
import { id36, int, str, text, ts } from "./columns";

const PAGE = 1000;

/** An event row as the one-chain trail stored it. */
interface LegacyRow {
  seq: number;
  requestId: string | null;
  actorId: string;
  actorRole: string;
  action: string;
  details: string;
  occurredAt: Date | string;
  prevHash: string;
  hash: string;
}

/** The one-chain trail's hash (frozen here: it is what the trail before this migration was written with). */
function legacyHash(e: LegacyRow, at: Date): string {
  const content = [e.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, at.toISOString(), e.prevHash];
  return createHash("sha256").update(JSON.stringify(content)).digest("hex");
}

const asDate = (v: Date | string): Date => (v instanceof Date ? v : new Date(isoFromSqliteText(v) ?? v));

/**
 * The audit trail becomes one hash chain per stream (a request's events, or the installation's), sealed
 * by signed checkpoints kept outside the database. Existing events are re-chained into their streams in
 * their old order; the old chain is checked on the way and its head hash, event count and soundness are
 * recorded in an `audit.trail_migrated` event, so a backup of the old trail can still be matched.
 */
export class AuditStreams1765000000000 implements MigrationInterface {
  name = "AuditStreams1765000000000";

  async up(q: QueryRunner): Promise<void> {
    await q.dropIndex("audit_events", "idx_audit_events_request");
    await q.query(`ALTER TABLE audit_events RENAME TO audit_events_legacy`);
    await q.createTable(
      new Table({
        name: "audit_events",
        columns: [
          { ...id36("stream"), isPrimary: true },
          { ...int("seq"), isPrimary: true },
          id36("requestId", true),
          str("actorId", 64),
          str("actorRole", 32),
          str("action", 64),
          text("details"),
          ts("occurredAt"),
          str("prevHash", 64),
          str("hash", 64),
        ],
        indices: [{ name: "idx_audit_events_request", columnNames: ["requestId"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "audit_stream_heads",
        columns: [{ ...id36("stream"), isPrimary: true }, int("seq"), str("hash", 64), int("sealedSeq"), str("sealedHash", 64), int("unsealed")],
        indices: [{ name: "idx_audit_stream_heads_unsealed", columnNames: ["unsealed"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "audit_checkpoints",
        columns: [{ ...int("number"), isPrimary: true }, str("sha256", 64), ts("sealedAt"), int("streams"), int("events"), ts("verifiedAt", true)],
      }),
    );
    const heads = await this.rechain(q);
    await q.query(`DROP TABLE audit_events_legacy`);
    await q.query(`DROP TABLE audit_chain_head`);
    const rows = [...heads.entries()];
    for (let i = 0; i < rows.length; i += PAGE) {
      const chunk = rows.slice(i, i + PAGE);
      await q.query(
        `INSERT INTO audit_stream_heads (stream, seq, hash, sealedSeq, sealedHash, unsealed) VALUES ${chunk.map(() => `(?, ?, ?, 0, '${GENESIS_HASH}', 1)`).join(",")}`,
        chunk.flatMap(([stream, h]) => [stream, h.seq, h.hash]),
      );
    }
  }

  /** Copies the old chain into streams, checking it as it goes; returns every stream's head. */
  private async rechain(q: QueryRunner): Promise<Map<string, { seq: number; hash: string }>> {
    const heads = new Map<string, { seq: number; hash: string }>();
    let legacy = { events: 0, headSeq: 0, headHash: GENESIS_HASH, problem: null as string | null };
    const [{ headSeq, headHash }] = await q.query(`SELECT seq AS headSeq, hash AS headHash FROM audit_chain_head WHERE id = 1`);
    for (let after = 0; ; ) {
      const page: LegacyRow[] = await q.query(`SELECT * FROM audit_events_legacy WHERE seq > ? ORDER BY seq LIMIT ${PAGE}`, [after]);
      const copies: unknown[][] = [];
      for (const e of page) {
        const at = asDate(e.occurredAt);
        e.seq = Number(e.seq);
        if (legacy.problem === null) {
          if (e.seq !== legacy.headSeq + 1) legacy.problem = `event ${legacy.headSeq + 1} was missing`;
          else if (e.prevHash !== legacy.headHash) legacy.problem = `event ${e.seq} did not point at event ${e.seq - 1}`;
          else if (legacyHash(e, at) !== e.hash) legacy.problem = `event ${e.seq} had been changed`;
        }
        legacy = { ...legacy, events: legacy.events + 1, headSeq: e.seq, headHash: e.hash };
        copies.push(this.chained(heads, { ...e, occurredAt: at }, e.occurredAt));
      }
      if (copies.length) await this.insert(q, copies);
      if (page.length < PAGE) break;
      after = page[page.length - 1].seq;
    }
    if (legacy.problem === null && (Number(headSeq) !== legacy.headSeq || headHash !== legacy.headHash)) legacy.problem = `the chain ended at event ${legacy.headSeq} but its head recorded event ${headSeq}`;
    const now = new Date();
    const details = JSON.stringify({
      legacyChainIntact: legacy.problem === null,
      legacyEvents: legacy.events,
      legacyHeadHash: legacy.headHash,
      legacyHeadSeq: legacy.headSeq,
      legacyProblem: legacy.problem,
    });
    const marker = { seq: 0, requestId: null, actorId: "system", actorRole: "SYSTEM", action: "audit.trail_migrated", details, occurredAt: now, prevHash: "", hash: "" };
    const stored = q.connection.options.type === "better-sqlite3" ? now.toISOString().replace("T", " ").replace("Z", "") : now;
    await this.insert(q, [this.chained(heads, marker, stored)]);
    return heads;
  }

  /** The new-form row of one event, chained onto its stream's head (which it moves). */
  private chained(heads: Map<string, { seq: number; hash: string }>, e: Omit<LegacyRow, "occurredAt"> & { occurredAt: Date }, stored: Date | string): unknown[] {
    const stream = streamOf(e.requestId);
    const head = heads.get(stream) ?? { seq: 0, hash: GENESIS_HASH };
    const content = { stream, seq: head.seq + 1, requestId: e.requestId, actorId: e.actorId, actorRole: e.actorRole, action: e.action, details: e.details, occurredAt: e.occurredAt, prevHash: head.hash };
    const hash = eventHash(content);
    heads.set(stream, { seq: content.seq, hash });
    return [stream, content.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, stored, content.prevHash, hash];
  }

  private async insert(q: QueryRunner, rows: unknown[][]): Promise<void> {
    await q.query(
      `INSERT INTO audit_events (stream, seq, requestId, actorId, actorRole, action, details, occurredAt, prevHash, hash) VALUES ${rows.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(",")}`,
      rows.flat(),
    );
  }

  /** Back to one chain: the streams' events in time order (the sealing checkpoints stay in storage). */
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_checkpoints`);
    await q.query(`DROP TABLE audit_stream_heads`);
    await q.dropIndex("audit_events", "idx_audit_events_request");
    await q.query(`ALTER TABLE audit_events RENAME TO audit_events_streams`);
    await q.createTable(
      new Table({
        name: "audit_events",
        columns: [{ ...int("seq"), isPrimary: true }, id36("requestId", true), str("actorId", 64), str("actorRole", 32), str("action", 64), text("details"), ts("occurredAt"), str("prevHash", 64), str("hash", 64)],
        indices: [{ name: "idx_audit_events_request", columnNames: ["requestId"] }],
      }),
    );
    await q.createTable(new Table({ name: "audit_chain_head", columns: [{ ...int("id"), isPrimary: true }, int("seq"), str("hash", 64)] }));
    const rows: LegacyRow[] = await q.query(`SELECT * FROM audit_events_streams WHERE action <> 'audit.trail_migrated' ORDER BY occurredAt, stream, seq`);
    let head = { seq: 0, hash: GENESIS_HASH };
    for (const e of rows) {
      const at = asDate(e.occurredAt);
      const row = { ...e, seq: head.seq + 1, prevHash: head.hash };
      const hash = legacyHash(row, at);
      await q.query(`INSERT INTO audit_events (seq, requestId, actorId, actorRole, action, details, occurredAt, prevHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
        row.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, e.occurredAt, row.prevHash, hash,
      ]);
      head = { seq: row.seq, hash };
    }
    await q.query(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, ?, ?)`, [head.seq, head.hash]);
    await q.query(`DROP TABLE audit_events_streams`);
  }
}
