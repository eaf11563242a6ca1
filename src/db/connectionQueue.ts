import { AsyncLocalStorage } from "node:async_hooks";
import type { DataSource, QueryRunner } from "typeorm";

/**
 * The owner of the embedded SQLite connection.
 *
 * better-sqlite3 gives TypeORM ONE connection and one shared query runner: a statement issued while a
 * transaction is open runs inside it, whoever issued it, and is rolled back with it (a staged chunk of
 * records once vanished that way when an unrelated command ended in CONFLICT). So on SQLite every
 * statement runs in a turn of this queue:
 * - a transaction (inTransaction) is one turn: its statements run, nobody else's do; so is a read
 *   snapshot (inReadSnapshot: one GraphQL read of requests, their tasks and exceptions);
 * - a statement issued outside any transaction is a turn of its own (its own implicit transaction),
 *   queued behind the open one, so it neither joins another's transaction nor reads uncommitted state;
 * - a transaction opened any other way than inTransaction (ds.transaction, repository.save, a query
 *   runner's startTransaction) is refused: it would hold the connection outside the queue.
 * MySQL needs none of this: every transaction takes its own pooled connection, and a lone statement on
 * the pool commits alone.
 */
interface Queue {
  tail: Promise<unknown>;
  /** The turn that holds the connection, if any. */
  owner: object | null;
  /** Milliseconds turns spent waiting for the connection (the bench reports it). */
  waitedMs: number;
}

const queues = new WeakMap<DataSource, Queue>();
const turns = new AsyncLocalStorage<object>();

function queueOf(ds: DataSource): Queue {
  let queue = queues.get(ds);
  if (!queue) queues.set(ds, (queue = { tail: Promise.resolve(), owner: null, waitedMs: 0 }));
  return queue;
}

/** True while the caller runs inside the turn that holds `ds`'s connection. */
export function inTurn(ds: DataSource): boolean {
  const owner = queues.get(ds)?.owner;
  return owner !== null && owner !== undefined && turns.getStore() === owner;
}

/** Runs `work` as one turn: alone on the connection, after every turn queued before it. */
export function exclusive<T>(ds: DataSource, work: () => Promise<T>): Promise<T> {
  const queue = queueOf(ds);
  const token = {};
  const queuedAt = performance.now();
  const run = queue.tail
    .catch(() => undefined)
    .then(async () => {
      queue.waitedMs += performance.now() - queuedAt;
      queue.owner = token;
      try {
        return await turns.run(token, work);
      } finally {
        queue.owner = null;
      }
    });
  queue.tail = run;
  return run;
}

/** Milliseconds turns of `ds` have waited for the connection so far. */
export function queueWaitMs(ds: DataSource): number {
  return queues.get(ds)?.waitedMs ?? 0;
}

/**
 * Puts `ds`'s SQLite connection behind the queue: its query runner's statements run in turns, and it
 * opens a transaction only inside a turn. Called once, by createDataSource.
 */
export function queueSqliteConnection(ds: DataSource): void {
  const driver = ds.driver as unknown as { createQueryRunner(mode?: string): QueryRunner };
  const create = driver.createQueryRunner.bind(driver);
  const queued = new WeakSet<QueryRunner>();
  driver.createQueryRunner = (mode?: string) => {
    const runner = create(mode);
    if (!queued.has(runner)) {
      queued.add(runner);
      const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
      // TypeORM opens every transaction with a deferred BEGIN: its first read takes a snapshot, and its
      // first write then asks for the file's write lock. When another process holds that lock, SQLite
      // refuses the upgrade at once, without waiting (waiting could deadlock two such readers), so a
      // transaction that read first failed the moment any other process was writing. BEGIN IMMEDIATE
      // takes the write lock before the work starts: refused there, nothing of the work has run.
      const immediate = (sql: unknown) => (sql === "BEGIN TRANSACTION" ? "BEGIN IMMEDIATE TRANSACTION" : sql);
      runner.query = ((sql: unknown, ...rest: unknown[]) =>
        inTurn(ds) ? query(immediate(sql), ...rest) : waitingForLock(() => exclusive(ds, () => query(sql, ...rest)))) as QueryRunner["query"];
      const start = runner.startTransaction.bind(runner);
      runner.startTransaction = async (level) => {
        if (!inTurn(ds)) throw new Error("a transaction on the service database is opened only by inTransaction (src/db/transaction.ts), never by ds.transaction, save() or a query runner");
        try {
          return await start(level);
        } catch (error) {
          // A BEGIN the file's lock refused opened nothing; TypeORM marked the transaction open before it ran.
          (runner as { isTransactionActive: boolean }).isTransactionActive = false;
          throw error;
        }
      };
    }
    return runner;
  };
}

/**
 * How long a write waits for another process to release the SQLite file's write lock (an operator's
 * `sqlite3` shell, a `dsr` command, a backup) before it is refused as busy.
 */
export const SQLITE_LOCK_WAIT_MS = 5000;

/** SQLite's answer when another connection holds the lock a statement needs. */
export const isSqliteBusy = (error: unknown): boolean => String((error as { code?: unknown }).code ?? "").startsWith("SQLITE_BUSY");

/**
 * Runs `attempt` (one turn: a transaction or a lone statement) again while SQLite answers busy, for up
 * to SQLITE_LOCK_WAIT_MS, then fails with the last answer. A busy answer changed nothing (a refused
 * BEGIN IMMEDIATE or lone statement), so the attempt is repeated whole. The wait is on timers between
 * turns: better-sqlite3 is synchronous, and SQLite's own busy timeout would sleep on the event loop's
 * thread, every request of the process waiting with it (Invariant 6); so the service's connection runs
 * with busy_timeout 0 (noLockWaitOnTheLoop) and its other turns run while this one waits.
 */
export async function waitingForLock<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + SQLITE_LOCK_WAIT_MS;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    try {
      return await attempt();
    } catch (error) {
      if (!isSqliteBusy(error) || performance.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
    }
  }
}

/**
 * Sets the connection's busy timeout: 0 once the service is open (waitingForLock waits off the loop),
 * SQLITE_LOCK_WAIT_MS while migrations run at start, before anything is served.
 */
export async function sqliteBusyTimeout(ds: DataSource, ms: number): Promise<void> {
  await ds.query(`PRAGMA busy_timeout = ${Math.trunc(ms)}`);
}
