import { type AttributeValue, DescribeTableCommand, DynamoDBClient, type DynamoDBClientConfig, GetItemCommand, QueryCommand, type QueryCommandInput, ScanCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { ConnectorError, raceAbort } from "../sdk";
import type { Operation } from "../sql/errors";
import { WriteOutOfTime } from "../sql/database";
import type { UnprocessedPolicy } from "./dynamoBatch";
import { cutAtDeadline, type DeleteTarget, deleteKeys, keepingLease, minUnitMs } from "./dynamoDeletes";
import { toDynamoConnectorError } from "./dynamoErrors";
import type { StoredEvent } from "./events";
import type { DynamoAuthLogOptions } from "./options";
import type { AuthLogStore, EventPage, KeptSummary, PageQuery, UserEvents } from "./store";

/**
 * The auth log in a DynamoDB table (AWS SDK v3, the plain client: items are unmarshalled here). Reads
 * are Query calls on the user's partition, paged with ExclusiveStartKey / LastEvaluatedKey; deletes are
 * one conditional DeleteItem per event, bounded by the unit of erasure (dynamoDeletes.ts).
 *
 * Reads are not given the signal ({ abortSignal } in send's options) but raced against it (`read`):
 * any per-call options turn off the SDK's handler cache (the client's cacheMiddleware), and then every
 * call resolves the whole middleware stack anew. In a 2,000,000-event collect from DynamoDB (2,000
 * pages) those per-call closures and objects, alive while their call was in flight, were the largest
 * part of what young-generation collections promoted to the old generation (a sampling heap profile).
 * An abandoned read runs on until it answers or timeoutMs passes; reads erase nothing, so one that
 * outlives its task changes no count. test/connectors/authLogConnector.test.ts pins both: one handler
 * resolution per client, and a read that stops at once on abort while DynamoDB has not answered.
 *
 * Reads end at timeoutMs (`throwOnRequestTimeout`), retryably: the SDK's requestTimeout alone only
 * logs a warning, and a read DynamoDB never answered stayed open for good: check() hung (and `dsr
 * connector test` with it), a task got out only when its lease ran out, and each read given up on kept
 * one of the client's 50 sockets, so after 50 every read failed as if DynamoDB were unreachable, until
 * a restart (test/connectors/authLogDynamoUnansweredRead.test.ts).
 *
 * A read keeps the task's lease while it waits (keepingLease, in dynamoDeletes.ts): ended at timeoutMs
 * (10 s by default), one unanswered read outlasted a short task lease (DSR_TASK_LEASE_MS 2 s) and the
 * task was taken back blaming the worker (test/connectors/authLogDynamoUnansweredRead.test.ts).
 */
export function createDynamoStore(o: DynamoAuthLogOptions, connector: string, pageSize: number): AuthLogStore {
  const table = o.tableName;
  const pk = o.partitionKey ?? "userId";
  const sk = o.sortKey ?? "sk";
  const timeoutMs = o.timeoutMs ?? 10_000;
  const consistent = o.consistentRead ?? true;
  const unprocessed: UnprocessedPolicy = { retries: o.unprocessedRetries ?? 8, backoff: { baseMs: o.backoffBaseMs ?? 50, maxMs: o.backoffMaxMs ?? 5000 } };
  const config = (maxAttempts: number, throwOnRequestTimeout: boolean): DynamoDBClientConfig => ({
    region: o.region,
    endpoint: o.endpoint,
    credentials: o.accessKeyId && o.secretAccessKey ? { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, sessionToken: o.sessionToken } : undefined,
    maxAttempts,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout },
    cacheMiddleware: true,
  });
  const client = new DynamoDBClient(config(o.maxAttempts ?? 3, true));

  /** A read with the client's cached handler, stopped at once when `signal` aborts, keeping the task's lease meanwhile (see above). */
  const read = <T>(send: () => Promise<T>, signal: AbortSignal, keepLease?: () => Promise<void>): Promise<T> => keepingLease(() => raceAbort(send, signal, () => signal.reason), keepLease);

  /** Every call goes through here, so every failure becomes a ConnectorError the same way. */
  const call = async <T>(op: Operation, signal: AbortSignal, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      // Not a failure: the unit of erasure's time ran out (see dynamoDeletes.ts); the caller goes on in a new one.
      if (error instanceof WriteOutOfTime) throw error;
      throw toDynamoConnectorError(error, connector, op, table, signal, timeoutMs);
    }
  };

  /** The key condition on the user's partition, with an optional range on the sort key. */
  const keyCondition = (userId: string, range?: { op: "<" | ">="; bound: string }): Pick<QueryCommandInput, "KeyConditionExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues"> => ({
    KeyConditionExpression: range ? `#pk = :pk AND #sk ${range.op} :bound` : "#pk = :pk",
    // DynamoDB refuses names an expression does not use: #sk only with a range (or a projection, below).
    ExpressionAttributeNames: range ? { "#pk": pk, "#sk": sk } : { "#pk": pk },
    ExpressionAttributeValues: range ? { ":pk": { S: userId }, ":bound": { S: range.bound } } : { ":pk": { S: userId } },
  });

  /** The sort key of an item or LastEvaluatedKey, which must be a string. */
  const sortKeyOf = (item: Record<string, AttributeValue>): string => {
    const key = item[sk]?.S;
    if (typeof key !== "string") {
      throw new ConnectorError(`${connector}: the table's sort key ${sk} is not a string; it must hold <ISO instant>#<event id>`, `${connector}: non-string sort key in ${table}`, false);
    }
    return key;
  };

  const toEvent = (item: Record<string, AttributeValue>, keysOnly: boolean): StoredEvent => {
    const key = sortKeyOf(item);
    if (keysOnly) return { key };
    const { [pk]: _user, [sk]: _key, ...data } = unmarshall(item);
    return { key, data };
  };

  // Deletes get a client of their own that never resends by itself and ends each call at its deadline (see DeleteTarget.client).
  const deleteClient = new DynamoDBClient(config(1, false));
  cutAtDeadline(deleteClient);
  const deletes: DeleteTarget = {
    client: deleteClient,
    table,
    connector,
    partitionKey: pk,
    sortKey: sk,
    concurrency: o.deleteConcurrency ?? 16,
    timeoutMs,
    throttled: unprocessed,
  };

  return {
    description: `DynamoDB table ${table}`,
    minUnitMs: minUnitMs(timeoutMs),

    check: (signal) =>
      call("check", signal, async () => {
        const { Table } = await read(() => client.send(new DescribeTableCommand({ TableName: table })), signal);
        const hash = Table?.KeySchema?.find((k) => k.KeyType === "HASH")?.AttributeName;
        const range = Table?.KeySchema?.find((k) => k.KeyType === "RANGE")?.AttributeName;
        if (hash !== pk || range !== sk) return `table ${table} is keyed by ${hash ?? "?"}/${range ?? "(no sort key)"}, not ${pk}/${sk}; fix partitionKey and sortKey`;
        const typeOf = (name: string) => Table?.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType;
        // User ids are sent as strings: a table keyed otherwise refuses every Query and Scan of them.
        if (typeOf(pk) !== "S") return `the partition key ${pk} of table ${table} must be a string (S) holding the user id`;
        if (typeOf(sk) !== "S") return `the sort key ${sk} of table ${table} must be a string (S) holding <ISO instant>#<event id>`;
        if (Table?.TableStatus !== "ACTIVE" && Table?.TableStatus !== "UPDATING") return `table ${table} is ${Table?.TableStatus ?? "in an unknown state"}, not ACTIVE`;
        return null;
      }),

    page: (userId, q: PageQuery, signal, keepLease) =>
      call(q.keysOnly ? "erase" : "collect", signal, async (): Promise<EventPage> => {
        const condition = keyCondition(userId, q.before === undefined ? undefined : { op: "<", bound: q.before });
        const query = new QueryCommand({
          TableName: table,
          ...condition,
          ExpressionAttributeNames: q.keysOnly ? { ...condition.ExpressionAttributeNames, "#sk": sk } : condition.ExpressionAttributeNames,
          ExclusiveStartKey: q.after === undefined ? undefined : { [pk]: { S: userId }, [sk]: { S: q.after } },
          ProjectionExpression: q.keysOnly ? "#sk" : undefined,
          // The erasure's own listing always reads consistently (see consistentRead in options.ts).
          ConsistentRead: q.keysOnly || consistent,
          Limit: pageSize,
        });
        const out = await read(() => client.send(query), signal, keepLease);
        const events = (out.Items ?? []).map((item) => toEvent(item, q.keysOnly));
        return { events, next: out.LastEvaluatedKey ? sortKeyOf(out.LastEvaluatedKey) : undefined };
      }),

    remove: (userId, keys, signal, heartbeat, deleted, timeLeft, unsettled, keepLease) =>
      call("erase", signal, () => deleteKeys(deletes, userId, keys, signal, heartbeat, deleted, timeLeft, unsettled, keepLease)),

    goneOf: (userId, keys, signal, keepLease) =>
      call("erase", signal, async (): Promise<string[]> => {
        const gone: string[] = [];
        for (const key of keys) {
          const get = new GetItemCommand({ TableName: table, Key: { [pk]: { S: userId }, [sk]: { S: key } }, ConsistentRead: true, ProjectionExpression: "#sk", ExpressionAttributeNames: { "#sk": sk } });
          if ((await read(() => client.send(get), signal, keepLease)).Item === undefined) gone.push(key);
        }
        return gone;
      }),

    keptFrom: (userId, bound, signal, heartbeat) =>
      call("erase", signal, async (): Promise<KeptSummary> => {
        const condition = keyCondition(userId, { op: ">=", bound });
        const newest = await read(() => client.send(new QueryCommand({ TableName: table, ...condition, ScanIndexForward: false, Limit: 1, ProjectionExpression: "#sk", ConsistentRead: true })), signal, heartbeat);
        const newestItem = newest.Items?.[0];
        if (!newestItem) return { count: 0 };
        const newestKey = sortKeyOf(newestItem);
        let count = 0;
        let start: Record<string, AttributeValue> | undefined;
        do {
          const out = await read(() => client.send(new QueryCommand({ TableName: table, ...condition, Select: "COUNT", ExclusiveStartKey: start, ConsistentRead: true })), signal, heartbeat);
          count += out.Count ?? 0;
          start = out.LastEvaluatedKey;
          await heartbeat();
        } while (start);
        return { count, newestKey };
      }),

    /**
     * No call lists a table's partition keys, so this is a Scan of the whole table: one sequential Scan,
     * `pageSize` items a call, paged by LastEvaluatedKey, projecting only the partition key. It reads
     * (and is billed for) every event once, whatever the projection: a 1,000,000-event table of 200-byte
     * items is about 100,000 read units with strongly consistent reads (half that with `consistentRead: false`). Memory stays one page and one
     * counter: the partition key is the user id, and a user's events are one item collection, stored
     * together in sort-key order, so a sequential Scan returns them in one run; a user is counted by the
     * length of their run and listed when the next user's run begins. (A parallel Scan, or a table
     * keyed otherwise, would need a counter per user; check() refuses a table keyed otherwise.)
     */
    async *users(signal, heartbeat): AsyncGenerator<UserEvents> {
      let current: string | undefined;
      let events = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const scan = new ScanCommand({
          TableName: table,
          ProjectionExpression: "#pk",
          ExpressionAttributeNames: { "#pk": pk },
          ExclusiveStartKey: start,
          ConsistentRead: consistent,
          Limit: pageSize,
        });
        const out = await call("roster", signal, () => read(() => client.send(scan), signal, heartbeat));
        for (const item of out.Items ?? []) {
          const userId = item[pk]?.S;
          if (userId === undefined) throw new ConnectorError(`${connector}: the table's partition key ${pk} is not a string; it must hold the user id`, `${connector}: non-string partition key in ${table}`, false);
          if (userId !== current) {
            if (current !== undefined) yield { userId: current, events };
            current = userId;
            events = 0;
          }
          events += 1;
        }
        start = out.LastEvaluatedKey;
        if (start) await heartbeat();
      } while (start);
      if (current !== undefined) yield { userId: current, events };
    },

    close: async () => {
      client.destroy();
      deleteClient.destroy();
    },
  };
}
