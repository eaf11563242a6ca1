import { setTimeout as sleep } from "node:timers/promises";
import { BatchWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type BackoffPolicy, retryDelayMs } from "../../orchestrator/backoff";

/** BatchWriteItem takes at most 25 requests. */
export const BATCH_LIMIT = 25;

/** One put or delete of a BatchWriteItem call. */
export type WriteRequest = NonNullable<NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]["RequestItems"]>[string]>[number];

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
 * drained ahead of the work); stops taking new items after a failure.
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
  await Promise.all(Array.from({ length: limit }, lane));
}

/** How long one batch keeps retrying what DynamoDB left unprocessed. */
export interface UnprocessedPolicy {
  /** Retry rounds after the first call. */
  retries: number;
  /** Capped exponential backoff with jitter between rounds. */
  backoff: BackoffPolicy;
}

/**
 * Sends one BatchWriteItem (up to 25 requests) and resends its UnprocessedItems, waiting longer each
 * round. Returns the rounds it retried and how many requests were still unprocessed when it gave up.
 */
export async function batchWrite(doc: DynamoDBDocumentClient, table: string, requests: WriteRequest[], policy: UnprocessedPolicy, signal?: AbortSignal): Promise<{ rounds: number; left: number }> {
  let pending = requests;
  for (let round = 0; ; round += 1) {
    const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }), { abortSignal: signal });
    pending = out.UnprocessedItems?.[table] ?? [];
    if (!pending.length || round >= policy.retries) return { rounds: round, left: pending.length };
    await sleep(retryDelayMs(round + 1, policy.backoff), undefined, { signal });
  }
}
