import { describeStream, eventHash, GENESIS_HASH } from "./chain";
import type { StreamSeal } from "./checkpointFile";
import type { AuditEventRow } from "../entities";

/** What tampering looks like, in the categories an auditor asks about. */
export type AuditProblemKind =
  | "EVENT_CHANGED"
  | "EVENT_MISSING"
  | "EVENT_INSERTED"
  | "EVENTS_REORDERED"
  | "CHAIN_BROKEN"
  | "CHAIN_REWRITTEN"
  | "CHECKPOINT_MISSING"
  | "CHECKPOINT_ALTERED";

export interface AuditProblem {
  kind: AuditProblemKind;
  /** The stream (request id or `installation`); null for a checkpoint problem. */
  stream: string | null;
  /** The event's position in its stream, where one is concerned. */
  seq: number | null;
  /** The checkpoint concerned, if any. */
  checkpoint: number | null;
  description: string;
}

/** A seal of this stream and the checkpoint that signed it. */
export type SealRef = StreamSeal & { checkpoint: number };

export interface StreamOutcome {
  checked: number;
  problem: AuditProblem | null;
  /** The stream's last event, and the last one a seal covers (what is not sealed yet lies between). */
  lastSeq: number;
  lastSealedSeq: number;
}

/** Tries the positions an event may have been written at; its hash covers its seq, so a moved event shows where it came from. */
function writtenAt(e: AuditEventRow, near: number): number | null {
  for (let d = 1; d <= 2000; d++) {
    for (const s of [near + d, near - d]) if (s >= 1 && eventHash({ ...e, seq: s }) === e.hash) return s;
  }
  return null;
}

/**
 * Recomputes one stream from `start` (the event before the first one given) and holds it against the
 * seals the checkpoints signed. Stops at the first problem: past it the stream is unreliable anyway.
 */
export function checkStream(stream: string, events: AuditEventRow[], start: { seq: number; hash: string }, seals: readonly SealRef[]): StreamOutcome {
  const trail = describeStream(stream);
  const sealsAt = new Map<number, SealRef[]>();
  for (const s of seals) {
    for (const [at, hash] of [[s.seq, s.hash], [s.fromSeq - 1, s.fromHash]] as const) {
      if (at >= start.seq) sealsAt.set(at, [...(sealsAt.get(at) ?? []), { ...s, hash }]);
    }
  }
  const lastSealedSeq = seals.reduce((m, s) => Math.max(m, s.seq), start.seq);
  const bySeq = new Map(events.map((e) => [e.seq, e]));
  const seqOfHash = new Map(events.map((e) => [e.hash, e.seq]));
  let expected = start.seq + 1;
  let prevHash = start.seq === 0 ? GENESIS_HASH : start.hash;
  let checked = 0;
  const fail = (kind: AuditProblemKind, seq: number, description: string, checkpoint: number | null = null): StreamOutcome => ({
    checked,
    problem: { kind, stream, seq, checkpoint, description: `${trail}: ${description}` },
    lastSeq: events.at(-1)?.seq ?? start.seq,
    lastSealedSeq,
  });
  for (const e of events) {
    if (e.seq !== expected) return fail("EVENT_MISSING", expected, e.seq === expected + 1 ? `event ${expected} is missing (it was deleted)` : `events ${expected} to ${e.seq - 1} are missing (they were deleted)`);
    if (eventHash(e) !== e.hash) {
      const was = writtenAt(e, e.seq);
      if (was === null) return fail("EVENT_CHANGED", e.seq, `event ${e.seq} (${e.action}) was changed after it was written: its content no longer matches its hash`);
      if (was < e.seq) return fail("EVENT_INSERTED", was, `event ${e.seq} was written as event ${was}: ${e.seq - was} event(s) were inserted before it`);
      const other = bySeq.get(was);
      if (other && writtenAt(other, was) === e.seq) return fail("EVENTS_REORDERED", e.seq, `events were reordered: event ${e.seq} was written as event ${was}`);
      return fail("EVENT_MISSING", e.seq, `event ${e.seq} was written as event ${was}: the event(s) before it were deleted and the later ones renumbered`);
    }
    if (e.prevHash !== prevHash) {
      const j = seqOfHash.get(e.prevHash);
      if (j !== undefined && j > e.seq) return fail("EVENTS_REORDERED", e.seq, `events were reordered: event ${e.seq} was written after event ${j}`);
      if (j !== undefined && j < e.seq - 1) return fail("EVENT_INSERTED", j + 1, `event(s) ${j + 1} to ${e.seq - 1} were inserted: event ${e.seq} was written right after event ${j}`);
      return fail("CHAIN_BROKEN", e.seq, `event ${e.seq} does not follow event ${e.seq - 1}: an event between them was deleted, or event ${e.seq - 1} was replaced and its hash recomputed`);
    }
    for (const s of sealsAt.get(e.seq) ?? []) {
      if (s.hash !== e.hash) {
        return fail("CHAIN_REWRITTEN", e.seq, `events up to ${e.seq} no longer end at the hash checkpoint ${s.checkpoint} signed: the chain was rewritten after it was sealed`, s.checkpoint);
      }
    }
    prevHash = e.hash;
    expected += 1;
    checked += 1;
  }
  if (expected - 1 < lastSealedSeq) {
    const by = seals.find((s) => s.seq === lastSealedSeq)?.checkpoint ?? null;
    const what = expected === 1 ? `all its events (1 to ${lastSealedSeq})` : `events ${expected} to ${lastSealedSeq}`;
    return fail("EVENT_MISSING", expected, `${what}, sealed by checkpoint ${by}, are missing (they were deleted)`, by);
  }
  return { checked, problem: null, lastSeq: expected - 1, lastSealedSeq };
}
