import { setTimeout as sleep } from "node:timers/promises";
import { BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from "@aws-sdk/client-dynamodb";
import { type BackoffPolicy, retryDelayMs } from "../../orchestrator/backoff";

/** BatchWriteItem takes at most 25 requests. */
export const BATCH_LIMIT = 25;

/** Groups a sequence into arrays of `size`, lazily: a generator in gives one group in memory at a time. */
export function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let group: T[] = [];
  for (const item of items) {
    group.push(item);
    if (group.length === size) {
      yield group;
      group = [];
    }
  }
  if (group.length) yield group;
}

/**
 * Runs `work` on every item with at most `limit` in flight, pulling items lazily (a generator is never
 * drained ahead of the work); stops taking new items after a failure, and rejects with the first
 * failure only once every item in flight has settled: a caller that counts or fences the work (a unit
 * of erasure) must not end it while deletes of it are still being sent.
 */
export async function inParallel<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  let failed = false;
  const lane = async () => {
    for (;;) {
      if (failed) return;
      const next = iterator.next();
      if (next.done) return;
      try {
        await work(next.value);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: limit }, lane));
  const failure = lanes.find((l): l is PromiseRejectedResult => l.status === "rejected");
  if (failure) throw failure.reason;
}

/** How long one batch keeps retrying what DynamoDB left unprocessed. */
export interface UnprocessedPolicy {
  /** Retry rounds after the first call. */
  retries: number;
  /** Capped exponential backoff with jitter between rounds. */
  backoff: BackoffPolicy;
}

/**
 * Sends one BatchWriteItem (up to 25 requests, keys and items in DynamoDB's attribute-value form) and
 * resends its UnprocessedItems, waiting longer each round. Returns the rounds it retried and how many
 * requests were still unprocessed when it gave up; `processed` hears after each answered call how many
 * requests DynamoDB did in it, so a batch that gives up (or fails) still tells what it wrote. The signal goes to the SDK, which aborts the HTTP
 * request itself: a write is cancelled, not merely no longer awaited.
 */
export async function batchWrite(client: DynamoDBClient, table: string, requests: WriteRequest[], policy: UnprocessedPolicy, signal?: AbortSignal, processed?: (n: number) => void): Promise<{ rounds: number; left: number }> {
  let pending = requests;
  for (let round = 0; ; round += 1) {
    const out = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }), { abortSignal: signal });
    const sent = pending.length;
    pending = out.UnprocessedItems?.[table] ?? [];
    processed?.(sent - pending.length);
    if (!pending.length || round >= policy.retries) return { rounds: round, left: pending.length };
    await sleep(retryDelayMs(round + 1, policy.backoff), undefined, { signal });
  }
}
