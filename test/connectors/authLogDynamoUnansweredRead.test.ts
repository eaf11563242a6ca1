import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { QueryCommand } from "@aws-sdk/client-dynamodb";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import type { ConnectorError } from "../../src/connectors/sdk";
import { ZipReader } from "../../src/export/zipReader";
import { describeEachDatabase, tempDir } from "../support/databases";
import { dsr } from "../support/cliBinary";
import { approved, type TestService } from "../support/harness";
import { downloadedExport } from "../export/support";
import { ADA, ADA_EVENTS, GRACE, PAGE } from "./support/authLogFixtures";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "./support/authLogDynamo";
import { type DynamoSuite, dynamoSuite } from "./support/dynamoSuite";
import { FAST } from "./support/slowWrites";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status attempts lastError outcome { erased kept } }
  deletionOutcome { connector erased kept matchesPlan differences { kind records } } export { records } } }`;

/** A person's sort keys as the suite's table holds them (straight to dynalite, strongly consistent). */
async function keysOf(s: DynamoSuite, userId: string): Promise<string[]> {
  const client = s.dynamo.client();
  try {
    const keys: string[] = [];
    let start: Record<string, any> | undefined;
    do {
      const out = await client.send(new QueryCommand({ TableName: s.f.tableName, KeyConditionExpression: "userId = :u", ExpressionAttributeValues: { ":u": { S: userId } }, ConsistentRead: true, ExclusiveStartKey: start }));
      for (const item of out.Items ?? []) keys.push(item.sk.S!);
      start = out.LastEvaluatedKey;
    } while (start);
    return keys;
  } finally {
    client.destroy();
  }
}

/**
 * The request once it has ended, or as it stands after `ms` (a request that hangs is read, not waited
 * for), with every lastError its `step` task showed meanwhile (a success clears it).
 */
async function endOrAfter(t: TestService, id: string, ms: number, step: string): Promise<{ request: any; errors: string[] }> {
  const until = Date.now() + ms;
  const errors = new Set<string>();
  for (;;) {
    const { request } = await t.ok(SHOW, { id });
    const error = request.tasks.find((y: any) => y.step === step)?.lastError;
    if (error) errors.add(error);
    if (["COMPLETED", "FAILED"].includes(request.status) || Date.now() > until) return { request, errors: [...errors] };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits (up to 2 s) for the client to close what the proxy still holds, then says what it held. */
async function heldReads(s: DynamoSuite): Promise<{ held: number; closedByClient: number }> {
  for (let i = 0; i < 40 && s.dynamo.heldReads.closedByClient < s.dynamo.heldReads.held; i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  return { ...s.dynamo.heldReads };
}

const UNANSWERED = (ms: number) => `auth-log: DynamoDB did not answer within timeoutMs (${ms} ms); the task will be retried`;

/** What a task went through, for an assertion's message. */
const tasksOf = (r: any) => JSON.stringify(r.tasks.map((y: any) => [y.step, y.status, y.attempts, y.lastError]));

/**
 * The auth log on a DynamoDB that leaves a read unanswered, its connection open (dynalite behind a proxy
 * that holds the call). The SDK's requestTimeout only logs a warning unless told to throw: the read
 * stayed open for good. A task got out only when its lease ran out (the runner's lease watch aborts
 * it), its lastError then blaming the worker, and its socket stayed taken.
 */
describeEachDatabase("auth-log reads DynamoDB never answers (dynalite behind a holding proxy)", (db) => {
  const s = dynamoSuite(db);

  it("an access request whose fourth collect page is never answered fails that attempt at timeoutMs, and the retry exports exactly Ada's events", async function () {
    this.timeout(60_000);
    const t = await s.service(FAST, [s.f.connector({ timeoutMs: 400 })], true);
    s.dynamo.holdReads(1, { operations: ["Query"], pass: 3 });
    const started = Date.now();
    const id = await approved(t, { type: "ACCESS", subject: { email: ADA.email, userId: ADA.userId } });
    const { request: ended, errors } = await endOrAfter(t, id, 15_000, "COLLECT");
    expect(ended.status, `after 15 s: ${tasksOf(ended)}`).to.equal("COMPLETED");
    const collect = ended.tasks.find((y: any) => y.step === "COLLECT");
    expect(collect.attempts, "the collect's attempts: the held one, then the one that finished").to.equal(2);
    const seen = `ended after ${Date.now() - started} ms, held ${JSON.stringify(s.dynamo.heldReads)}`;
    // Before: the lease watch gave the attempt up, the held Query still open, and blamed the worker.
    expect(errors.map((e) => e.slice(0, UNANSWERED(400).length)), `the collect's lastError between them (${seen})`).to.deep.equal([UNANSWERED(400)]);
    expect(await heldReads(s), "the held Query was taken back by the client").to.deep.equal({ held: 1, closedByClient: 1 });
    const inTable = await keysOf(s, ADA.userId!);
    expect(inTable).to.have.length(ADA_EVENTS.length);
    expect(ended.export.records, "records exported").to.equal(inTable.length);
    const { file, manifest } = await downloadedExport(t, id);
    const auth = manifest.files.find((f) => f.category === "AUTH_LOGS" && (f.format === "json" || f.format === "jsonl"))!;
    const zip = ZipReader.open(file);
    try {
      const records = JSON.parse(await zip.text(auth.path)) as Array<{ id: string }>;
      // Each event once: none of the three pages read before the held one is exported twice.
      expect(records.map((r) => r.id).sort(), "the exported event keys").to.deep.equal([...inTable].sort());
    } finally {
      zip.close();
    }
  });

  it("a deletion whose erasure page read is never answered fails that attempt at timeoutMs, and the retry erases what the table lost, counted once", async function () {
    this.timeout(60_000);
    const t = await s.service(FAST, [s.f.connector({ timeoutMs: 400, deleteConcurrency: 4 })], true);
    const before = (await keysOf(s, ADA.userId!)).length;
    // The erasure lists keys only (`#sk`); its second page (ExclusiveStartKey set) is held.
    s.dynamo.holdReads(1, { operations: ["Query"], matching: (input) => input.ProjectionExpression === "#sk" && input.ExclusiveStartKey !== undefined && input.Select === undefined });
    const started = Date.now();
    const id = await approved(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId } });
    const { request: ended, errors } = await endOrAfter(t, id, 20_000, "ERASE");
    expect(ended.status, `after 20 s: ${tasksOf(ended)} ${ended.statusReason}`).to.equal("COMPLETED");
    const erase = ended.tasks.find((y: any) => y.step === "ERASE");
    expect(erase.attempts, "the erase's attempts: the held one, then the one that finished").to.equal(2);
    const seen = `ended after ${Date.now() - started} ms, held ${JSON.stringify(s.dynamo.heldReads)}`;
    expect(errors.map((e) => e.slice(0, UNANSWERED(400).length)), `the erase's lastError between them (${seen})`).to.deep.equal([UNANSWERED(400)]);
    expect(await heldReads(s)).to.deep.equal({ held: 1, closedByClient: 1 });
    const left = (await keysOf(s, ADA.userId!)).length;
    expect(left, "Ada's events kept (the last 90 days)").to.be.within(1, before - 2 * PAGE);
    expect({ erased: erase.outcome.erased, kept: erase.outcome.kept }, "as the erase reports it").to.deep.equal({ erased: before - left, kept: left });
    const line = ended.deletionOutcome.find((l: any) => l.connector === "auth-log");
    expect(line, JSON.stringify(ended.deletionOutcome)).to.deep.include({ erased: before - left, kept: left, matchesPlan: true, differences: [] });
  });
});

