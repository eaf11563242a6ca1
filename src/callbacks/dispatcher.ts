import { randomUUID } from "node:crypto";
import os from "node:os";
import { DataSource, LessThanOrEqual } from "typeorm";
import type { Clock } from "../clock";
import { deadline } from "../deadline";
import { StatusCallbackRow, StatusCallbackStatus } from "../entities";
import type { Logger } from "../logger";
import { retryAfterMs } from "../connectors/sdk";
import { BackoffPolicy, describeWait, retryWait } from "../orchestrator/backoff";
import { PollingLoop } from "../pollingLoop";
import { signPayload } from "../signing";

export interface DispatcherOptions {
  url: string;
  /** HMAC-SHA256 key of the Dsr-Signature header. */
  secret: string;
  /** Wait between looks at the outbox when nothing is due. */
  pollIntervalMs: number;
  backoff: BackoffPolicy;
  /** One delivery attempt's limit; the claim on a row lasts a little longer. */
  timeoutMs: number;
  /** Callbacks delivered at once (each request's callbacks still go one at a time, in order). */
  batchSize?: number;
}

/**
 * Delivers the status-callback outbox: POSTs each callback signed (Dsr-Signature), marks it DELIVERED
 * on a 2xx answer, and otherwise retries it with capped exponential backoff and jitter, for as long as
 * it takes. Delivery is at least once: a crash between the POST and the mark sends it again, with the
 * same Dsr-Event-Id. Rows are claimed with a conditional update, so any number of service processes
 * can run a dispatcher on one database; a claim left by a crashed process expires. Each of its writes is
 * one statement that commits alone (on SQLite it waits its turn for the connection: src/db/connectionQueue.ts).
 */
export class CallbackDispatcher {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private stopping = false;
  private readonly inFlight = new AbortController();
  private readonly loop: PollingLoop;

  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: DispatcherOptions,
  ) {
    this.loop = new PollingLoop(() => this.deliverDue(), options.pollIntervalMs, (error) => logger.error({ err: error }, "status callback round failed; retrying at the next poll"));
  }

  start(): void {
    this.loop.start();
  }

  /** Look at the outbox now instead of at the next poll. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops after the current round; deliveries still in flight are aborted and handed back. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.inFlight.abort();
    await this.loop.stop();
  }

  /** One round: claims the due callbacks (the oldest pending one per request) and attempts each. Returns how many were attempted. */
  async deliverDue(): Promise<number> {
    const now = this.clock.now();
    const due = await this.ds
      .getRepository(StatusCallbackRow)
      .createQueryBuilder("c")
      .where("c.status = :pending", { pending: StatusCallbackStatus.PENDING })
      .andWhere("c.nextAttemptAt <= :now", { now })
      .andWhere("NOT EXISTS (SELECT 1 FROM status_callbacks e WHERE e.requestId = c.requestId AND e.status = :pending AND e.requestVersion < c.requestVersion)")
      .orderBy("c.nextAttemptAt", "ASC")
      .limit(this.options.batchSize ?? 10)
      .getMany();
    const claimed: StatusCallbackRow[] = [];
    for (const row of due) if (await this.claim(row, now)) claimed.push(row);
    await Promise.all(claimed.map((row) => this.attempt(row)));
    return claimed.length;
  }

  private async claim(row: StatusCallbackRow, now: Date): Promise<boolean> {
    const result = await this.ds
      .getRepository(StatusCallbackRow)
      .update(
        { id: row.id, status: StatusCallbackStatus.PENDING, nextAttemptAt: LessThanOrEqual(now) },
        { claimedBy: this.id, nextAttemptAt: new Date(now.getTime() + this.options.timeoutMs + 5_000) },
      );
    return result.affected === 1;
  }

  private async attempt(row: StatusCallbackRow): Promise<void> {
    const attempts = row.attempts + 1;
    let failure: { error: string; retryAfterMs?: number } | null = null;
    const limit = deadline(this.options.timeoutMs, `the receiver did not answer within ${this.options.timeoutMs} ms (DSR_CALLBACK_TIMEOUT_MS)`);
    try {
      const response = await fetch(this.options.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "dsr-event-id": row.id,
          "dsr-signature": signPayload(this.options.secret, row.payload, this.clock.now()),
        },
        body: row.payload,
        // An answer like any other non-2xx (kept as lastError): followed, it would take the signed body elsewhere.
        redirect: "manual",
        signal: AbortSignal.any([limit.signal, this.inFlight.signal]),
      });
      await response.body?.cancel();
      if (!response.ok) failure = { error: `receiver answered HTTP ${response.status}`, retryAfterMs: retryAfterMs(response.headers.get("retry-after"), this.clock.now()) };
    } catch (error) {
      const why = limit.signal.aborted ? (limit.signal.reason as Error).message : (error as Error).message;
      failure = { error: this.stopping ? "dispatcher stopped during delivery" : `delivery failed: ${why}`.slice(0, 500) };
    } finally {
      limit.clear();
    }
    const now = this.clock.now();
    const repo = this.ds.getRepository(StatusCallbackRow);
    const mine = { id: row.id, claimedBy: this.id };
    if (!failure) {
      await repo.update(mine, { status: StatusCallbackStatus.DELIVERED, attempts, deliveredAt: now, claimedBy: null, lastError: null });
      this.logger.info({ requestId: row.requestId, callbackId: row.id, attempts }, "status callback delivered");
      return;
    }
    // Stopped mid-delivery: hand it back untouched, to be sent at once by whoever runs next.
    // A Retry-After past DSR_RETRY_AFTER_MAX_MS is cut to it: the callback is retried then, and its lastError says so.
    const wait = retryWait(attempts, this.options.backoff, failure.retryAfterMs);
    const next = this.stopping ? now : new Date(now.getTime() + wait.delayMs);
    const cut = !this.stopping && wait.askedMs !== undefined ? `; it asked to wait ${describeWait(wait.askedMs)}, retried in ${describeWait(wait.delayMs)} (DSR_RETRY_AFTER_MAX_MS)` : "";
    await repo.update(mine, { attempts: this.stopping ? row.attempts : attempts, nextAttemptAt: next, claimedBy: null, lastError: `${failure.error}${cut}`.slice(0, 500) });
    this.logger.warn(
      { requestId: row.requestId, callbackId: row.id, attempts, nextAttemptAt: next.toISOString(), reason: failure.error, ...(cut ? { retryAfterAskedMs: wait.askedMs, retryAfterCut: true } : {}) },
      "status callback not delivered; will retry",
    );
  }
}
