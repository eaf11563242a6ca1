import { execFile } from "node:child_process";
import path from "node:path";
import { eventHash, type HashedEventContent } from "../../src/audit/chain";
import type { TestService } from "./harness";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "dsr.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `dsr <args>` as its own process against a test service's database and data folder (its key, its checkpoints). */
export function dsrAgainst(t: TestService, args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return runDsr(args, { DATABASE_URL: t.service.services.config.DATABASE_URL!, DSR_DATA_DIR: t.service.services.config.dataDir, ...extra });
}

/** Runs `dsr <args>` with only the given settings (and quiet logs); resolves with its exit code and output. */
export function runDsr(args: string[], env: Record<string, string>): Promise<CliResult> {
  const full: NodeJS.ProcessEnv = { PATH: process.env.PATH, DSR_LOG_LEVEL: "error", DSR_MIGRATE_ON_START: "false", ...env };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: full, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** An event row as an attacker with database access reads it: the hashed columns and the hash. */
export type RawEvent = HashedEventContent & { hash: string };

export async function streamEvents(t: TestService, stream: string): Promise<RawEvent[]> {
  const rows = await t.ds.query(`SELECT * FROM audit_events WHERE stream = ? ORDER BY seq`, [stream]);
  return rows.map((r: any) => ({ ...r, seq: Number(r.seq), occurredAt: r.occurredAt instanceof Date ? r.occurredAt : new Date(`${String(r.occurredAt).replace(" ", "T")}Z`) }));
}

/** What an attacker who knows the algorithm does: rewrites a stream's rows, chaining and hashing every one of them again. */
export async function rewriteStream(t: TestService, stream: string, events: Array<Omit<RawEvent, "seq" | "prevHash" | "hash">>): Promise<void> {
  await t.ds.query(`DELETE FROM audit_events WHERE stream = ?`, [stream]);
  let prevHash = "0".repeat(64);
  let seq = 0;
  for (const e of events) {
    seq += 1;
    const row = { ...e, stream, seq, prevHash };
    const hash = eventHash(row);
    await insertRaw(t, { ...row, hash });
    prevHash = hash;
  }
  await t.ds.query(`UPDATE audit_stream_heads SET seq = ?, hash = ? WHERE stream = ?`, [seq, prevHash, stream]);
}

export async function insertRaw(t: TestService, e: RawEvent): Promise<void> {
  const at = t.ds.options.type === "better-sqlite3" ? e.occurredAt.toISOString().replace("T", " ").replace("Z", "") : e.occurredAt;
  await t.ds.query(`INSERT INTO audit_events (stream, seq, requestId, actorId, actorRole, action, details, occurredAt, prevHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    e.stream, e.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, at, e.prevHash, e.hash,
  ]);
}
