import http from "node:http";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, QueryCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { expect } from "chai";
import { createAuthLogConnector, type AuthLogOptions } from "../../src/connectors/authLog";
import { ConnectorConfigError, ConnectorError } from "../../src/connectors/sdk";
import { collectAll, type ConformanceRun, describeConnectorConformance, listAll, testContext, type TestTaskContext } from "../../src/connectors/testing/conformance";
import { createSampleAuthLogTable, insertAuthEvents, seedSampleAuthLog } from "../../src/sample/authLog";
import { samplePeople } from "../../src/sample/people";
import { describeEachDatabase } from "../support/databases";
import { AuthLogDynamo, LOCAL_CREDENTIALS, LOCAL_REGION } from "./support/authLogDynamo";
import { ADA, ADA_EVENTS, type AuthLogFixture, dynamoFixture, GRACE, openTestDataSource, PAGE, PEOPLE, sqlFixture } from "./support/authLogFixtures";
import { dynamoSuite } from "./support/dynamoSuite";

const ADA_PAGES = Math.ceil(ADA_EVENTS.length / PAGE);

function conformanceRun(f: AuthLogFixture): ConformanceRun {
  return {
    connector: f.connector(),
    badConnector: f.missingTable(),
    subject: ADA,
    otherSubject: GRACE,
    // No mixedCaseSubject: the auth log finds people by the platform's user id only, which is
    // case-sensitive (test/identity/mixedCase.test.ts finds Zoë's log through her mixed-case account).
    expectedRecordCount: ADA_EVENTS.length,
    injectRetryableFault: () => f.injectRetryableFault(),
    teardown: () => f.teardown(),
  };
}

/** A table on dynalite keyed by `partition` and `sort`, each of its attribute type. */
async function createTable(client: DynamoDBClient, tableName: string, partition: { name: string; type: "S" | "N" }, sort: { name: string; type: "S" | "N" }): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: partition.name, AttributeType: partition.type },
        { AttributeName: sort.name, AttributeType: sort.type },
      ],
      KeySchema: [
        { AttributeName: partition.name, KeyType: "HASH" },
        { AttributeName: sort.name, KeyType: "RANGE" },
      ],
    }),
  );
}

async function rejection(work: Promise<unknown>): Promise<ConnectorError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the call should have failed").to.be.instanceOf(ConnectorError);
  return error as ConnectorError;
}