/**
 * The same with the connector's defaults (timeoutMs 10 s, maxAttempts 3) under a 2 s task lease: a read
 * unanswered ends only after 10 s. Nothing beat the task's heartbeat meanwhile: its lease ran out 2 s
 * in, the runner discarded the attempt and the sweeper took the task back blaming the worker ("The
 * worker running this task stopped answering"), though it was waiting on a read bounded by its own timeout.
 */
describeEachDatabase("auth-log reads DynamoDB leaves unanswered, with the default timeoutMs, under a short task lease", (db) => {
  const s = dynamoSuite(db);

  it("an access request whose fourth collect page is never answered keeps its task's lease until timeoutMs fails the attempt, naming it", async function () {
    this.timeout(90_000);
    const t = await s.service(FAST, [s.f.connector()], true);
    s.dynamo.holdReads(1, { operations: ["Query"], pass: 3 });
    const started = Date.now();
    const id = await approved(t, { type: "ACCESS", subject: { email: ADA.email, userId: ADA.userId } });
    const { request: ended, errors } = await endOrAfter(t, id, 40_000, "COLLECT");
    const seen = `ended after ${Date.now() - started} ms, held ${JSON.stringify(s.dynamo.heldReads)}, errors ${JSON.stringify(errors)}: ${tasksOf(ended)}`;
    expect(ended.status, seen).to.equal("COMPLETED");
    const collect = ended.tasks.find((y: any) => y.step === "COLLECT");
    // Before: the lease ran out 2 s into the held read; the sweeper took the task back ("The worker
    // running this task stopped answering"), and the attempt's own failure was never recorded.
    expect({ attempts: collect.attempts, errors: errors.map((e) => e.slice(0, UNANSWERED(10_000).length)) }, seen).to.deep.equal({ attempts: 2, errors: [UNANSWERED(10_000)] });
    expect(Date.now() - started, "the held read was waited out (timeoutMs)").to.be.above(10_000);
    expect(await heldReads(s), "the held Query was taken back by the client at timeoutMs").to.deep.equal({ held: 1, closedByClient: 1 });
    expect(ended.export.records, "records exported").to.equal(ADA_EVENTS.length);
  });

  it("a deletion whose erasure page read is never answered keeps its task's lease until timeoutMs fails the attempt, and erases what the table lost, counted once", async function () {
    this.timeout(90_000);
    const t = await s.service(FAST, [s.f.connector({ deleteConcurrency: 4 })], true);
    const before = (await keysOf(s, ADA.userId!)).length;
    s.dynamo.holdReads(1, { operations: ["Query"], matching: (input) => input.ProjectionExpression === "#sk" && input.ExclusiveStartKey !== undefined && input.Select === undefined });
    const started = Date.now();
    const id = await approved(t, { type: "DELETION", subject: { email: ADA.email, userId: ADA.userId } });
    const { request: ended, errors } = await endOrAfter(t, id, 60_000, "ERASE");
    const seen = `ended after ${Date.now() - started} ms, held ${JSON.stringify(s.dynamo.heldReads)}, errors ${JSON.stringify(errors)}: ${tasksOf(ended)} ${ended.statusReason}`;
    expect(ended.status, seen).to.equal("COMPLETED");
    const erase = ended.tasks.find((y: any) => y.step === "ERASE");
    expect({ attempts: erase.attempts, errors: errors.map((e) => e.slice(0, UNANSWERED(10_000).length)) }, seen).to.deep.equal({ attempts: 2, errors: [UNANSWERED(10_000)] });
    expect(await heldReads(s)).to.deep.equal({ held: 1, closedByClient: 1 });
    const left = (await keysOf(s, ADA.userId!)).length;
    expect({ erased: erase.outcome.erased, kept: erase.outcome.kept }, "as the erase reports it").to.deep.equal({ erased: before - left, kept: left });
  });
});

