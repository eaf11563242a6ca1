import type { StoredEvent } from "./events";

/** One page of a user's events, in sort-key (time) order. */
export interface EventPage {
  events: StoredEvent[];
  /** The sort key to continue after; absent on the last page. */
  next?: string;
}

/** Which of a user's events a page reads. */
export interface PageQuery {
  /** Continue after this sort key (keyset paging); absent: from the oldest event. */
  after?: string;
  /** Only events whose sort key is below this bound (events recorded before an instant). */
  before?: string;
  /** Read only the keys (erase needs nothing else). */
  keysOnly: boolean;
}

/** What a store keeps of a user's events from a bound on: how many, and the newest one's key. */
export interface KeptSummary {
  count: number;
  newestKey?: string;
}

/** One user the store holds events of: the user id as stored, and how many events (records collect yields). */
export interface UserEvents {
  userId: string;
  events: number;
}

/**
 * Where the events live (DynamoDB or a SQL table). The connector's loops (paging, prefetch, heartbeat,
 * retention) sit above this interface, so both stores behave alike. Every method throws ConnectorError
 * only (but remove's WriteOutOfTime), and holds at most one page in memory.
 */
export interface AuthLogStore {
  /** For check messages, e.g. `DynamoDB table auth-events`; never secrets. */
  readonly description: string;
  /** The least time a unit of erasure must have for remove() to delete anything (ConnectorSpec.minUnitMs); undefined: no bound. */
  readonly minUnitMs?: number;
  /** Proves the store is reachable and shaped as expected: null when it is, else what is wrong. */
  check(signal: AbortSignal): Promise<string | null>;
  /**
   * Reads one page of a user's events. `keepLease` (and the heartbeat of keptFrom and users): called
   * while a read waits long, so that one bounded by the store's own time limits does not outlast the task's lease.
   */
  page(userId: string, query: PageQuery, signal: AbortSignal, keepLease?: () => Promise<void>): Promise<EventPage>;
  /**
   * Deletes the listed events of a user (already-deleted ones are no error: erase is idempotent).
   * Returns how many rounds of retrying throttled deletes it took (0 when none were throttled).
   * `deleted` hears each time the store knows more of the keys are gone, also when the call then
   * fails: what a failed call deleted is still counted (the counting rule), and a retry cannot find it.
   * It hears only what this call's own deletes removed: SQL from each statement's row count, DynamoDB
   * from a delete conditional on the item being there (a key gone meanwhile, by TTL or another hand, is
   * not claimed). DynamoDB names the key of each delete it counts (one at a time); SQL names none.
   * `timeLeft` is the unit of erasure's (TaskContext.unitTimeLeft): a SQL store bounds each DELETE by it
   * (a statement cut at it is rolled back); DynamoDB, which cannot undo a write, sends a delete only when
   * it can be answered (or waited out) within it. Either then throws WriteOutOfTime, the one error not a
   * ConnectorError, saying how many keys from the first it finished: the caller goes on after them, or
   * (none finished) tries fewer keys.
   * `unsettled` (DynamoDB; a SQL statement either commits or not): the keys whose delete was sent
   * without learning whether it landed, not counted yet. remove adds to it and takes out what it counts;
   * a key in it found gone counts as deleted (see deleteKeys). The caller keeps it over the call's
   * units, and hands what is left when the call fails to the task's next attempt.
   * `keepLease`: as page's, while a read (DynamoDB's read-back of a delete) waits.
   */
  remove(userId: string, keys: readonly string[], signal: AbortSignal, heartbeat: () => Promise<void>, deleted: (n: number, key?: string) => void, timeLeft?: () => number | undefined, unsettled?: Set<string>, keepLease?: () => Promise<void>): Promise<number>;
  /**
   * DynamoDB: which of the user's `keys` the table no longer holds, each read alone (strongly
   * consistent), nothing written: what a retry under a hold may do to settle an earlier attempt's
   * deletes in doubt (the erase's delete notes). Absent on a store whose deletes are never in doubt (SQL).
   */
  goneOf?(userId: string, keys: readonly string[], signal: AbortSignal, keepLease?: () => Promise<void>): Promise<string[]>;
  /** Counts a user's events whose sort key is at or above `bound` and finds the newest. */
  keptFrom(userId: string, bound: string, signal: AbortSignal, heartbeat: () => Promise<void>): Promise<KeptSummary>;
  /**
   * Every user the store holds events of, each once, with their event count (the breach roster), read
   * a page at a time with `heartbeat` between pages; never more than a page and one counter held.
   */
  users(signal: AbortSignal, heartbeat: () => Promise<void>): AsyncIterable<UserEvents>;
  /** Releases connections the store opened. */
  close(): Promise<void>;
}
