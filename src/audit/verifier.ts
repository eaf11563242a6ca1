import type { KeyObject } from "node:crypto";
import type { DataSource } from "typeorm";
import { keyIdOf } from "../certificates/signing";
import { inTransaction } from "../db/transaction";
import { AuditCheckpointRow, AuditEventRow } from "../entities";
import { GENESIS_HASH } from "./chain";
import type { CheckpointStore } from "./checkpointStore";
import { Checkpoint, readCheckpoint, sha256Of, signVerifiedMark, verifiedMarkHolds } from "./checkpointFile";
import type { AuditSigningKey } from "./signingKey";
import { AuditProblem, checkStream, SealRef, StreamOutcome } from "./streamCheck";

export type { AuditProblem, AuditProblemKind } from "./streamCheck";

/** Problems listed at most; the count says how many there were. */
const MAX_LISTED = 100;
const PAGE = 2000;
const STREAMS_PER_QUERY = 200;

export interface TrailVerification {
  ok: boolean;
  /** True when everything was checked from the first event and checkpoint. */
  full: boolean;
  /** The checkpoint found intact by an earlier verification that this one started from (null: from the beginning). */
  fromCheckpoint: number | null;
  latestCheckpoint: number | null;
  latestCheckpointAt: Date | null;
  checkedCheckpoints: number;
  checkedStreams: number;
  checkedEvents: number;
  /** Events written after the newest checkpoint: protected by their hash chain only, until the next one. */
  unsealedEvents: number;
  /** Problems found (the first MAX_LISTED); problemCount says how many in all. */
  problems: AuditProblem[];
  problemCount: number;
  keyId: string;
  summary: string;
}

interface CheckpointWalk {
  seals: Map<string, SealRef[]>;
  problems: AuditProblem[];
  checked: number;
  latest: Checkpoint | null;
  latestSha: string | null;
}

const checkpointProblem = (kind: "CHECKPOINT_MISSING" | "CHECKPOINT_ALTERED", n: number, description: string): AuditProblem => ({ kind, stream: null, seq: null, checkpoint: n, description });

/** Walks the checkpoint files after `start` (whose file hash the walk links to): present, signed, linked. */
async function walkCheckpoints(ds: DataSource, store: CheckpointStore, publicKey: KeyObject, start: { number: number; sha256: string | null }): Promise<CheckpointWalk> {
  const walk: CheckpointWalk = { seals: new Map(), problems: [], checked: 0, latest: null, latestSha: null };
  const stored = new Set(await store.list(start.number));
  const [recorded] = await ds.getRepository(AuditCheckpointRow).find({ order: { number: "DESC" }, take: 1 });
  const highestStored = [...stored].reduce((a, b) => Math.max(a, b), start.number);
  const top = Math.max(highestStored, recorded?.number ?? 0);
  let previous: { number: number; sha256: string } | null = start.number === 0 ? null : start.sha256 === null ? null : { number: start.number, sha256: start.sha256 };
  let linkKnown = start.number === 0 || start.sha256 !== null;
  for (let n = start.number + 1; n <= top; n++) {
    const text = stored.has(n) ? await store.get(n) : null;
    if (text === null) {
      walk.problems.push(
        checkpointProblem(
          "CHECKPOINT_MISSING",
          n,
          n < highestStored
            ? `checkpoint ${n} is missing from ${store.where}: the list of checkpoints jumps from ${n - 1} to a later one`
            : `checkpoint ${n} was written (the database records it) but is no longer in ${store.where}: the newest checkpoints were removed`,
        ),
      );
      linkKnown = false;
      continue;
    }
    walk.checked += 1;
    const reading = readCheckpoint(text, n, publicKey);
    if (!reading.ok) {
      walk.problems.push(checkpointProblem("CHECKPOINT_ALTERED", n, `checkpoint ${n} cannot be trusted: ${reading.reason}`));
      linkKnown = false;
      continue;
    }
    const link = reading.checkpoint.previous;
    if (linkKnown && (link?.number !== previous?.number || link?.sha256 !== previous?.sha256)) {
      walk.problems.push(
        checkpointProblem("CHECKPOINT_ALTERED", n - 1, n === 1 ? `checkpoint 1 claims a predecessor: checkpoints before it were removed` : `checkpoint ${n - 1} is not the file checkpoint ${n} was linked to: it was replaced`),
      );
    }
    previous = { number: n, sha256: sha256Of(text) };
    linkKnown = true;
    walk.latest = reading.checkpoint;
    walk.latestSha = previous.sha256;
    for (const seal of reading.checkpoint.streams) pushTo(walk.seals, seal.stream, { ...seal, checkpoint: n });
  }
  return walk;
}

