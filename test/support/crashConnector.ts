import { createHash } from "node:crypto";
import mysql from "mysql2/promise";
import { Connector, ConnectorSpec, ErasureOutcome, Identities, SubjectRecord, TaskContext } from "../../src/connectors/sdk";

/**
 * A connector loaded by separate `dsr worker` processes (through the connectors file) for the crash
 * test. Its "remote system" is a table that, like a real API honouring idempotency keys, applies each
 * key once and counts how often it was asked.
 */
export function createConnector(options: Record<string, unknown>): Connector {
  const pool = mysql.createPool({ uri: String(options.databaseUrl), connectionLimit: 2 });
  const delayMs = Number(options.delayMs ?? 20);
  const spec: ConnectorSpec = {
    name: String(options.name),
    version: "1.0.0",
    supports: ["access", "erasure"],
    needs: (options.needs as string[]) ?? ["email"],
    provides: (options.provides as string[]) ?? [],
    categories: ["ACCOUNT"],
  };
  const pause = () => new Promise((r) => setTimeout(r, delayMs));
  return {
    spec,
    async check() {
      await pool.query("SELECT 1");
      return { ok: true, message: "effects table reachable" };
    },
    async resolve(ids: Identities) {
      await pause();
      return Object.fromEntries(spec.provides.map((kind) => [kind, `${kind}_${createHash("sha256").update(ids.email).digest("hex").slice(0, 12)}`]));
    },
    async *collect(): AsyncIterable<SubjectRecord> {},
    async erase(_ids: Identities, _plan: unknown, ctx: TaskContext): Promise<ErasureOutcome> {
      await pool.query("INSERT INTO crash_effects (idempotencyKey, calls) VALUES (?, 1) ON DUPLICATE KEY UPDATE calls = calls + 1", [ctx.idempotencyKey]);
      // The window a crash test aims at: the effect happened, the task is not yet marked done.
      await pause();
      return { erased: 1 };
    },
  };
}
