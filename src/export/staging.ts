import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { DataSource, EntityManager, FindOptionsWhere, Not } from "typeorm";
import { ConnectorError, type SubjectRecord } from "../connectors/sdk";
import { deleteMatching } from "../db/deleteMatching";
import { inTransaction } from "../db/transaction";
import { StagedBatchRow, StagedKeyRow } from "../entities";
import { IV_BYTES, TAG_BYTES } from "./crypto";
import { escapeSeparators, lineHead, writeRecordLine } from "./recordBytes";

const deflate = promisify(zlib.deflateRaw);
const inflate = promisify(zlib.inflateRaw);

/**
 * A batch is closed once its JSON Lines reach about this many bytes: large enough that a
 * 2,000,000-record subject is a couple of thousand rows (few statements, near-sequential I/O), small
 * enough that compressing or encrypting one never holds a thread for long and that the export, which
 * holds a few at once, stays small (1 MiB batches cost it about 25 MB more for no measurable speed).
 */
export const BATCH_BYTES = 1 << 18;

/**
 * A batch's buffer: its lines reach BATCH_BYTES plus at most one line. The writer fills buffers of this
 * size (a line too long for what is left gets a bigger one), and an opened batch is inflated into one,
 * not into zlib's 16 KiB pieces copied together afterwards, which made every batch the export read cost
 * twice its size in garbage.
 */
const BATCH_BUFFER_BYTES = BATCH_BYTES + (BATCH_BYTES >> 2);

/** Where a batch sits: what its ciphertext is bound to, so a batch moved or reordered fails authentication. */
export interface BatchPosition {
  requestId: string;
  taskId: string;
  attempt: number;
  category: string;
  seq: number;
}

const aadOf = (p: BatchPosition) => Buffer.from(`dsr-staged:v1:${p.requestId}:${p.taskId}:${p.attempt}:${p.category}:${p.seq}`, "utf8");

/**
 * Batches this small are deflated where they are, with a window no larger than the batch: 10-15 µs,
 * against about 90 µs of CPU and 130 µs of waiting for the round trip through libuv's pool (zlib's
 * set-up for a 32 KB window is most of either). Only a collect's last batch of a category is ever
 * this small (append() closes batches when full), so a big collect deflates at most a few in place,
 * and a request whose collects find a few records each, most requests, waits on the pool for none.
 */
export const IN_PLACE_BYTES = 4096;
/** A sealed batch packed this small is inflated where it is: at most about 1 MB out, under a millisecond. */
const IN_PLACE_PACKED = 1024;

/**
 * JSON Lines (UTF-8) -> IV || AES-256-GCM(deflate level 1) || tag. A batch larger than IN_PLACE_BYTES
 * is deflated on libuv's pool, off the event loop. A 9-15 bit window: any inflater with the default
 * 15 opens it.
 */
export function sealBatch(key: Buffer, position: BatchPosition, lines: Buffer): Promise<Buffer> {
  return sealBytes(key, aadOf(position), lines);
}

/** Bytes -> IV || AES-256-GCM(deflate level 1) || tag, bound to `aad`: how the service keeps personal data at rest in its database (staged records, kept ids). */
export async function sealBytes(key: Buffer, aad: Buffer, bytes: Buffer): Promise<Buffer> {
  const packed = bytes.length <= IN_PLACE_BYTES ? zlib.deflateRawSync(bytes, { level: 1, windowBits: windowBitsFor(bytes.length) }) : await deflate(bytes, { level: 1 });
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(aad);
  return Buffer.concat([iv, cipher.update(packed), cipher.final(), cipher.getAuthTag()]);
}

/** The smallest window raw deflate takes (9 bits) that spans `bytes`, at most zlib's 15. */
function windowBitsFor(bytes: number): number {
  return Math.min(15, Math.max(9, Math.ceil(Math.log2(Math.max(bytes, 1)))));
}

/** The JSON Lines of a sealed batch; throws when it was changed, moved, or sealed under another key. */
export async function openBatch(key: Buffer, position: BatchPosition, sealed: Buffer): Promise<Buffer> {
  const packed = unseal(key, aadOf(position), sealed);
  if (!packed) {
    // Not retried: reading it again gives the same bytes. The request fails with a reason a person can act on.
    throw new ConnectorError(
      "Records collected for this request could not be read back: they were altered or damaged after they were collected. Submit a new request",
      `a staged batch failed authentication (task ${position.taskId}, ${position.category} #${position.seq})`,
      false,
    );
  }
  return packed.length <= IN_PLACE_PACKED ? zlib.inflateRawSync(packed) : inflate(packed, { chunkSize: BATCH_BUFFER_BYTES });
}

/** The bytes `sealBytes` sealed under `key` and `aad`; null when they were changed, moved, or sealed under another key. */
export async function openSealed(key: Buffer, aad: Buffer, sealed: Buffer): Promise<Buffer | null> {
  const packed = unseal(key, aad, sealed);
  return packed && (packed.length <= IN_PLACE_PACKED ? zlib.inflateRawSync(packed) : inflate(packed, { chunkSize: BATCH_BUFFER_BYTES }));
}