function pushTo<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function rowOf(r: AuditEventRow): AuditEventRow {
  return { ...r, seq: Number(r.seq), occurredAt: r.occurredAt instanceof Date ? r.occurredAt : new Date(r.occurredAt) };
}

/** Every stream from its first event, page by page in (stream, seq) order; then the sealed streams with no events left. */
async function checkAllStreams(ds: DataSource, seals: Map<string, SealRef[]>, each: (stream: string, outcome: StreamOutcome) => void): Promise<void> {
  const repo = ds.getRepository(AuditEventRow);
  const seen = new Set<string>();
  let current: AuditEventRow[] = [];
  const finish = () => {
    if (current.length === 0) return;
    const stream = current[0].stream;
    seen.add(stream);
    each(stream, checkStream(stream, current, { seq: 0, hash: GENESIS_HASH }, seals.get(stream) ?? []));
    current = [];
  };
  for (let after: { stream: string; seq: number } | null = null; ; ) {
    const qb = repo.createQueryBuilder("e").orderBy("e.stream", "ASC").addOrderBy("e.seq", "ASC").take(PAGE);
    if (after) qb.where("e.stream > :s OR (e.stream = :s AND e.seq > :q)", { s: after.stream, q: after.seq });
    const page = (await qb.getMany()).map(rowOf);
    for (const e of page) {
      if (current.length && current[0].stream !== e.stream) finish();
      current.push(e);
    }
    if (page.length < PAGE) break;
    after = { stream: page[page.length - 1].stream, seq: page[page.length - 1].seq };
  }
  finish();
  for (const [stream, list] of seals) if (!seen.has(stream)) each(stream, checkStream(stream, [], { seq: 0, hash: GENESIS_HASH }, list));
}

/**
 * The streams written since the checkpoint a previous verification found intact: each from the last
 * event that checkpoint (or an earlier one) sealed, as the newer checkpoints signed it.
 */
async function checkNewerStreams(ds: DataSource, seals: Map<string, SealRef[]>, each: (stream: string, outcome: StreamOutcome) => void): Promise<void> {
  const starts = new Map<string, { seq: number; hash: string }>();
  for (const [stream, list] of seals) {
    const first = list.reduce((a, b) => (b.fromSeq < a.fromSeq ? b : a));
    starts.set(stream, { seq: first.fromSeq - 1, hash: first.fromHash });
  }
  const unsealed: Array<{ stream: string; sealedSeq: number; sealedHash: string }> = await ds.query(`SELECT stream, sealedSeq, sealedHash FROM audit_stream_heads WHERE unsealed = 1`);
  for (const h of unsealed) if (!starts.has(h.stream)) starts.set(h.stream, { seq: Number(h.sealedSeq), hash: h.sealedHash });
  const streams = [...starts.keys()].sort();
  for (let i = 0; i < streams.length; i += STREAMS_PER_QUERY) {
    const chunk = streams.slice(i, i + STREAMS_PER_QUERY);
    const rows = (await ds.getRepository(AuditEventRow).createQueryBuilder("e").where("e.stream IN (:...chunk)", { chunk }).orderBy("e.stream", "ASC").addOrderBy("e.seq", "ASC").getMany()).map(rowOf);
    const byStream = new Map<string, AuditEventRow[]>();
    for (const e of rows) pushTo(byStream, e.stream, e);
    for (const stream of chunk) {
      const start = starts.get(stream)!;
      each(stream, checkStream(stream, (byStream.get(stream) ?? []).filter((e) => e.seq > start.seq), start, seals.get(stream) ?? []));
    }
  }
}

/**
 * Checks the audit trail against the signed checkpoints in storage: that every checkpoint is there,
 * signed by the service's key and linked to the one before; that every event is unchanged, in its
 * place, and that each stream still ends where its checkpoints sealed it. By default it starts from the
 * newest checkpoint an earlier verification found intact (cost: what was written since); `full` checks
 * everything from the beginning. A verification that finds nothing wrong records how far it got, signed by
 * `signer` (the service key; none given: nothing is recorded).
 */