/** What every store must do alike, beyond the conformance suite. */
function describeStoreBehaviour(make: () => Promise<AuthLogFixture>): void {
  describe("auth-log store behaviour", () => {
    let f: AuthLogFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.teardown();
    });

    it(`pages through all ${ADA_EVENTS.length} events in time order, each once, dated by its key`, async () => {
      const records = await collectAll(f.connector(), ADA);
      expect(records.map((r) => r.id)).to.deep.equal(ADA_EVENTS.map((e) => e.key));
      const { userId: _user, key: _key, ...fields } = ADA_EVENTS[7];
      expect(records[7]).to.deep.include({ category: "AUTH_LOGS", type: "auth_event", data: fields });
      expect(records[7].recordedAt?.toISOString()).to.equal(ADA_EVENTS[7].recordedAt);
    });

    it("keeps events recorded at or after keepRecordedSince, reporting how many and the newest, when erasing", async () => {
      const connector = f.connector();
      const since = new Date(ADA_EVENTS[1000].recordedAt);
      const keptEvents = ADA_EVENTS.filter((e) => new Date(e.recordedAt) >= since);
      const instruction = { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: since } };
      const outcome = await connector.erase(ADA, instruction, testContext());
      const kept = [{ category: "AUTH_LOGS", type: "auth_event", count: keptEvents.length, newestRecordedAt: new Date(ADA_EVENTS[ADA_EVENTS.length - 1].recordedAt) }];
      expect(outcome).to.deep.equal({ erased: ADA_EVENTS.length - keptEvents.length, kept });
      expect((await collectAll(connector, ADA)).map((r) => r.id)).to.deep.equal(keptEvents.map((e) => e.key));
      // A retry erases nothing more and reports the same kept set.
      expect(await connector.erase(ADA, instruction, testContext())).to.deep.equal({ erased: 0, kept });
    });

    it("beats the heartbeat during erase, stops when the signal aborts, and a retry finishes the erasure", async () => {
      const connector = f.connector({ heartbeatEveryMs: 0 });
      let ctx: TestTaskContext | undefined;
      ctx = testContext({
        heartbeat: async () => {
          if (ctx!.heartbeats === 3) ctx!.abort("lease lost");
        },
      });
      const stoppedError = await rejection(connector.erase(ADA, { categories: ["AUTH_LOGS"] }, ctx));
      expect(stoppedError.retryable).to.equal(true);
      const left = (await collectAll(connector, ADA)).length;
      expect(left, "some events erased, not all").to.be.within(1, ADA_EVENTS.length - 1);
      const retry = testContext();
      expect(await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, retry)).to.deep.equal({ erased: left });
      expect(await collectAll(connector, ADA)).to.deep.equal([]);
      expect((await collectAll(connector, GRACE)).length).to.equal(40);
    });

    it("names the missing table in check's message, and fails collect without retry", async () => {
      const connector = f.missingTable();
      const result = await connector.check(testContext());
      expect(result.ok).to.equal(false);
      expect(result.message).to.match(/auth-log: .*does not exist/);
      const error = await rejection(collectAll(connector, ADA));
      expect(error.retryable).to.equal(false);
    });

    it("lists every user once, by user id, with as many records as collect yields, over more users than one page", async () => {
      // SQL pages count users (3 a page: 8 people); DynamoDB pages count events (50 a page), so users' runs cross pages.
      const connector = f.connector({ pageSize: f.kind === "dynamodb" ? 50 : 3, heartbeatEveryMs: 0 });
      const ctx = testContext();
      const entries = await listAll(connector, ctx);
      const byUser = (a: { identities: { userId?: string } }, b: { identities: { userId?: string } }) => a.identities.userId!.localeCompare(b.identities.userId!);
      expect([...entries].sort(byUser)).to.deep.equal(PEOPLE.map((p) => ({ identities: { userId: p.userId }, records: p.authEventCount })).sort(byUser));
      for (const entry of entries) {
        const collected = await collectAll(f.connector(), { email: "roster@example.com", userId: entry.identities.userId });
        expect(entry.records, entry.identities.userId).to.equal(collected.length);
      }
      expect(ctx.heartbeats, "a heartbeat between pages").to.be.at.least(f.kind === "dynamodb" ? Math.floor(PEOPLE.reduce((n, p) => n + p.authEventCount, 0) / 50) : 2);
    });

    it("stops listing with a retryable error, when the roster job is aborted", async () => {
      const connector = f.connector({ pageSize: 3, heartbeatEveryMs: 0 });
      const ctx = testContext();
      const aborting = testContext({ signal: ctx.signal, heartbeat: async () => ctx.abort("lease lost") });
      const error = await rejection(listAll(connector, aborting));
      expect(error.retryable).to.equal(true);
      expect(aborting.heartbeats).to.equal(1);
    });

    it("refuses to guess the subject, when the user id is not known", async () => {
      const error = await rejection(collectAll(f.connector(), { email: ADA.email }));
      expect(error.retryable).to.equal(false);
      expect(error.userMessage).to.match(/user id is not known/);
    });
  });
}

