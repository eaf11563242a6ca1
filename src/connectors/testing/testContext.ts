import { randomUUID } from "node:crypto";
import type { ConnectorLogger, TaskContext } from "../sdk";

/** One line a connector logged through a test context. */
export interface LogLine {
  level: "debug" | "info" | "warn" | "error";
  obj: Record<string, unknown>;
  msg: string;
}

/** A TaskContext for tests that also shows what the connector did with it. */
export interface TestTaskContext extends TaskContext {
  /** How many times the connector called heartbeat(). */
  readonly heartbeats: number;
  /** Every line the connector logged, in order. */
  readonly lines: LogLine[];
  /** Aborts ctx.signal, as a lost lease or a shutdown would. */
  abort(reason?: string): void;
}

/**
 * Builds a TaskContext for calling a connector outside the orchestrator: fresh ids and idempotency key,
 * its own AbortController, a heartbeat that only counts (then calls `overrides.heartbeat`, if given),
 * and a logger that keeps its lines. Any other field can be overridden.
 */
export function testContext(overrides: Partial<TaskContext> = {}): TestTaskContext {
  const controller = new AbortController();
  const lines: LogLine[] = [];
  let heartbeats = 0;
  const line = (level: LogLine["level"]) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  const logger: ConnectorLogger = { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
  const { heartbeat, ...rest } = overrides;
  return {
    requestId: randomUUID(),
    taskId: randomUUID(),
    attempt: 1,
    idempotencyKey: `test-${randomUUID()}`,
    now: () => new Date(),
    // Outside the orchestrator nothing withdraws a category: every unit runs (override to test withdrawal).
    eraseUnit: async (_category, work) => {
      await work();
      return true;
    },
    unfinishedUnits: async () => [],
    logger,
    signal: controller.signal,
    ...rest,
    lines,
    get heartbeats() {
      return heartbeats;
    },
    async heartbeat() {
      heartbeats += 1;
      await heartbeat?.();
    },
    abort: (reason = "aborted by test") => controller.abort(reason),
  };
}