export async function verifyTrail(
  ds: DataSource,
  store: CheckpointStore,
  publicKey: KeyObject,
  options: { full: boolean; now: Date; signer?: AuditSigningKey },
): Promise<TrailVerification> {
  // Where to start is read from the database, which is what the trail guards against: only a mark the
  // key signed counts, and one it did not sign is tampering (it would move the start past edited events).
  const marks = (await ds.getRepository(AuditCheckpointRow).createQueryBuilder("c").where("c.verifiedAt IS NOT NULL").orderBy("c.number", "DESC").getMany()).map((r) => ({ ...r, number: Number(r.number) }));
  const markProblems: AuditProblem[] = marks
    .filter((m) => !verifiedMarkHolds(m, publicKey))
    .map((m) =>
      checkpointProblem(
        "CHECKPOINT_ALTERED",
        m.number,
        `the database says a verification found the trail intact up to checkpoint ${m.number} on ${m.verifiedAt!.toISOString()}, but no verification signed that with key ${keyIdOf(publicKey)}: it was written by someone with database access, so verification does not start there`,
      ),
    );
  const verified = options.full ? null : (marks.find((m) => verifiedMarkHolds(m, publicKey)) ?? null);
  const problems: AuditProblem[] = [];
  if (verified) {
    const text = await store.get(verified.number);
    const when = verified.verifiedAt!.toISOString();
    if (text === null) problems.push(checkpointProblem("CHECKPOINT_MISSING", verified.number, `checkpoint ${verified.number}, found intact on ${when}, is no longer in ${store.where}`));
    else if (sha256Of(text) !== verified.sha256) problems.push(checkpointProblem("CHECKPOINT_ALTERED", verified.number, `checkpoint ${verified.number} was replaced since it was found intact on ${when}`));
    else {
      // The database only says where to start: the file itself must still be signed by the key given.
      const reading = readCheckpoint(text, verified.number, publicKey);
      if (!reading.ok) problems.push(checkpointProblem("CHECKPOINT_ALTERED", verified.number, `checkpoint ${verified.number} cannot be trusted: ${reading.reason}`));
    }
  }
  const walk = await walkCheckpoints(ds, store, publicKey, verified ? { number: verified.number, sha256: verified.sha256 } : { number: 0, sha256: null });
  problems.push(...walk.problems);
  let checkedEvents = 0;
  let checkedStreams = 0;
  let unsealedEvents = 0;
  const each = (_stream: string, outcome: StreamOutcome) => {
    checkedStreams += 1;
    checkedEvents += outcome.checked;
    unsealedEvents += Math.max(0, outcome.lastSeq - outcome.lastSealedSeq);
    if (outcome.problem) problems.push(outcome.problem);
  };
  if (verified) await checkNewerStreams(ds, walk.seals, each);
  else await checkAllStreams(ds, walk.seals, each);
  problems.push(...markProblems);

  const latestNumber = walk.latest?.number ?? verified?.number ?? null;
  const latestSha = walk.latestSha ?? verified?.sha256 ?? null;
  // Only the holder of the signing key records how far it got: a verification with a published key alone cannot sign the mark.
  if (problems.length === 0 && latestNumber !== null && latestSha !== null && options.signer) {
    const at = new Date(Math.floor(options.now.getTime()));
    const verifiedSignature = signVerifiedMark(latestNumber, latestSha, at, options.signer);
    await inTransaction(ds, (em) => em.getRepository(AuditCheckpointRow).update({ number: latestNumber }, { verifiedAt: at, verifiedSignature }));
  }
  const keyId = keyIdOf(publicKey);
  const result: TrailVerification = {
    ok: problems.length === 0,
    full: verified === null,
    fromCheckpoint: verified?.number ?? null,
    latestCheckpoint: latestNumber,
    latestCheckpointAt: walk.latest ? new Date(walk.latest.sealedAt) : (verified?.sealedAt ?? null),
    checkedCheckpoints: walk.checked,
    checkedStreams,
    checkedEvents,
    unsealedEvents,
    problems: problems.slice(0, MAX_LISTED),
    problemCount: problems.length,
    keyId,
    summary: "",
  };
  result.summary = summarize(result);
  return result;
}

function summarize(v: TrailVerification): string {
  const scope = v.full ? "from the first event" : `since checkpoint ${v.fromCheckpoint}, which an earlier verification found intact`;
  const sealed = v.latestCheckpoint === null ? "no checkpoint has been written yet" : `checkpoints up to ${v.latestCheckpoint} are signed by key ${v.keyId}`;
  const pending = v.unsealedEvents > 0 ? `; ${v.unsealedEvents} event(s) written after the newest checkpoint are protected by their hash chain only until the next one` : "";
  if (v.ok) return `The audit trail is intact: ${v.checkedEvents} event(s) in ${v.checkedStreams} trail(s) checked ${scope}; ${sealed}${pending}.`;
  return `The audit trail was tampered with: ${v.problemCount} problem(s) found, checking ${scope}. First: ${v.problems[0].description}.`;
}
