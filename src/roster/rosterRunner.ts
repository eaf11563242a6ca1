import { randomUUID } from "node:crypto";
import os from "node:os";
import { SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { ConnectorError } from "../connectors/sdk";
import { rosterFailure } from "./rosterFailure";
import { BackoffPolicy, describeWait, retryWait, withoutRetryPromise } from "../orchestrator/backoff";
import { dbTimeSql } from "../db/dbClock";
import { transactionRunner } from "../db/hotStatements";
import { inTransaction, writeAlone } from "../db/transaction";
import { BreachRosterRow, BreachRosterStatus, notListed } from "../entities";
import { exportTools } from "../export/context";
import { PollingLoop } from "../pollingLoop";
import type { Services } from "../services";
import { drawRoster, DrawnRoster, removeRosterFiles } from "./rosterJob";

/** Attempts a roster gets (a retryable failure or a lost claim starts it again); then it is FAILED. */
export const ROSTER_MAX_ATTEMPTS = 3;
export interface RosterRunnerOptions {
  /** Wait between looks for rosters to draw when there are none. */
  pollIntervalMs: number;
  /** A claim's life on the database clock; renewed a third of the way through. */
  leaseMs: number;
  /** Waits before a roster whose attempt failed retryably is tried again (the tasks' policy). */
  backoff: BackoffPolicy;
}

const { QUEUED, RUNNING, COMPLETED, FAILED } = BreachRosterStatus;
const DAY_MS = 86_400_000;

/**
 * Draws breach rosters: every process that runs a worker runs one. A roster is claimed with a
 * conditional update (timed on the database clock, like task leases), so any number of processes share
 * the table and each roster is drawn by one at a time. Every write after the claim carries the claim's
 * attempt number: an attempt that lost its claim (it stalled past the lease, and another took the
 * roster over) writes nothing, and removes the file it wrote. Each write commits alone, or with its
 * audit event in a transaction of its own.
 */
export class RosterRunner {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly current = new AbortController();
  private readonly loop: PollingLoop;

  constructor(
    private readonly services: Services,
    private readonly options: RosterRunnerOptions,
  ) {
    const log = services.logger.child({ component: "rosters", runner: this.id });
    this.loop = new PollingLoop(() => this.drawDue(), options.pollIntervalMs, (error) => log.error({ err: error }, "breach roster round failed; retrying at the next poll"));
  }

  start(): void {
    this.loop.start();
  }

  /** Look for rosters now instead of at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops; a roster being drawn is handed back untouched, to be drawn again by whoever runs next. */
  async stop(): Promise<void> {
    this.current.abort(new Error("the process is stopping"));
    await this.loop.stop();
  }

  /** One round: fails the rosters out of attempts, then claims and draws the oldest due one. Returns how many it drew (0 or 1). */
  async drawDue(): Promise<number> {
    const { ds } = this.services;
    const due = `((status = '${QUEUED}' AND (leaseExpiresAt IS NULL OR leaseExpiresAt <= ${dbTimeSql(ds)})) OR (status = '${RUNNING}' AND leaseExpiresAt <= ${dbTimeSql(ds)}))`;
    const rows: Array<{ id: string; attempts: number }> = await ds.query(`SELECT id, attempts FROM breach_rosters WHERE ${due} ORDER BY createdAt LIMIT 10`);
    for (const { id, attempts } of rows) {
      if (Number(attempts) >= ROSTER_MAX_ATTEMPTS) {
        await this.failForGood(id, `not drawn after ${ROSTER_MAX_ATTEMPTS} attempts`, `AND attempts >= ${ROSTER_MAX_ATTEMPTS} AND ${due}`);
        continue;
      }
      const claimed = await writeAlone(
        ds,
        `UPDATE breach_rosters SET status = '${RUNNING}', claimedBy = ?, attempts = attempts + 1, leaseExpiresAt = ${dbTimeSql(ds, this.options.leaseMs)} WHERE id = ? AND attempts < ${ROSTER_MAX_ATTEMPTS} AND ${due}`,
        [this.id, id],
      );
      if (claimed !== 1) continue;
      const row = await ds.getRepository(BreachRosterRow).findOneByOrFail({ id });
      if (row.claimedBy !== this.id || row.status !== RUNNING) continue;
      await this.draw(row);
      return 1;
    }
    return 0;
  }

  private async draw(row: BreachRosterRow): Promise<void> {
    const { ds, logger } = this.services;
    const log = logger.child({ component: "rosters", rosterId: row.id, attempt: row.attempts });
    const attempt = row.attempts;
    const lost = new AbortController();
    const signal = AbortSignal.any([lost.signal, this.current.signal]);
    const fence = `id = ? AND claimedBy = ? AND attempts = ${attempt} AND status = '${RUNNING}'`;
    let renewed = performance.now();
    const heartbeat = async () => {
      if (performance.now() - renewed < this.options.leaseMs / 4 || signal.aborted) return;
      renewed = performance.now();
      const kept = await writeAlone(ds, `UPDATE breach_rosters SET leaseExpiresAt = ${dbTimeSql(ds, this.options.leaseMs)} WHERE ${fence}`, [row.id, this.id]);
      if (kept !== 1) lost.abort(new Error("the roster's claim was lost: another attempt took it over"));
    };
    const timer = setInterval(() => void heartbeat().catch((error) => log.warn({ err: error }, "could not renew the roster's claim")), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    log.info({ connectors: row.connectors }, "drawing breach roster");
    let drawn: DrawnRoster | undefined;
    try {
      // An earlier attempt that died after writing its file left it behind: it holds personal data.
      // In the try: storage that refuses the removal fails this attempt as any failure does (outside
      // it, the round failed with the roster left RUNNING, to be claimed again at each lease's end).
      await removeRosterFiles(this.services, row.id, attempt - 1);
      drawn = await drawRoster(this.services, row, { attempt, signal, heartbeat });
    } catch (error) {
      clearInterval(timer);
      if (this.current.signal.aborted) {
        // Stopping: hand it back as it was, to be drawn at once by the next runner (this attempt does not count).
        await writeAlone(ds, `UPDATE breach_rosters SET status = '${QUEUED}', claimedBy = NULL, leaseExpiresAt = NULL, attempts = attempts - 1 WHERE ${fence}`, [row.id, this.id]);
        log.info("breach roster handed back: the process is stopping");
        return;
      }
      if (lost.signal.aborted) return void log.warn("breach roster claim lost; this attempt's outcome is discarded");
      const failure = rosterFailure(error);
      const reason = failure.reason;
      log.warn({ err: error instanceof ConnectorError ? error.internalMessage : error, retryable: failure.retryable }, "breach roster attempt failed");
      const guard = `AND claimedBy = ? AND attempts = ${attempt} AND status = '${RUNNING}'`;
      // What cannot succeed on another attempt (a permission error, a statement refused) fails now, saying why.
      if (!failure.retryable) return void (await this.failForGood(row.id, reason, guard, [this.id]));
      // The last attempt: its message no longer promises a retry.
      const final = `${withoutRetryPromise(reason)}; not retried: all ${ROSTER_MAX_ATTEMPTS} attempts failed, start a new roster`;
      if (attempt >= ROSTER_MAX_ATTEMPTS) return void (await this.failForGood(row.id, final, guard, [this.id]));
      // A Retry-After past DSR_RETRY_AFTER_MAX_MS is cut to it, and lastError says so.
      const wait = retryWait(attempt, this.options.backoff, failure.retryAfterMs);
      const cut = wait.askedMs !== undefined ? ` (the system asked to wait ${describeWait(wait.askedMs)}; retried in ${describeWait(wait.delayMs)}, the most DSR_RETRY_AFTER_MAX_MS allows)` : "";
      await writeAlone(ds, `UPDATE breach_rosters SET status = '${QUEUED}', claimedBy = NULL, lastError = ?, leaseExpiresAt = ${dbTimeSql(ds, wait.delayMs)} WHERE ${fence}`, [`${reason}${cut}`.slice(0, 500), row.id, this.id]);
      return;
    }
    clearInterval(timer);
    const now = this.services.clock.now();
    const unlisted = notListed(drawn.systems);
    const complete = unlisted.length === 0;
    const recorded = await inTransaction(ds, async (em) => {
      const result = await em
        .getRepository(BreachRosterRow)
        .update(
          { id: row.id, claimedBy: this.id, attempts: attempt, status: RUNNING },
          { status: COMPLETED, completedAt: now, systems: drawn.systems, people: drawn.people, withoutEmail: drawn.withoutEmail, objectKey: drawn.objectKey, expiresAt: new Date(now.getTime() + this.services.config.DSR_ROSTER_RETENTION_DAYS * DAY_MS), claimedBy: null, leaseExpiresAt: null, lastError: null },
        );
      if ((result.affected ?? 0) !== 1) return false;
      await appendAuditEvent(em, { requestId: null, actor: SYSTEM_ACTOR, action: "roster.completed", details: { rosterId: row.id, people: drawn.people, withoutEmail: drawn.withoutEmail, complete, notListed: unlisted } }, now);
      return true;
    });
    if (!recorded) {
      await exportTools(this.services).storage.delete(drawn.objectKey);
      return void log.warn("breach roster claim lost before it was recorded; its file is removed");
    }
    log.info({ people: drawn.people, withoutEmail: drawn.withoutEmail, complete }, "breach roster drawn");
  }

  /** Marks a roster FAILED (guarded by `guard`), with its audit event. */
  private async failForGood(id: string, reason: string, guard: string, params: unknown[] = []): Promise<void> {
    const now = this.services.clock.now();
    await inTransaction(this.services.ds, async (em) => {
      const completedAt = em.connection.driver.preparePersistentValue(now, em.connection.getMetadata(BreachRosterRow).findColumnWithPropertyName("completedAt")!);
      const result = await transactionRunner(em).query(
        // expiresAt now: the purge removes whatever file an attempt left (purgeRosterFiles).
        `UPDATE breach_rosters SET status = '${FAILED}', completedAt = ?, expiresAt = ?, claimedBy = NULL, leaseExpiresAt = NULL, lastError = ? WHERE id = ? ${guard}`,
        [completedAt, completedAt, reason.slice(0, 500), id, ...params],
        true,
      );
      if ((result.affected ?? 0) !== 1) return;
      await appendAuditEvent(em, { requestId: null, actor: SYSTEM_ACTOR, action: "roster.failed", details: { rosterId: id, reason: reason.slice(0, 500) } }, now);
    });
    this.services.logger.warn({ rosterId: id, reason }, "breach roster failed");
  }
}
