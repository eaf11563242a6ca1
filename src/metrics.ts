import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DataSource } from "typeorm";
import type { Clock } from "./clock";
import { TERMINAL_STATUSES } from "./domain/enums";
import { AuditCheckpointRow, RequestRow, StatusCallbackRow, StatusCallbackStatus } from "./entities";

/**
 * Prometheus metrics. Counters and histograms that code increments live in one process-wide registry
 * (every service, worker and export in this process adds to them); gauges read from the database belong
 * to one service (its own database) and are computed when /metrics is scraped, so they are right even
 * when other processes did the work.
 */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, prefix: "dsr_" });

/**
 * Task attempts, by connector and step. The outcome label is declared but never set (every series
 * lacks it): each attempt's outcome is in its log line ("task attempt ended"), its failures in
 * dsr_task_failures_total.
 */
export const taskAttempts = new Counter({
  name: "dsr_task_attempts_total",
  help: "Task attempts run by this process's workers",
  labelNames: ["connector", "step", "outcome"] as const,
  registers: [processRegistry],
});

/** How long task attempts took, by connector and step. */
export const taskDuration = new Histogram({
  name: "dsr_task_duration_seconds",
  help: "Duration of task attempts run by this process's workers",
  labelNames: ["connector", "step"] as const,
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
  registers: [processRegistry],
});

/**
 * Failed attempts, by connector, step and whether they will be retried (`retryable`): "false" for a
 * final failure, a retryable error whose attempts (DSR_TASK_MAX_ATTEMPTS) are spent included.
 */
export const taskFailures = new Counter({
  name: "dsr_task_failures_total",
  help: "Task attempts that ended in an error, by whether the task is retried (retryable=\"true\") or failed for good (\"false\")",
  labelNames: ["connector", "step", "retryable"] as const,
  registers: [processRegistry],
});

/**
 * Tasks this process's workers took, by how: "claim" (a claim's query) or "hand-off" (claimed in the
 * transaction of the completion that released it, for the worker that ran its predecessors).
 */
export const tasksClaimed = new Counter({
  name: "dsr_tasks_claimed_total",
  help: "Tasks taken by this process's workers, by claim or by hand-off from the completion that released them",
  labelNames: ["by"] as const,
  registers: [processRegistry],
});

const exportBytes = new Counter({
  name: "dsr_export_bytes_total",
  help: "Bytes of encrypted export archives written to storage",
  labelNames: ["storage"] as const,
  registers: [processRegistry],
});

/** Called by the export code once per archive written (its encrypted size, in bytes). */
export function recordExportBytes(bytes: number, storage = "local"): void {
  if (Number.isFinite(bytes) && bytes > 0) exportBytes.inc({ storage }, bytes);
}

/** GraphQL operation latency by operation name and outcome code (OK or the first error's code). */
export const graphqlDuration = new Histogram({
  name: "dsr_graphql_operation_duration_seconds",
  help: "GraphQL operation latency",
  labelNames: ["operation", "outcome"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [processRegistry],
});

/** Operation names are chosen by clients: past this many distinct ones, new names are counted as "other". */
const MAX_OPERATION_NAMES = 200;
const operationNames = new Set<string>();

/** A bounded label for an operation name, so a client cannot blow up the metric's cardinality. */
export function operationLabel(name: string | null | undefined): string {
  if (!name) return "anonymous";
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) return "other";
  if (operationNames.has(name)) return name;
  if (operationNames.size >= MAX_OPERATION_NAMES) return "other";
  operationNames.add(name);
  return name;
}

/**
 * Gauges of one service's database, computed at scrape time with two grouped counts (indexed on
 * status and due date), so a scrape costs the same however many requests there are.
 */
export function databaseRegistry(ds: DataSource, clock: Clock): Registry {
  const registry = new Registry();
  new Gauge({
    name: "dsr_requests",
    help: "Requests by type and status",
    labelNames: ["type", "status"] as const,
    registers: [registry],
    async collect() {
      const rows: Array<{ type: string; status: string; n: string | number }> = await ds
        .getRepository(RequestRow)
        .createQueryBuilder("r")
        .select("r.type", "type")
        .addSelect("r.status", "status")
        .addSelect("COUNT(*)", "n")
        .groupBy("r.type")
        .addGroupBy("r.status")
        .getRawMany();
      this.reset();
      for (const row of rows) this.set({ type: row.type, status: row.status }, Number(row.n));
    },
  });
  new Gauge({
    name: "dsr_requests_overdue",
    help: "Open requests past their due date",
    registers: [registry],
    async collect() {
      const n = await ds
        .getRepository(RequestRow)
        .createQueryBuilder("r")
        .where("r.dueAt < :now AND r.status NOT IN (:...terminal)", { now: clock.now(), terminal: TERMINAL_STATUSES })
        .getCount();
      this.set(n);
    },
  });
  new Gauge({
    name: "dsr_status_callbacks_pending",
    help: "Status callbacks not yet acknowledged by the receiver (DSR_CALLBACK_URL), whatever their attempts",
    registers: [registry],
    async collect() {
      this.set(await ds.getRepository(StatusCallbackRow).countBy({ status: StatusCallbackStatus.PENDING }));
    },
  });
  new Gauge({
    name: "dsr_status_callbacks_oldest_pending_seconds",
    help: "Age of the oldest status callback not yet acknowledged (0: none is waiting)",
    registers: [registry],
    async collect() {
      // Read through the entity, so the time comes back as each database's driver stores it (no raw text to parse).
      const oldest = await ds.getRepository(StatusCallbackRow).findOne({ select: { id: true, createdAt: true }, where: { status: StatusCallbackStatus.PENDING }, order: { createdAt: "ASC" } });
      this.set(oldest ? Math.max(0, (clock.now().getTime() - oldest.createdAt.getTime()) / 1000) : 0);
    },
  });
  // The audit trail is tamper-evident only once sealed (invariant 5): a checkpointer that stopped sealing
  // (S3 credentials expired, a key that differs between processes) shows here, not only in a log line.
  new Gauge({
    name: "dsr_audit_unsealed_events",
    help: "Audit events written after the newest signed checkpoint, protected by their hash chain only until one seals them",
    registers: [registry],
    async collect() {
      // Heads with unsealed events are few and indexed (idx_audit_stream_heads_unsealed).
      const [row] = await ds.query(`SELECT COALESCE(SUM(seq - sealedSeq), 0) AS n FROM audit_stream_heads WHERE unsealed = 1`);
      this.set(Number(row?.n ?? 0));
    },
  });
  new Gauge({
    name: "dsr_audit_last_checkpoint_age_seconds",
    help: "Age of the newest signed audit checkpoint (-1: none yet); alert when it grows while dsr_audit_unsealed_events is above 0",
    registers: [registry],
    async collect() {
      const newest = await ds.getRepository(AuditCheckpointRow).findOne({ select: { number: true, sealedAt: true }, where: {}, order: { number: "DESC" } });
      this.set(newest ? Math.max(0, (clock.now().getTime() - newest.sealedAt.getTime()) / 1000) : -1);
    },
  });
  return registry;
}

/** The text exposition of the process's metrics and one service's database gauges. */
export async function scrape(database: Registry): Promise<string> {
  return (await Registry.merge([processRegistry, database]).metrics());
}

export const METRICS_CONTENT_TYPE = processRegistry.contentType;
