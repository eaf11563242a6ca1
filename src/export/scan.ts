import path from "node:path";
import { Worker } from "node:worker_threads";
import { CategoryStats, CategorySummary, csvHeader, csvRow, parseJsonLines } from "./content";
import { CsvTranscoder } from "./csvTranscoder";
import type { ExportRecord } from "./records";
import { removeSpillDir, SpillRef, spillDir, SpillWriter } from "./spill";

const NEWLINE = 0x0a;

/** What scanning a category's JSON Lines gives: its summary, and its CSV unless that has to be read again. */
export interface ScanResult {
  summary: CategorySummary;
  /** The finished CSV; null when the category is not tabular or its CSV must be read again (see CategoryScan). */
  csv: SpillRef | null;
}

/**
 * Parses a category's JSON Lines page by page: learns its fields and writes its CSV into an encrypted
 * spill, so the staged records are read once. The CSV's columns are fixed after the first page, which
 * is parsed; later pages are transcoded from their bytes (CsvTranscoder), a line at a time parsed when
 * the transcoder declines it. A field first seen after the first page makes the draft stale (columns
 * are sorted, so earlier rows would be wrong) and the CSV is then read again from the staged records
 * (csvContent).
 */
export class CategoryScan {
  private readonly stats = new CategoryStats();
  private names: string[] | null = null;
  private transcoder: CsvTranscoder | null = null;
  private stale = false;
  private spill: SpillWriter | null = null;

  /** `dirOf` gives the folder for a spill that outgrows memory (made on first use by the caller, who removes it). */
  constructor(private readonly dirOf: () => string) {}

  /** One page of JSON Lines, as UTF-8 (a Uint8Array when it crossed from another thread). */
  addPage(bytes: Uint8Array): void {
    const page = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.transcoder && !this.stale) return this.transcode(page, this.transcoder);
    const records = parseJsonLines(page);
    for (const r of records) this.stats.observe(r.recordedAt, r.data);
    if (this.outgrown()) this.stale = true;
    if (this.stale) return this.drop();
    let out = "";
    if (!this.names) {
      const fields = this.stats.fieldDocs;
      this.names = fields.map((f) => f.name);
      this.transcoder = new CsvTranscoder(this.names, this.stats);
      out = csvHeader(fields);
    }
    for (const r of records) out += csvRow(r, r.data, this.names);
    this.spillWriter().write(out);
  }

  /** The category is no table, or has a field the CSV's columns (fixed by the first page) lack. */
  private outgrown(): boolean {
    return !this.stats.tabular || (this.names !== null && this.names.length !== this.stats.fieldCount);
  }

  private transcode(page: Buffer, transcoder: CsvTranscoder): void {
    const names = this.names!;
    for (let at = 0; at < page.length; ) {
      const end = page.indexOf(NEWLINE, at);
      if (!transcoder.line(page, at, end)) {
        const r = JSON.parse(page.toString("utf8", at, end)) as ExportRecord;
        this.stats.observe(r.recordedAt, r.data);
        if (this.outgrown()) this.stale = true;
        else if (!this.stale) transcoder.append(csvRow(r, r.data, names));
      }
      at = end + 1;
    }
    transcoder.flush();
    const csv = transcoder.take();
    if (this.stale) return this.drop();
    this.spillWriter().write(csv);
  }

  finish(): ScanResult {
    const summary = this.stats.summary();
    if (this.stale || !summary.tabular) return (this.drop(), { summary, csv: null });
    const spill = this.spillWriter();
    if (!this.names) spill.write(csvHeader(summary.fields));
    const csv = spill.finish();
    this.spill = null;
    return { summary, csv };
  }

  /** The CSV's spill, opened on first use. */
  private spillWriter(): SpillWriter {
    return (this.spill ??= new SpillWriter(this.dirOf));
  }

  /** Removes an unfinished spill. */
  drop(): void {
    this.spill?.discard();
    this.spill = null;
  }
}

/** Scans a category's pages while they are written: here, or on a worker thread. */
export interface CategoryScanner {
  page(lines: Uint8Array): Promise<void>;
  finish(): Promise<ScanResult>;
  /** Stops, and removes the spill (read or not). */
  close(): Promise<void>;
}

/** On this thread: for small categories, where starting a thread would cost more than it saves. */
export function inlineScanner(): CategoryScanner {
  // Made only when the CSV outgrows memory (SpillWriter): a small category touches no file.
  let dir: string | null = null;
  const scan = new CategoryScan(() => (dir ??= spillDir()));
  return {
    page: async (lines) => scan.addPage(lines),
    finish: async () => scan.finish(),
    close: async () => {
      scan.drop();
      if (dir !== null) await removeSpillDir(dir);
    },
  };
}

/** Pages handed to the worker that it has not finished yet; beyond this the writer waits (bounded memory). */
const PAGES_IN_FLIGHT = 3;

export type ScanMessage = { type: "page"; lines: Uint8Array } | { type: "finish" };
export type ScanReply = { type: "ack" } | { type: "done"; result: ScanResult } | { type: "error"; message: string };

/**
 * On a worker thread (scanWorker.ts): parsing, field statistics and CSV take a core of their own while
 * this thread reads the staged records and feeds the compressor.
 */
export function workerScanner(): CategoryScanner {
  const dir = spillDir();
  const worker = new Worker(path.join(__dirname, "scanWorker.js"), { workerData: { dir } });
  const acks: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let inFlight: Array<Promise<void>> = [];
  let done: { resolve: (r: ScanResult) => void; reject: (e: Error) => void } | null = null;
  let failure: Error | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    for (const a of acks.splice(0)) a.reject(failure);
    done?.reject(failure);
  };
  worker.on("message", (m: ScanReply) => {
    if (m.type === "ack") acks.shift()?.resolve();
    else if (m.type === "done") done?.resolve(m.result);
    else fail(new Error(`export scan failed: ${m.message}`));
  });
  worker.on("error", fail);
  // Stopped by finish() or close(): an exit then is the end of the work, not a failure.
  let ended = false;
  worker.on("exit", (code) => ended || fail(new Error(`export scan thread exited (${code})`)));
  return {
    async page(lines) {
      if (failure) throw failure;
      const acked = new Promise<void>((resolve, reject) => acks.push({ resolve, reject }));
      acked.catch(() => undefined);
      // Cloned: a copy of the bytes (transferring would take them from the compressor).
      worker.postMessage({ type: "page", lines } satisfies ScanMessage);
      inFlight.push(acked);
      if (inFlight.length >= PAGES_IN_FLIGHT) await inFlight.shift();
    },
    async finish() {
      if (failure) throw failure;
      const result = new Promise<ScanResult>((resolve, reject) => (done = { resolve, reject }));
      worker.postMessage({ type: "finish" } satisfies ScanMessage);
      await Promise.all(inFlight);
      inFlight = [];
      const scanned = await result;
      // The thread's work is done: its heap goes now, not after the CSV it spilled has been compressed
      // (close() keeps the spill until then). Kept alive, it held 20-25 MB through the CSV phase, the
      // export's peak (bench/subject, 2,000,000 events).
      ended = true;
      await worker.terminate();
      return scanned;
    },
    async close() {
      ended = true;
      await worker.terminate();
      await removeSpillDir(dir);
    },
  };
}