describe("auth-log connector on DynamoDB (dynalite on loopback)", function () {
  let dynamo: AuthLogDynamo;
  before(async () => {
    dynamo = await AuthLogDynamo.start();
  });
  after(async () => {
    await dynamo.stop();
  });

  describeConnectorConformance("auth-log [dynamodb]", async () => conformanceRun(await dynamoFixture(dynamo)));
  describeStoreBehaviour(() => dynamoFixture(dynamo));

  describe("DynamoDB calls", () => {
    const s = dynamoSuite();

    it(`hands over the first record after at most two Query calls of the ${ADA_PAGES} pages`, async () => {
      const iterator = s.f.connector().collect(ADA, testContext())[Symbol.asyncIterator]();
      expect((await iterator.next()).done).to.equal(false);
      // The first page, and at most the prefetch of the second.
      expect(s.dynamo.count("Query")).to.be.within(1, 2);
      let n = 1;
      while (!(await iterator.next()).done) n += 1;
      expect(n).to.equal(ADA_EVENTS.length);
      expect(s.dynamo.count("Query")).to.equal(ADA_PAGES);
    });

    it("lists users with Scan calls of one page each and no Query per user", async () => {
      const total = PEOPLE.reduce((n, p) => n + p.authEventCount, 0);
      expect(await listAll(s.f.connector())).to.have.length(PEOPLE.length);
      // A page is PAGE items; the last full page is followed by one that finds the table's end.
      expect(s.dynamo.count("Scan")).to.be.within(Math.ceil(total / PAGE), Math.ceil(total / PAGE) + 1);
      expect(s.dynamo.count("Query")).to.equal(0);
    });

    it("stops fetching pages, when the consumer stops early", async () => {
      const iterator = s.f.connector().collect(ADA, testContext())[Symbol.asyncIterator]();
      for (let i = 0; i < PAGE + 1; i += 1) await iterator.next();
      await iterator.return?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(s.dynamo.count("Query")).to.be.within(2, 3);
    });

    it("stops a read as soon as the signal aborts, though DynamoDB has not answered it", async () => {
      s.dynamo.stalled = "Query";
      const ctx = testContext();
      const work = rejection(collectAll(s.f.connector(), ADA, ctx));
      while (s.dynamo.count("Query") === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const abortedAt = performance.now();
      ctx.abort("lease lost");
      const error = await work;
      expect(performance.now() - abortedAt, "ms from abort to the rejection").to.be.below(500);
      expect(error.retryable).to.equal(true);
      s.dynamo.release();
    });

    it("resolves the Query handler once per client, however many pages (the SDK's cacheMiddleware)", async () => {
      // The store relies on this for memory (see abortable in dynamoStore.ts): with per-call options,
      // or without cacheMiddleware, each page would resolve the middleware stack again. If an SDK
      // upgrade changes when the cache applies, this fails.
      const resolve = QueryCommand.prototype.resolveMiddleware;
      let resolved = 0;
      QueryCommand.prototype.resolveMiddleware = function (this: QueryCommand, ...args: Parameters<typeof resolve>) {
        resolved += 1;
        return resolve.apply(this, args);
      };
      try {
        const connector = s.f.connector();
        expect((await collectAll(connector, ADA)).length).to.equal(ADA_EVENTS.length);
        expect(await collectAll(connector, GRACE)).to.have.length(40);
      } finally {
        QueryCommand.prototype.resolveMiddleware = resolve;
      }
      expect(s.dynamo.count("Query")).to.be.above(ADA_PAGES);
      expect(resolved).to.equal(1);
    });

    it("resends throttled deletes with backoff until every delete is done, one DeleteItem per event", async () => {
      s.dynamo.partialBatches = 20;
      const ctx = testContext();
      const outcome = await s.f.connector().erase(ADA, { categories: ["AUTH_LOGS"] }, ctx);
      expect(outcome).to.deep.equal({ erased: ADA_EVENTS.length });
      expect(await collectAll(s.f.connector(), ADA)).to.deep.equal([]);
      expect(s.dynamo.count("DeleteItem")).to.equal(ADA_EVENTS.length + 20);
      expect(s.dynamo.count("BatchWriteItem")).to.equal(0);
      expect(ctx.lines.find((l) => l.msg === "auth events erased")?.obj).to.include({ throttledRounds: 20 });
    });

    it("fails retryably, when DynamoDB keeps throttling the deletes, and a retry finishes", async () => {
      s.dynamo.partialBatches = 1_000_000;
      const connector = s.f.connector({ unprocessedRetries: 2, deleteConcurrency: 1 });
      const error = await rejection(connector.erase(ADA, { categories: ["AUTH_LOGS"] }, testContext()));
      expect(error.retryable).to.equal(true);
      expect(error.userMessage).to.match(/throttling the deletes/);
      // One delete: the first call and two retry rounds, nothing more.
      expect(s.dynamo.count("DeleteItem")).to.equal(3);
      s.dynamo.partialBatches = 0;
      const outcome = await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, testContext());
      expect(outcome.erased).to.equal(ADA_EVENTS.length);
      expect(await collectAll(connector, ADA)).to.deep.equal([]);
    });

    for (const [status, type] of [
      [400, "ProvisionedThroughputExceededException"],
      [400, "ThrottlingException"],
      [400, "RequestLimitExceeded"],
      [500, "InternalServerError"],
      [503, "ServiceUnavailable"],
    ] as const) {
      it(`marks ${type} (HTTP ${status}) retryable, in collect and erase`, async () => {
        s.dynamo.fault = { status, type };
        for (const work of [collectAll(s.f.connector(), ADA), s.f.connector().erase(ADA, { categories: ["AUTH_LOGS"] }, testContext())]) {
          const error = await rejection(work);
          expect(error.retryable, type).to.equal(true);
          expect(error.internalMessage).to.include(type);
        }
      });
    }

    it("says the credentials were rejected, and does not retry, when DynamoDB refuses the key", async () => {
      s.dynamo.fault = { status: 400, type: "UnrecognizedClientException" };
      const result = await s.f.connector().check(testContext());
      expect(result).to.deep.include({ ok: false });
      expect(result.message).to.match(/rejected the credentials/);
      expect((await rejection(collectAll(s.f.connector(), ADA))).retryable).to.equal(false);
    });

    it("reports an unreachable endpoint from check, and fails calls retryably", async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      const connector = s.f.connector({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
      const result = await connector.check(testContext());
      expect(result.ok).to.equal(false);
      expect(result.message).to.match(/unreachable \(ECONNREFUSED\)/);
      expect((await rejection(collectAll(connector, ADA))).retryable).to.equal(true);
    });
  });

  describe("a table with its own key names", () => {
    it("is read through partitionKey and sortKey, exporting every other attribute JSON-safe; check names wrong keys", async () => {
      const client = dynamo.client();
      const tableName = `auth-custom-${process.pid}`;
      await createTable(client, tableName, { name: "uid", type: "S" }, { name: "at", type: "S" });
      const item = { uid: ADA.userId, at: "2025-01-02T03:04:05.006Z#e1", tags: new Set(["new-device"]), attempts: 2, geo: { country: "GB" } };
      await DynamoDBDocumentClient.from(client).send(new PutCommand({ TableName: tableName, Item: item }));
      const base: AuthLogOptions = { store: "dynamodb", tableName, region: LOCAL_REGION, endpoint: dynamo.endpoint, ...LOCAL_CREDENTIALS, maxAttempts: 1 };
      const custom = createAuthLogConnector({ ...base, partitionKey: "uid", sortKey: "at" });
      const wrong = createAuthLogConnector(base);
      try {
        expect((await custom.check(testContext())).ok).to.equal(true);
        const records = await collectAll(custom, ADA);
        expect(JSON.parse(JSON.stringify(records))).to.deep.equal([
          { category: "AUTH_LOGS", type: "auth_event", id: item.at, data: { tags: ["new-device"], attempts: 2, geo: { country: "GB" } }, recordedAt: "2025-01-02T03:04:05.006Z" },
        ]);
        const result = await wrong.check(testContext());
        expect(result).to.deep.include({ ok: false });
        expect(result.message).to.match(/keyed by uid\/at, not userId\/sk/);
      } finally {
        await custom.close();
        await wrong.close();
        client.destroy();
      }
    });

    it("fails check, naming the key, when the partition key is not a string (user ids are matched as strings)", async () => {
      const client = dynamo.client();
      const tableName = `auth-numeric-${process.pid}`;
      await createTable(client, tableName, { name: "userId", type: "N" }, { name: "sk", type: "S" });
      const connector = createAuthLogConnector({ store: "dynamodb", tableName, region: LOCAL_REGION, endpoint: dynamo.endpoint, ...LOCAL_CREDENTIALS, maxAttempts: 1 });
      try {
        // Every Query of the subject's partition (a string) is refused by such a table: check must say so, not "shaped as expected".
        const result = await connector.check(testContext());
        expect(result, result.message).to.deep.include({ ok: false });
        expect(result.message).to.match(/partition key userId of table .* must be a string \(S\)/);
        expect((await rejection(collectAll(connector, { email: "n@example.com", userId: "42" }))).retryable).to.equal(false);
      } finally {
        await connector.close();
        await client.send(new DeleteTableCommand({ TableName: tableName }));
        client.destroy();
      }
    });
  });
});

describeEachDatabase("auth-log connector on SQL", (db) => {
  describeConnectorConformance("auth-log [sql]", async () => conformanceRun(await sqlFixture(db())));
  describeStoreBehaviour(() => sqlFixture(db()));
});

describeEachDatabase("auth-log user ids, compared exactly", (db) => {
  it("collects, counts as kept, erases and lists only the user whose id is exactly the subject's, beside one whose id differs in case", async () => {
    const ds = await openTestDataSource(db());
    const table = `auth_exact_${process.pid}`;
    const own = ADA_EVENTS.slice(0, 40);
    // Another user, whose id a case-insensitive collation (MariaDB's usual) takes for Ada's.
    const other = ADA.userId!.toUpperCase();
    expect(other).to.not.equal(ADA.userId);
    const others = own.slice(0, 10).map((e) => ({ ...e, userId: other, key: `${e.key}~`, eventId: `${e.eventId}-other` }));
    await createSampleAuthLogTable(ds, table);
    await insertAuthEvents(ds, [...own, ...others], { table });
    const connector = createAuthLogConnector({ store: "sql", url: db().url, table, pageSize: 7 });
    const remaining = async () => ((await ds.query(`SELECT user_id AS u FROM ${table}`)) as { u: string }[]).map((r) => r.u);
    try {
      expect((await collectAll(connector, ADA)).map((r) => r.id)).to.deep.equal(own.map((e) => e.key));
      const roster = await listAll(connector);
      expect(roster.filter((e) => [ADA.userId, other].includes(e.identities.userId))).to.have.deep.members([
        { identities: { userId: ADA.userId }, records: own.length },
        { identities: { userId: other }, records: others.length },
      ]);
      // Kept from the 31st event on: only Ada's own are counted.
      const bound = new Date(own[30].recordedAt);
      const kept = await connector.erase(ADA, { categories: ["AUTH_LOGS"], keepRecordedSince: { AUTH_LOGS: bound } }, testContext());
      expect(kept.erased).to.equal(30);
      expect(kept.kept?.reduce((n, k) => n + k.count, 0)).to.equal(10);
      const purge = await connector.erase(ADA, { categories: ["AUTH_LOGS"] }, testContext());
      expect(purge.erased).to.equal(10);
      // Asked of the database: every row of the other users is still there, and none of Ada's.
      expect((await remaining()).sort()).to.deep.equal(others.map((e) => e.userId).sort());
    } finally {
      await connector.close();
      await ds.query(`DROP TABLE ${table}`);
      await ds.destroy();
    }
  });
});

describeEachDatabase("sample auth log", (db) => {
  it("seeds every sample person's events in one transaction, fast, and a second seeding adds nothing", async () => {
    // The whole sample on SQLite (Ada's 100,000 events); a smaller Ada on MariaDB keeps the suite quick.
    const people = db().kind === "sqlite" ? samplePeople() : samplePeople(50, { authEventsForAda: 5000 });
    const total = people.reduce((n, p) => n + p.authEventCount, 0);
    const ds = await openTestDataSource(db());
    const connector = createAuthLogConnector({ store: "sql", dataSource: ds, table: "sample_auth_events" });
    try {
      const started = Date.now();
      expect(await seedSampleAuthLog(ds, people, { table: "sample_auth_events" })).to.equal(total);
      if (db().kind === "sqlite") expect(Date.now() - started, "ms to seed 100,000+ events").to.be.below(5000);
      expect(await seedSampleAuthLog(ds, people, { table: "sample_auth_events" })).to.equal(0);
      let ada = 0;
      for await (const _ of connector.collect({ email: people[0].email, userId: people[0].userId }, testContext())) ada += 1;
      expect(ada).to.equal(people[0].authEventCount);
    } finally {
      await connector.close();
      await ds.query("DROP TABLE sample_auth_events");
      await ds.destroy();
    }
  });
});

describe("createAuthLogConnector configuration", () => {
  it("declares the auth-log spec: needs userId, AUTH_LOGS, access and erasure", async () => {
    const connector = createAuthLogConnector({ store: "sql", url: "sqlite:/nonexistent/auth.sqlite" });
    expect(connector.spec).to.deep.include({ name: "auth-log", supports: ["access", "erasure"], needs: ["userId"], provides: [], categories: ["AUTH_LOGS"] });
    await connector.close();
  });

  it("lists every problem in one error and never echoes a secret", () => {
    const options = { store: "dynamodb", tableName: "x", region: "", accessKeyId: "AKIDSECRETVALUE", pageSize: 0, deleteConcurrency: 99, bogus: true, name: "Auth Log" };
    let error: unknown;
    try {
      createAuthLogConnector(options as unknown as AuthLogOptions);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConnectorConfigError);
    const problems = (error as ConnectorConfigError).problems.join("\n");
    for (const expected of [/tableName is required/, /region is required/, /accessKeyId and secretAccessKey together/, /pageSize must be/, /deleteConcurrency must be/, /unknown option "bogus"/, /name "Auth Log"/]) {
      expect(problems).to.match(expected);
    }
    expect((error as Error).message).not.to.include("AKIDSECRETVALUE");
  });

  it("refuses a SQL store without exactly one connection, or with a table name that is not an identifier", () => {
    expect(() => createAuthLogConnector({ store: "sql", table: "auth; DROP TABLE users" } as AuthLogOptions))
      .to.throw(ConnectorConfigError)
      .with.property("problems")
      .that.satisfies((p: string[]) => p.some((x) => /exactly one of the options dataSource or url/.test(x)) && p.some((x) => /table must be a plain identifier/.test(x)));
    expect(() => createAuthLogConnector({ store: "s3" } as unknown as AuthLogOptions)).to.throw(/store must be "dynamodb" or "sql"/);
  });

  it("refuses a SQL store on PostgreSQL, which it does not speak, without echoing the url", () => {
    // It took the url, and its check then said "reached the SQLite table auth_events, shaped as expected"
    // while every collect and erase was refused with a syntax error (42601).
    for (const url of ["postgres://dsr:s3cret@127.0.0.1:5432/platform", "postgresql://dsr:s3cret@127.0.0.1:5432/platform"]) {
      let error: unknown;
      try {
        createAuthLogConnector({ store: "sql", url, table: "auth_events" });
      } catch (e) {
        error = e;
      }
      expect(error, url).to.be.instanceOf(ConnectorConfigError);
      const problems = (error as ConnectorConfigError).problems;
      expect(problems.some((x) => /SQLite, MySQL or MariaDB/.test(x)), problems.join("; ")).to.equal(true);
      expect(JSON.stringify(problems)).to.not.include("s3cret");
    }
  });
});
