import { Connector, SubjectRecord } from "../src/connectors/sdk";

/**
 * The benchmark's connector: every collect takes `delayMs` and yields one record. A module connector
 * (createConnector), so `dsr worker` processes load it through a connectors file.
 */
export function createConnector(options: Record<string, unknown>): Connector {
  const delayMs = Number(options.delayMs ?? 50);
  return {
    spec: { name: String(options.name), version: "bench", supports: ["access"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },
    async check() {
      return { ok: true, message: "ok" };
    },
    async *collect(): AsyncIterable<SubjectRecord> {
      await new Promise((r) => setTimeout(r, delayMs));
      yield { category: "ACCOUNT", type: "row", id: "1", data: { bench: true } };
    },
  };
}
