import { QueryCommand } from "@aws-sdk/client-dynamodb";
import type { Connector } from "../../../src/connectors/sdk";
import type { TestDatabase } from "../../support/databases";
import { TestService } from "../../support/harness";
import { AuthLogDynamo } from "./authLogDynamo";
import { type AuthLogFixture, dynamoFixture } from "./authLogFixtures";

/** What a suite on dynalite hands its tests. */
export interface DynamoSuite {
  /** The suite's dynalite, behind its proxy (AuthLogDynamo), its record of calls emptied before each test. */
  readonly dynamo: AuthLogDynamo;
  /** The test's own table, seeded with every sample person's events. */
  readonly f: AuthLogFixture & { tableName: string };
  /**
   * Starts the service on `db` with these connectors. `realClock`: its clock then runs as a real one
   * does (a unit of erasure expires on it, as in production).
   */
  service(env: Record<string, string>, connectors: Connector[], realClock?: boolean): Promise<TestService>;
}

/**
 * The mocha hooks of a suite on dynalite: one server for the suite, a new seeded table before each test,
 * and after each test the service stopped first (its worker may still be erasing from the table), then
 * the table removed. `db`: the service's database, for suites that start it.
 */
export function dynamoSuite(db?: () => TestDatabase): DynamoSuite {
  let dynamo: AuthLogDynamo | undefined;
  let f: (AuthLogFixture & { tableName: string }) | undefined;
  let t: TestService | undefined;
  let ticking: NodeJS.Timeout | undefined;
  before(async () => {
    dynamo = await AuthLogDynamo.start();
  });
  after(async () => {
    await dynamo?.stop();
  });
  beforeEach(async () => {
    f = await dynamoFixture(dynamo!);
    dynamo!.operations.length = 0;
  });
  afterEach(async () => {
    clearInterval(ticking);
    ticking = undefined;
    await t?.stop();
    t = undefined;
    await f?.teardown();
    f = undefined;
  });
  return {
    get dynamo() {
      return dynamo!;
    },
    get f() {
      return f!;
    },
    async service(env, connectors, realClock = false) {
      if (!db) throw new Error("dynamoSuite(db): give the service's database to start the service");
      // Kept before it starts: one that fails to start is stopped all the same (its notifier inbox).
      t = new TestService(db(), env, connectors);
      await t.start();
      if (realClock) ticking = setInterval(() => t?.clock.advance(20), 20);
      return t;
    },
  };
}

/** A person's items in the suite's table itself (straight to dynalite, strongly consistent). */
export async function itemsOf(s: DynamoSuite, userId: string): Promise<number> {
  const client = s.dynamo.client();
  try {
    let n = 0;
    let start: Record<string, any> | undefined;
    do {
      const out = await client.send(new QueryCommand({ TableName: s.f.tableName, KeyConditionExpression: "userId = :u", ExpressionAttributeValues: { ":u": { S: userId } }, Select: "COUNT", ConsistentRead: true, ExclusiveStartKey: start }));
      n += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start);
    return n;
  } finally {
    client.destroy();
  }
}

/**
 * Waits until the request's `step` task (ERASE, PURGE) failed its first attempt and waits for its retry
 * (PENDING, 1 attempt, an error): `SHOW` selects `tasks { step status attempts lastError }`, taking `$id`.
 */
export async function firstAttemptFailed(t: TestService, show: string, id: string, step: string, timeoutMs = 40_000): Promise<void> {
  await t.waitFor(
    async () => {
      const task = (await t.ok(show, { id })).request.tasks.find((y: any) => y.step === step);
      return task?.status === "PENDING" && task.attempts === 1 && task.lastError ? true : undefined;
    },
    `the ${step}'s first attempt failed`,
    timeoutMs,
  );
}

/**
 * The request once its deletion ended (COMPLETED or FAILED), with its ERASE task and its auth-log line:
 * `show` selects `status`, `tasks { step ... }` and `deletionOutcome { connector ... }`, taking `$id`.
 */
export async function deletionEnded(t: TestService, show: string, id: string, timeoutMs = 60_000): Promise<{ ended: any; erase: any; line: any }> {
  const ended = await t.waitFor(
    async () => {
      const request = (await t.ok(show, { id })).request;
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "the deletion ended",
    timeoutMs,
  );
  return { ended, erase: ended.tasks.find((y: any) => y.step === "ERASE"), line: ended.deletionOutcome.find((l: any) => l.connector === "auth-log") };
}