/** The deflated bytes of a sealed payload, or null when it fails authentication. */
function unseal(key: Buffer, aad: Buffer, sealed: Buffer): Buffer | null {
  const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES)).setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    const packed = decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES));
    // GCM gives everything from update(): final() only checks the tag (a copy of both would be garbage).
    const rest = decipher.final();
    return rest.length ? Buffer.concat([packed, rest]) : packed;
  } catch {
    return null;
  }
}

/**
 * The export's JSON Lines form of a record: exactly what the archive's data file carries. A line
 * separator or paragraph separator in a value is written as its JSON escape (the same string to any
 * JSON parser): raw, Python's str.splitlines() and other Unicode-aware line readers cut the record in
 * two there, and a JSON Lines reader must find one record per line. The staging writer writes the
 * same bytes without making the string (writeRecordLine, which a test holds to this).
 */
export function recordLine(connector: string, r: SubjectRecord): string {
  const at = r.recordedAt instanceof Date && !Number.isNaN(r.recordedAt.getTime()) ? r.recordedAt.toISOString() : null;
  const json = JSON.stringify({ connector, type: String(r.type), id: String(r.id), recordedAt: at, data: r.data ?? {} });
  return `${escapeSeparators(json)}\n`;
}

/**
 * A sealed batch's row, its fields set one by one on the entity. Not `Object.assign(row, { ...position,
 * ... })`: V8 did not free that spread object young, and one per batch of a big collect lived on as
 * garbage in the old generation, whose pages it keeps (bench:subject, 2,000,000 events, what outlived
 * a scavenge over 10 s of the collect: 0.65-1.1 MB of such objects, the most of any allocation site).
 */
function batchRow(position: BatchPosition, connector: string, records: number, payload: Buffer, createdAt: Date): StagedBatchRow {
  const row = new StagedBatchRow();
  row.id = randomUUID();
  row.requestId = position.requestId;
  row.taskId = position.taskId;
  row.attempt = position.attempt;
  row.connector = connector;
  row.category = position.category;
  row.seq = position.seq;
  row.records = records;
  row.payload = payload;
  row.createdAt = createdAt;
  return row;
}

/** Who is staging: the batches' owner. */
export interface StagingTarget {
  requestId: string;
  taskId: string;
  attempt: number;
  connector: string;
}

/** Stores one sealed batch (the caller decides the transaction: its own, or a manual completion's). */
export type BatchInsert = (row: StagedBatchRow) => Promise<void>;

/** A batch insert in a transaction of its own (serialized with every other write on SQLite). */
export const insertAlone =
  (ds: DataSource): BatchInsert =>
  (row) =>
    inTransaction(ds, async (em) => void (await em.getRepository(StagedBatchRow).insert(row)));

/** A batch insert inside the caller's transaction. */
export const insertWith =
  (em: EntityManager): BatchInsert =>
  async (row) =>
    void (await em.getRepository(StagedBatchRow).insert(row));

/**
 * Stages one COLLECT attempt's records: one open batch per category, sealed and stored once it is big
 * enough, while the next fills (one write in flight at most, so memory stays at a few batches). The key
 * is the request's staging key, asked for when the first batch is sealed (a COLLECT that finds nothing
 * makes none); it is zeroed by finish() or discard().
 */
export class StagingWriter {
  private readonly open = new Map<string, { lines: Buffer; used: number; records: number; seq: number }>();
  /** Batch buffers whose sealing ended, for the next batches: a collect reuses a few instead of making one per batch. */
  private readonly spare: Buffer[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  private key: Promise<Buffer> | null = null;
  private prefetched: Promise<Buffer | null> | null = null;
  /** Records added so far. */
  records = 0;
  /** How each line starts: the connector's name. */
  private readonly head: string;

  constructor(
    private readonly keyOf: () => Promise<Buffer>,
    private readonly target: StagingTarget,
    private readonly insert: BatchInsert,
    private readonly now: () => Date,
  ) {
    this.head = lineHead(target.connector);
  }

  /**
   * Appends the record's line to its category's batch, as UTF-8 bytes in a buffer outside the JS heap
   * (a batch built as one string is a rope holding every line on the heap until it is flattened),
   * written there directly rather than made a string first (writeRecordLine).
   */
  async add(r: SubjectRecord): Promise<void> {
    const sealing = this.append(r);
    if (sealing) await sealing;
  }

  /**
   * add() for a loop that runs once per record: appends at once and returns a promise only when the
   * record filled its batch (the batch is then sealed: await it before the next record), so most
   * records cost no promise.
   */
  append(r: SubjectRecord): Promise<void> | null {
    const category = String(r.category);
    let batch = this.open.get(category);
    if (!batch) this.open.set(category, (batch = { lines: this.buffer(), used: 0, records: 0, seq: 0 }));
    // Its line (recordLine's bytes), written into the batch's buffer; a line longer than what is left
    // (a very large record) gets a bigger buffer, for this batch only.
    writeRecordLine(batch, this.head, r);
    batch.records += 1;
    this.records += 1;
    return batch.used >= BATCH_BYTES ? this.close(category) : null;
  }

  private buffer(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BUFFER_BYTES);
  }

