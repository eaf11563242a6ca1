import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { DeleteItemCommand, GetItemCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { retryDelayMs } from "../../orchestrator/backoff";
import { ConnectorError } from "../sdk";
import { WriteOutOfTime } from "../sql/database";
import { inParallel, type UnprocessedPolicy } from "./dynamoBatch";
import { classifyDynamoError, isThrottled } from "./dynamoErrors";

/**
 * A delete is sent only when it can be given this long (or timeoutMs, if less) to be answered, and as
 * long again to land if it is not: a DynamoDB write cannot be called back, so a unit must not end
 * while one it sent may still be done. Units shorter than twice this send nothing.
 */
export const MIN_CALL_MS = 500;

/** What a unit spends before its first delete (the page's keys are read before it begins): its own start. */
const UNIT_START_MS = 100;

/**
 * The least time a unit of erasure needs to send one delete (ConnectorSpec.minUnitMs): with timeoutMs
 * of 500 ms or more, 1,100 ms, so a task lease of at least 1,467 ms (a unit is three quarters of it).
 */
export const minUnitMs = (timeoutMs: number): number => 2 * Math.min(MIN_CALL_MS, timeoutMs) + UNIT_START_MS;

/** How often a read that waits keeps the task's lease (the runner writes a heartbeat at most every quarter lease). */
const KEEP_LEASE_MS = 250;

/**
 * Runs a read, calling `keepLease` every KEEP_LEASE_MS while it waits: a read ends by itself at
 * timeoutMs (10 s by default), which may be longer than the task's lease (DSR_TASK_LEASE_MS). Unkept,
 * the lease ran out 2 s into an unanswered read: the runner discarded the attempt and the sweeper took
 * the task back blaming the worker, though it was waiting on a bounded read. The task timeout still
 * bounds the whole.
 */
export async function keepingLease<T>(read: () => Promise<T>, keepLease?: () => Promise<void>): Promise<T> {
  const keeping = keepLease && setInterval(() => void keepLease().catch(() => undefined), KEEP_LEASE_MS);
  try {
    return await read();
  } finally {
    clearInterval(keeping);
  }
}

/** The deadline of the delete being sent in this async context (see cutAtDeadline). */
const cuts = new AsyncLocalStorage<AbortSignal>();

/**
 * Makes a delete client end each call's HTTP request at the deadline it was sent with (`cuts`): the
 * request is destroyed then, not merely no longer awaited. The SDK's requestTimeout does not do that
 * (@smithy/node-http-handler only logs a warning when it passes, unless throwOnRequestTimeout), so a
 * delete the connector gave up on stayed open, and a slow DynamoDB (or network) could still do it after
 * its unit had ended and a hold had been answered. The signal goes through the handler, not send()'s
 * options: per-call options turn off the SDK's handler cache (see dynamoStore.ts).
 */
export function cutAtDeadline(client: DynamoDBClient): void {
  const handler = client.config.requestHandler as unknown as { handle(request: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> };
  const handle = handler.handle.bind(handler);
  handler.handle = (request, options) => handle(request, { ...options, abortSignal: cuts.getStore() ?? options?.abortSignal });
}

/** What one store's deletes are sent with. */
export interface DeleteTarget {
  /** A client that tries each call once (maxAttempts 1): a resend is this file's to decide and count. Made with cutAtDeadline. */
  client: DynamoDBClient;
  table: string;
  connector: string;
  /** The partition-key attribute's name (it holds the user id). */
  partitionKey: string;
  /** The sort-key attribute's name: a delete is conditional on it, so it tells whether the item was there. */
  sortKey: string;
  /** DeleteItem calls in flight. */
  concurrency: number;
  /** The longest a call may take (the client's timeoutMs). */
  timeoutMs: number;
  /** Rounds of resending a throttled delete, and the waits between them. */
  throttled: UnprocessedPolicy;
}

/**
 * Deletes the listed keys, one DeleteItem each, conditional on the item being there
 * (`attribute_exists`): DynamoDB then says of each whether it found it, so `deleted` hears only what
 * this call removed, never an item TTL or another hand removed meanwhile (BatchWriteItem cannot tell).
 * It costs a call per key instead of one per 25, but the same write capacity: DynamoDB bills a delete
 * per item either way, and a delete that finds nothing 1 WCU as well.
 *
 * Bounded by the unit of erasure (`timeLeft`): a DynamoDB write cannot be undone, and one that reaches
 * the table after its unit ended could erase what a hold placed meanwhile keeps. So a call is sent
 * only when it can be given half the unit's time left (and at most timeoutMs), and cut when that runs
 * out: its HTTP request is destroyed then (cutAtDeadline), and the call settles only once it is. A
 * delete cut so may already have reached DynamoDB, which then still does it: the lane waits as long
 * again before the unit may end, then reads the item (strongly consistent): gone, it counts as deleted (by this
 * call, most likely: TTL or another hand removing that very item in that second would be counted too);
 * there, it is left to a later unit. WriteOutOfTime then says how many keys, from the first, are done;
 * the caller goes on after them in a new unit.
 * A delete answered with a 5xx or lost with its connection may have been done: the item is read back,
 * and gone counts as deleted (the SDK's own retry would find it gone and count nothing), there is
 * resent like a throttled one (DynamoDB does nothing of a throttled call).
 *
 * `unsettled` holds the keys whose delete was sent without learning whether it landed (cut, a 5xx, a
 * connection lost) and that are not counted yet: a later look that finds such a key gone counts it,
 * once, and takes it out. That look may be the read-back, or the key's delete sent again (in the same
 * unit, a later unit of the call, or the task's next attempt: see the erase's notes) failing its
 * condition: a DynamoDB still working on the first delete, or a gateway that answered 502 while
 * DynamoDB did it, may do it after the read-back found the item there. A read-back that gets no answer
 * leaves the key in it. A key not in it that fails the condition is still no delete of this request's.
 * `keepLease`: see keepingLease.
 * Returns the rounds of resending deletes (throttled, or failed and still there).
 */
export async function deleteKeys(t: DeleteTarget, userId: string, keys: readonly string[], signal: AbortSignal, heartbeat: () => Promise<void>, deleted: (n: number, key?: string) => void, timeLeft?: () => number | undefined, unsettled: Set<string> = new Set(), keepLease?: () => Promise<void>): Promise<number> {
  let retried = 0;
  const itemKey = (i: number) => ({ [t.partitionKey]: { S: userId }, [t.sortKey]: { S: keys[i] } });
  let unfinished = keys.length;
  const stop = (index: number) => {
    unfinished = Math.min(unfinished, index);
  };
  /** The time the next call may take, or undefined when none may be sent in this unit any more. */
  const budget = (): number | undefined => {
    const left = timeLeft?.();
    if (left === undefined) return t.timeoutMs;
    const half = Math.floor(left / 2);
    return half < Math.min(MIN_CALL_MS, t.timeoutMs) ? undefined : Math.min(t.timeoutMs, half);
  };
  /**
   * Whether the key's item is in the table now (a strongly consistent read of its key alone), within
   * timeoutMs: unbounded, a read DynamoDB never answered held its lane, and the erase, for good. It
   * keeps the task's lease meanwhile (keepingLease).
   */
  const present = async (i: number): Promise<boolean> => {
    const read = new GetItemCommand({ TableName: t.table, Key: itemKey(i), ConsistentRead: true, ProjectionExpression: "#sk", ExpressionAttributeNames: { "#sk": t.sortKey } });
    const cut = AbortSignal.timeout(t.timeoutMs);
    try {
      return (await keepingLease(() => cuts.run(cut, () => t.client.send(read)), keepLease)).Item !== undefined;
    } catch (error) {
      if (!cut.aborted) throw error;
      throw new ConnectorError(`${t.connector}: DynamoDB did not answer in time whether a delete was done; the erasure resumes on the next attempt`, `${t.connector}: a GetItem read-back unanswered after ${t.timeoutMs} ms (timeoutMs)`, true);
    }
  };
  function* indices() {
    for (let i = 0; i < keys.length && unfinished === keys.length && !signal.aborted; i++) yield i;
  }
  await inParallel(indices(), t.concurrency, async (i) => {
    /** The key's delete is known to have landed: counted once (`deleted` hears the key with it). */
    const landed = () => {
      unsettled.delete(keys[i]);
      deleted(1, keys[i]);
    };
    for (let round = 0; ; round += 1) {
      const ms = budget();
      if (ms === undefined) return stop(i);
      if (signal.aborted) return;
      const cut = AbortSignal.timeout(ms);
      try {
        const command = new DeleteItemCommand({ TableName: t.table, Key: itemKey(i), ConditionExpression: "attribute_exists(#sk)", ExpressionAttributeNames: { "#sk": t.sortKey } });
        // Not the task's signal: a delete sent is waited for (or cut and waited out), so that when this
        // returns, even on a stop, no delete of it is still on its way and each one done is counted.
        await cuts.run(cut, () => t.client.send(command));
        landed();
        break;
      } catch (error) {
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") {
          // Gone before this send: an earlier send of this request's did it if one may have landed.
          if (unsettled.has(keys[i])) landed();
          break;
        }
        if (cut.aborted) {
          // Sent, unanswered, its request destroyed: if it reached DynamoDB it may still land. The unit
          // stays open as long again, then looks: an item gone is counted as this delete's (the
          // consistent page read listed it just before).
          unsettled.add(keys[i]);
          await sleep(ms);
          if (!(await present(i))) {
            landed();
            break;
          }
          if (ms < t.timeoutMs) return stop(i);
          throw new ConnectorError(`${t.connector}: DynamoDB did not answer a delete in time; the erasure resumes on the next attempt`, `${t.connector}: a DeleteItem unanswered after ${ms} ms (timeoutMs)`, true);
        }
        if (!isThrottled(error)) {
          if (!classifyDynamoError(error, t.table).retryable) throw error;
          // A 5xx or a broken connection: DynamoDB may have done the delete. Gone now: it was this
          // one (a resend would find nothing, and neither this attempt nor the next would count it).
          unsettled.add(keys[i]);
          if (!(await present(i))) {
            landed();
            break;
          }
        }
        if (round >= t.throttled.retries) {
          throw new ConnectorError(
            `${t.connector}: DynamoDB kept throttling the deletes in table ${t.table}; the erasure resumes on the next attempt`,
            `${t.connector}: a delete still throttled (or failing) after ${round} retry rounds`,
            true,
          );
        }
        retried += 1;
        await sleep(retryDelayMs(round + 1, t.throttled.backoff), undefined, { signal });
      }
    }
    await heartbeat();
  });
  if (signal.aborted) throw new Error("stopped: no more deletes sent");
  if (unfinished < keys.length) throw new WriteOutOfTime(unfinished);
  return retried;
}
