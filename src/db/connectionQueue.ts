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
      runner.query = ((...args: unknown[]) => (inTurn(ds) ? query(...args) : exclusive(ds, () => query(...args)))) as QueryRunner["query"];
      const start = runner.startTransaction.bind(runner);
      runner.startTransaction = (level) => {
        if (!inTurn(ds)) throw new Error("a transaction on the service database is opened only by inTransaction (src/db/transaction.ts), never by ds.transaction, save() or a query runner");
        return start(level);
      };
    }
    return runner;
  };
}