  /**
   * Seals the category's open batch and hands it to `store` (the writer's insert unless given);
   * waits for the previous write first (one in flight).
   */
  private async close(category: string, store: BatchInsert = this.insert): Promise<void> {
    const batch = this.open.get(category);
    if (!batch || !batch.records) return;
    const { lines, used, records, seq } = batch;
    await this.inFlight;
    Object.assign(batch, { lines: this.buffer(), used: 0, records: 0, seq: seq + 1 });
    const position = { requestId: this.target.requestId, taskId: this.target.taskId, attempt: this.target.attempt, category, seq };
    this.inFlight = (async () => {
      const payload = await sealBatch(await this.keyForSealing(), position, lines.subarray(0, used));
      // Sealed: its bytes are in the payload now, and the buffer can take another batch.
      if (lines.length <= BATCH_BUFFER_BYTES) this.spare.push(lines);
      await store(batchRow(position, this.target.connector, records, payload, this.now()));
    })();
    // A failed write surfaces at the next close or at finish(), never as an unhandled rejection.
    this.inFlight.catch(() => undefined);
  }

  /**
   * Starts reading the request's staging key now, while the connector is still being asked for
   * records, instead of when the first batch is sealed: the read is then off the collect's critical
   * path, and a request's COLLECTs claimed together share one read. `read` only reads (an approval
   * makes the key): when it finds none, the first batch makes one as before, and a collect that
   * stages nothing makes none.
   */
  prefetchKey(read: () => Promise<Buffer | null>): void {
    this.prefetched ??= read();
    // Unused (nothing staged), it is still zeroed by forgetKey; a failed read fails the first seal.
    this.prefetched.catch(() => undefined);
  }

  /** The staging key, for the first batch sealed: the prefetched one, or (none there) made now. */
  private keyForSealing(): Promise<Buffer> {
    return (this.key ??= (this.prefetched ?? Promise.resolve(null)).then((key) => key ?? this.keyOf()));
  }

  /** Stores what is still open and returns how many records were staged. */
  async finish(): Promise<number> {
    return (await this.finishWith(this.insert)).records;
  }

  /**
   * Seals what is still open without storing it: the caller stores these last batches in the
   * transaction that completes the task (for most COLLECTs, every batch they have), which saves each
   * a statement and a commit of its own. Returns them with how many records were staged in all.
   */
  async finishHeld(): Promise<{ records: number; held: StagedBatchRow[] }> {
    const held: StagedBatchRow[] = [];
    return { ...(await this.finishWith(async (row) => void held.push(row))), held };
  }

  private async finishWith(store: BatchInsert): Promise<{ records: number }> {
    try {
      for (const category of [...this.open.keys()]) await this.close(category, store);
      await this.inFlight;
      return { records: this.records };
    } finally {
      await this.forgetKey();
    }
  }

  /** Gives up (the attempt failed): what was stored stays for the completing attempt to drop. */
  async discard(): Promise<void> {
    await this.inFlight.catch(() => undefined);
    await this.forgetKey();
  }

  private async forgetKey(): Promise<void> {
    (await this.key?.catch(() => null))?.fill(0);
    (await this.prefetched?.catch(() => null))?.fill(0);
    this.key = null;
    this.prefetched = null;
  }
}

/** Rows per DELETE: batches are large, so a few at a time keeps every statement and its locks short. */
const DELETE_ROWS = 20;

/**
 * Removes a request's staged data: its key first (what a crash leaves behind is then unreadable), then
 * its batches by primary key, a few per statement, each statement alone (it belongs to no other
 * write). Deleting by primary key locks only those rows (a range delete on the request index took
 * next-key locks that deadlocked with other requests' staging on MariaDB). A statement that fails leaves the rest for the purge (purgeStagedRecords), which runs this
 * again. Returns the batches removed.
 */
export async function deleteStaged(ds: DataSource, requestId: string): Promise<number> {
  await ds.getRepository(StagedKeyRow).delete({ requestId });
  return deleteBatches(ds, { requestId });
}

/**
 * Removes what earlier attempts of a COLLECT staged, once a later one completed: nothing reads them
 * (the export takes each task's completing attempt only), and a crash before this leaves them to
 * deleteStaged. Not in the completion's transaction: a big collect's abandoned attempt may have
 * staged thousands of batches, and one DELETE of them all would hold the transaction's locks, and on
 * SQLite the process, for as long as freeing their pages takes. Returns the batches removed.
 */
export async function dropEarlierAttempts(ds: DataSource, taskId: string, attempt: number): Promise<number> {
  return deleteBatches(ds, { taskId, attempt: Not(attempt) });
}

function deleteBatches(ds: DataSource, where: FindOptionsWhere<StagedBatchRow>): Promise<number> {
  // Ciphertext: deleteStaged removes the request's key first (zeroed); an earlier attempt's batches are under the key its later ones use, which goes with them.
  return deleteMatching(ds, StagedBatchRow, where, DELETE_ROWS, true);
}
