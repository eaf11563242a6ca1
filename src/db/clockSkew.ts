import type { DataSource } from "typeorm";
import type { Logger } from "../logger";
import { isMysql } from "./dataSource";

/**
 * This host's clock against the database's. Leases are timed on the database's clock (dbClock.ts), but
 * erasure units, hold placements' marks and status-callback claims carry times from the host that wrote
 * them, and another host compares them with its own clock: a host whose clock is off by more than a
 * placement's margin could read a unit still erasing as ended, or a pending placement as run out, and a
 * hold could be placed while a unit of its category erases. So every process on MySQL/MariaDB measures
 * the difference when it starts (and refuses to start past DSR_MAX_CLOCK_SKEW_MS) and every
 * DSR_CLOCK_CHECK_MS after: while it is past the bound, its worker claims nothing and its running erasures
 * start no unit (they fail retryably and come back), and hold placements and /readyz, which read the
 * clock afresh, are refused (CONFLICT, retryable) and answer 503. SQLite runs in one process, on one
 * clock: nothing to compare.
 */

/** One measurement: the database's clock minus this host's (positive: this host is behind), and the round trip it was read in. */
export interface ClockReading {
  skewMs: number;
  roundTripMs: number;
}

/** The database's clock against this host's, the best (shortest round trip) of three reads; null on SQLite. */
export async function readClockSkew(ds: DataSource): Promise<ClockReading | null> {
  if (!isMysql(ds)) return null;
  let best: ClockReading | null = null;
  for (let i = 0; i < 3; i++) {
    const sent = Date.now();
    // Microseconds since the epoch, in UTC arithmetic: no session time zone takes part.
    const [row] = await ds.query("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) AS us");
    const received = Date.now();
    const reading = { skewMs: Number(row.us) / 1000 - (sent + received) / 2, roundTripMs: received - sent };
    if (!best || reading.roundTripMs < best.roundTripMs) best = reading;
  }
  return best;
}

/** What is wrong with a reading against the bound (null: nothing), in words for the log and the answers. */
export function clockProblem(reading: ClockReading, maxSkewMs: number): string | null {
  // The read's own uncertainty is half its round trip: only a difference beyond it counts.
  if (Math.abs(reading.skewMs) - reading.roundTripMs / 2 <= maxSkewMs) return null;
  const seconds = (Math.abs(reading.skewMs) / 1000).toFixed(1);
  return (
    `this host's clock is ${seconds} s ${reading.skewMs > 0 ? "behind" : "ahead of"} the database's (at most ${maxSkewMs} ms allowed): ` +
    "hold placements and erasures compare times written on different hosts, so this process neither erases nor places holds until its clock is synchronised (NTP)"
  );
}

/** A process that will not start: its clock is too far from the database's. */
export class ClockSkewError extends Error {
  constructor(problem: string) {
    super(`refusing to start: ${problem}`);
  }
}

/**
 * The bound a process holds its clock to: DSR_MAX_CLOCK_SKEW_MS, and at most half a lease. A unit of
 * erasure lives a lease past its last heartbeat (a quarter lease ago at most), on its host's clock: a
 * placement on a host further ahead than that would read it as ended while it erases.
 */
export function skewBoundMs(config: { DSR_MAX_CLOCK_SKEW_MS: number; DSR_TASK_LEASE_MS: number }): number {
  return Math.min(config.DSR_MAX_CLOCK_SKEW_MS, Math.floor(config.DSR_TASK_LEASE_MS / 2));
}

/**
 * Starts the watch of a process's database (MySQL/MariaDB; nothing on SQLite): measures first, and
 * throws ClockSkewError when the clock is already past the bound.
 */
export async function startClockWatch(ds: DataSource, options: { maxSkewMs: number; intervalMs: number }, logger: Logger): Promise<void> {
  if (!isMysql(ds)) return;
  const watch = new ClockWatch(ds, options.maxSkewMs, logger);
  const problem = await watch.check();
  if (problem) throw new ClockSkewError(problem);
  watch.start(options.intervalMs);
}

/** Each open database's watch (createServices starts it, closeServices stops it). */
const watches = new WeakMap<DataSource, ClockWatch>();

/** Keeps a process's reading fresh and says what is wrong, if anything. */
export class ClockWatch {
  private current: string | null = null;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ds: DataSource,
    private readonly maxSkewMs: number,
    private readonly logger: Logger,
    /** How a reading is taken (tests give one that reads a clock they set). */
    private readonly read: (ds: DataSource) => Promise<ClockReading | null> = readClockSkew,
  ) {}

  /** Measures now; returns (and keeps) what is wrong, null when nothing is. A failed read keeps the last answer. */
  async check(): Promise<string | null> {
    const reading = await this.read(this.ds);
    const problem = reading ? clockProblem(reading, this.maxSkewMs) : null;
    if (problem && !this.current) this.logger.error({ skewMs: Math.round(reading!.skewMs) }, `clock skew: ${problem}`);
    if (!problem && this.current) this.logger.info({ skewMs: Math.round(reading!.skewMs) }, "clock skew: this host's clock agrees with the database's again");
    this.current = problem;
    return problem;
  }

  /** What was wrong at the last reading (null: nothing). */
  get problem(): string | null {
    return this.current;
  }

  /** Measures every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    watches.set(this.ds, this);
    this.timer = setInterval(() => {
      this.check().catch((error) => this.logger.warn({ err: error }, "clock skew: could not read the database's clock; keeping the last reading"));
    }, intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    if (watches.get(this.ds) === this) watches.delete(this.ds);
  }
}

/** What was wrong with this process's clock for `ds` at its last reading (null: nothing, or no watch: SQLite, or a process that did not start one). */
export function clockSkewProblem(ds: DataSource): string | null {
  return watches.get(ds)?.problem ?? null;
}

/** The same, measured now (a hold placement, a readiness probe: rare enough to read the clock each time). */
export async function clockSkewProblemNow(ds: DataSource): Promise<string | null> {
  const watch = watches.get(ds);
  return watch ? watch.check() : null;
}

/** Stops the watch of `ds`, if any. */
export function stopClockWatch(ds: DataSource): void {
  watches.get(ds)?.stop();
}
