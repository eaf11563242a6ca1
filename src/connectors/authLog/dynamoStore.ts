import { DescribeTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { ConnectorError } from "../sdk";
import type { Operation } from "../sql/errors";
import { BATCH_LIMIT, batchWrite, chunks, inParallel, type UnprocessedPolicy } from "./dynamoBatch";
import { toDynamoConnectorError } from "./dynamoErrors";
import type { StoredEvent } from "./events";
import type { DynamoAuthLogOptions } from "./options";
import type { AuthLogStore, EventPage, KeptSummary, PageQuery } from "./store";

/**
 * The auth log in a DynamoDB table (AWS SDK v3). Reads are Query calls on the user's partition, paged
 * with ExclusiveStartKey / LastEvaluatedKey; deletes are BatchWriteItem calls of 25, whose
 * UnprocessedItems are retried with capped exponential backoff and jitter.
 */
export function createDynamoStore(o: DynamoAuthLogOptions, connector: string, pageSize: number): AuthLogStore {
  const table = o.tableName;
  const pk = o.partitionKey ?? "userId";
  const sk = o.sortKey ?? "sk";
  const timeoutMs = o.timeoutMs ?? 10_000;
  const unprocessed: UnprocessedPolicy = { retries: o.unprocessedRetries ?? 8, backoff: { baseMs: o.backoffBaseMs ?? 50, maxMs: o.backoffMaxMs ?? 5000 } };
  const client = new DynamoDBClient({
    region: o.region,
    endpoint: o.endpoint,
    credentials: o.accessKeyId && o.secretAccessKey ? { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey, sessionToken: o.sessionToken } : undefined,
    maxAttempts: o.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
  });
  const doc = DynamoDBDocumentClient.from(client);

  /** Every call goes through here, so every failure becomes a ConnectorError the same way. */
  const call = async <T>(op: Operation, signal: AbortSignal, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw toDynamoConnectorError(error, connector, op, table, signal);
    }
  };

  /** The key condition on the user's partition, with an optional range on the sort key. */
  const keyCondition = (userId: string, range?: { op: "<" | ">="; bound: string }): Pick<QueryCommandInput, "KeyConditionExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues"> => ({
    KeyConditionExpression: range ? `#pk = :pk AND #sk ${range.op} :bound` : "#pk = :pk",
    // DynamoDB refuses names an expression does not use: #sk only with a range (or a projection, below).
    ExpressionAttributeNames: range ? { "#pk": pk, "#sk": sk } : { "#pk": pk },
    ExpressionAttributeValues: range ? { ":pk": userId, ":bound": range.bound } : { ":pk": userId },
  });

  const toEvent = (item: Record<string, unknown>, keysOnly: boolean): StoredEvent => {
    const key = item[sk];
    if (typeof key !== "string") {
      throw new ConnectorError(`${connector}: the table's sort key ${sk} is not a string; it must hold <ISO instant>#<event id>`, `${connector}: non-string sort key in ${table}`, false);
    }
    if (keysOnly) return { key };
    const { [pk]: _user, [sk]: _key, ...data } = item;
    return { key, data };
  };

  /** Deletes up to 25 events, retrying what DynamoDB left unprocessed; returns the retry rounds it took. */
  const deleteBatch = async (userId: string, keys: readonly string[], signal: AbortSignal): Promise<number> => {
    const requests = keys.map((key) => ({ DeleteRequest: { Key: { [pk]: userId, [sk]: key } } }));
    const { rounds, left } = await batchWrite(doc, table, requests, unprocessed, signal);
    if (!left) return rounds;
    throw new ConnectorError(
      `${connector}: DynamoDB kept throttling the deletes in table ${table}; the erasure resumes on the next attempt`,
      `${connector}: ${left} of ${keys.length} deletes still unprocessed after ${rounds} retry rounds`,
      true,
    );
  };

  return {
    description: `DynamoDB table ${table}`,

    check: (signal) =>
      call("check", signal, async () => {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: table }), { abortSignal: signal });
        const hash = Table?.KeySchema?.find((k) => k.KeyType === "HASH")?.AttributeName;
        const range = Table?.KeySchema?.find((k) => k.KeyType === "RANGE")?.AttributeName;
        if (hash !== pk || range !== sk) return `table ${table} is keyed by ${hash ?? "?"}/${range ?? "(no sort key)"}, not ${pk}/${sk}; fix partitionKey and sortKey`;
        const type = Table?.AttributeDefinitions?.find((a) => a.AttributeName === sk)?.AttributeType;
        if (type !== "S") return `the sort key ${sk} of table ${table} must be a string (S) holding <ISO instant>#<event id>`;
        if (Table?.TableStatus !== "ACTIVE" && Table?.TableStatus !== "UPDATING") return `table ${table} is ${Table?.TableStatus ?? "in an unknown state"}, not ACTIVE`;
        return null;
      }),

    page: (userId, q: PageQuery, signal) =>
      call(q.keysOnly ? "erase" : "collect", signal, async (): Promise<EventPage> => {
        const condition = keyCondition(userId, q.before === undefined ? undefined : { op: "<", bound: q.before });
        const out = await doc.send(
          new QueryCommand({
            TableName: table,
            ...condition,
            ExpressionAttributeNames: q.keysOnly ? { ...condition.ExpressionAttributeNames, "#sk": sk } : condition.ExpressionAttributeNames,
            ExclusiveStartKey: q.after === undefined ? undefined : { [pk]: userId, [sk]: q.after },
            ProjectionExpression: q.keysOnly ? "#sk" : undefined,
            ConsistentRead: o.consistentRead ?? false,
            Limit: pageSize,
          }),
          { abortSignal: signal },
        );
        const events = (out.Items ?? []).map((item) => toEvent(item, q.keysOnly));
        const next = out.LastEvaluatedKey?.[sk];
        return { events, next: typeof next === "string" ? next : undefined };
      }),

    remove: (userId, keys, signal, heartbeat) =>
      call("erase", signal, async () => {
        let rounds = 0;
        await inParallel(chunks(keys, BATCH_LIMIT), o.deleteConcurrency ?? 4, async (batch) => {
          // Not `rounds += await ...`: that reads `rounds` before the await and loses the other lanes' counts.
          const retried = await deleteBatch(userId, batch, signal);
          rounds += retried;
          await heartbeat();
        });
        return rounds;
      }),

    keptFrom: (userId, bound, signal, heartbeat) =>
      call("erase", signal, async (): Promise<KeptSummary> => {
        const condition = keyCondition(userId, { op: ">=", bound });
        const newest = await doc.send(new QueryCommand({ TableName: table, ...condition, ScanIndexForward: false, Limit: 1, ProjectionExpression: "#sk" }), { abortSignal: signal });
        const newestKey = newest.Items?.[0]?.[sk];
        if (typeof newestKey !== "string") return { count: 0 };
        let count = 0;
        let start: Record<string, unknown> | undefined;
        do {
          const out = await doc.send(new QueryCommand({ TableName: table, ...condition, Select: "COUNT", ExclusiveStartKey: start }), { abortSignal: signal });
          count += out.Count ?? 0;
          start = out.LastEvaluatedKey;
          await heartbeat();
        } while (start);
        return { count, newestKey };
      }),

    close: async () => client.destroy(),
  };
}