describe("auth-log check, roster and `dsr connector test` on a DynamoDB that answers no read", () => {
  const s = dynamoSuite();

  it("check() and the roster listing end at timeoutMs with a retryable failure naming it, when DynamoDB answers no read", async function () {
    this.timeout(20_000);
    const connector = s.f.connector({ timeoutMs: 300 });
    s.dynamo.holdReads(1_000);
    let started = Date.now();
    const checked = await connector.check(testContext());
    expect(Date.now() - started, "ms until check answered").to.be.below(3_000);
    expect(checked).to.deep.equal({ ok: false, message: UNANSWERED(300) });
    started = Date.now();
    const failure = await listAll(connector).then(
      () => undefined,
      (error: ConnectorError) => error,
    );
    expect(Date.now() - started, "ms until the roster listing failed").to.be.below(3_000);
    expect([failure?.userMessage, failure?.retryable]).to.deep.equal([UNANSWERED(300), true]);
    expect(await heldReads(s)).to.deep.equal({ held: 2, closedByClient: 2 });
    // Once DynamoDB answers again, so does the connector.
    s.dynamo.holdReads(0);
    expect((await connector.check(testContext())).ok).to.equal(true);
  });

  it("reads on after 50 reads were left unanswered and given up on (the client has 50 sockets), as tasks whose lease ran out give them up", async function () {
    this.timeout(30_000);
    const connector = s.f.connector({ timeoutMs: 300 });
    s.dynamo.holdReads(50, { operations: ["Query"] });
    const contexts = Array.from({ length: 50 }, () => testContext());
    const attempts = contexts.map((ctx) => collectAll(connector, ADA, ctx).then(() => "collected", (error: Error) => error.message));
    for (let i = 0; i < 200 && s.dynamo.heldReads.held < 50; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    // Each attempt is given up on, as the runner's lease watch aborts a task that stopped beating.
    for (const ctx of contexts) ctx.abort("lease lost");
    expect(await Promise.all(attempts)).to.not.include("collected");
    // Their HTTP requests end at timeoutMs (before: never); the proxy still holds any left open.
    const held = await heldReads(s);
    const started = Date.now();
    const next = await collectAll(connector, ADA).then((records) => records.length, (error: Error) => error.message);
    // Before: the reads given up on kept their sockets for good; the next read waited for one and failed
    // at timeoutMs as though DynamoDB were unreachable, as every read after it would.
    expect(next, `Ada's events collected next, after ${Date.now() - started} ms; held ${JSON.stringify(held)}`).to.equal(ADA_EVENTS.length);
    expect(held).to.deep.equal({ held: 50, closedByClient: 50 });
  });

  it("ends, every case that reads failing at timeoutMs, instead of hanging on its first read", async function () {
    this.timeout(60_000);
    const dir = tempDir("dsr-dynamo-held-");
    const options = { store: "dynamodb", tableName: s.f.tableName, region: LOCAL_REGION, endpoint: s.dynamo.endpoint, maxAttempts: 1, timeoutMs: 300, pageSize: PAGE };
    fs.writeFileSync(path.join(dir, "connectors.json"), JSON.stringify({ connectors: [{ type: "auth-log", options, env: { accessKeyId: "AUTH_LOG_KEY", secretAccessKey: "AUTH_LOG_SECRET" } }] }));
    s.dynamo.holdReads(1_000_000);
    const args = ["connector", "test", "auth-log", "--connectors-file", path.join(dir, "connectors.json"), "--subject", `email=${ADA.email},userId=${ADA.userId}`, "--other", `email=${GRACE.email},userId=${GRACE.userId}`, "--json"];
    const env = { AUTH_LOG_KEY: LOCAL_CREDENTIALS.accessKeyId, AUTH_LOG_SECRET: LOCAL_CREDENTIALS.secretAccessKey };
    // Before: killed after 30 s with no output, the check case's DescribeTable still held.
    const run = await dsr(args, env, dir, undefined, 30_000);
    expect(run.code, `exit code; stderr: ${run.stderr.slice(-500)}`).to.equal(1);
    const results = JSON.parse(run.stdout) as Array<{ group: string; title: string; outcome: string; reason: string | null }>;
    const check = results.find((r) => r.group === "check" && r.outcome === "fail");
    expect(check?.reason, JSON.stringify(results)).to.contain(UNANSWERED(300));
    const held = await heldReads(s);
    expect(held.held, "reads held").to.be.above(0);
    expect(held.closedByClient, "every held read taken back").to.equal(held.held);
  });
});
