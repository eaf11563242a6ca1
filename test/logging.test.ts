import { Writable } from "node:stream";
import { expect } from "chai";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { createToken } from "../src/auth/tokens";
import { ManualClock, systemClock } from "../src/clock";
import { loadConfig } from "../src/config/env";
import { createSqlConnector } from "../src/connectors/sql";
import { Role } from "../src/domain/enums";
import { createLogger, logFormat } from "../src/logger";
import { RunningService, startService } from "../src/server";
import { AccountDb, accountDbConfig, ADA } from "./connectors/support/accountDb";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { CodeInbox, NOTIFIER_SECRET } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const PHONE = "+442079460000";

/** Every line a logger writes, kept in memory. */
function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

describe("logger redaction", () => {
  it("censors sensitive keys at any depth and scrubs emails and phone numbers from every string", () => {
    const { lines, stream } = capture();
    const logger = createLogger("info", {}, { destination: stream });
    logger.info(
      { requestId: "r-1", deep: { deeper: { email: "x@example.com", token: "dsr_secret", note: `call ${PHONE} or mail ada.lovelace@example.com` } }, records: [{ a: 1 }] },
      "message about ada.lovelace@example.com",
    );
    logger.error({ err: Object.assign(new Error("duplicate entry 'ada.lovelace@example.com' for key users_email"), { code: "ER_DUP_ENTRY" }) }, "failed");
    const text = lines.join("\n");
    expect(text).not.to.match(/ada\.lovelace|x@example|dsr_secret|2079460000/);
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first.requestId).to.equal("r-1");
    expect(first.deep.deeper).to.deep.equal({ email: "[redacted]", token: "[redacted]", note: "call [phone] or mail [email]" });
    expect(first.records).to.equal("[redacted]");
    expect(first.msg).to.equal("message about [email]");
    expect(second.err.code, "an error's code is kept").to.equal("ER_DUP_ENTRY");
    expect(second.err.message).to.equal("duplicate entry '[email]' for key users_email");
  });

  it("redacts a child logger's bindings the same way", () => {
    const { lines, stream } = capture();
    const child = createLogger("info", {}, { destination: stream }).child({ requestId: "r-1", email: "ada.lovelace@example.com", note: `from ${PHONE}`, subject: { id: "u-1" } });
    child.info({ step: "x" }, "bound");
    child.child({ token: "dsr_secret", connector: "tickets" }).info("nested");
    expect(lines.join("\n")).not.to.match(/ada\.lovelace|dsr_secret|2079460000|u-1/);
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first).to.include({ requestId: "r-1", email: "[redacted]", note: "from [phone]", subject: "[redacted]", step: "x" });
    expect(second).to.include({ token: "[redacted]", connector: "tickets", requestId: "r-1" });
  });

  it("keeps timestamps, ids and durations intact", () => {
    const { lines, stream } = capture();
    createLogger("info", {}, { destination: stream }).info({ at: "2026-03-02T10:00:00.000Z", taskId: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc", durationMs: 12345678 }, "x");
    expect(JSON.parse(lines[0])).to.include({ at: "2026-03-02T10:00:00.000Z", taskId: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc", durationMs: 12345678 });
  });

  it("prints readable lines in pretty format, redacted the same way", () => {
    const { lines, stream } = capture();
    createLogger("info", {}, { destination: stream, format: "pretty" }).info({ requestId: "r-1", email: "a@example.com" }, "hello");
    expect(lines[0]).to.match(/^\d\d:\d\d:\d\d\.\d{3} INFO  hello {2}requestId=r-1 email=\[redacted\]$/);
    expect(logFormat({ NODE_ENV: "development" }, true)).to.equal("pretty");
    expect(logFormat({ NODE_ENV: "development" }, false)).to.equal("json");
    expect(logFormat({ NODE_ENV: "production", DSR_LOG_FORMAT: "pretty" }, false)).to.equal("pretty");
  });
});

describe("logs of a full run", () => {
  let serviceDb: TestDatabase;
  let accountDbFile: TestDatabase;
  let accounts: AccountDb;
  let service: RunningService;
  // Made in before(): its clock checks the webhook's 5-minute signature window, so it must read the
  // time the test runs, not the time mocha loaded this file (minutes earlier in a full run).
  let inbox: CodeInbox;
  const { lines, stream } = capture();
  const tokens = {} as Record<Role, string>;
  const tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] });

  before(async () => {
    serviceDb = await createSqliteDatabase();
    accountDbFile = await createSqliteDatabase();
    accounts = await AccountDb.create(accountDbFile);
    tickets.data.set(ADA.email!, [{ category: "SUPPORT", type: "ticket", id: "t-1", data: { from: ADA.email, name: "Ada Lovelace", phone: PHONE, body: "Please call Ada Lovelace" } }]);
    inbox = new CodeInbox(new ManualClock());
    await inbox.start();
    const config = loadConfig({
      NODE_ENV: "test",
      PORT: "0",
      DSR_HOST: "127.0.0.1",
      DATABASE_URL: serviceDb.url,
      DSR_DATA_DIR: tempDir(),
      DSR_NOTIFIER: "webhook",
      DSR_NOTIFIER_URL: inbox.url,
      DSR_NOTIFIER_SECRET: NOTIFIER_SECRET,
      DSR_WORKER_CONCURRENCY: "2",
      DSR_WORKER_POLL_MS: "10",
    });
    const account = createSqlConnector(accountDbConfig(), { url: accountDbFile.url, timeoutMs: 2000 });
    service = await startService({ config, clock: systemClock, connectors: [account, tickets], logger: createLogger("trace", {}, { destination: stream }) });
    for (const role of Object.values(Role)) tokens[role] = (await createToken(service.services.ds, systemClock, SYSTEM_ACTOR, { name: `log test ${role}`, role })).token;
  });
  after(async () => {
    await service?.stop();
    await accounts?.close();
    await inbox.stop();
    await serviceDb?.drop();
    await accountDbFile?.drop();
  });

  async function gql(query: string, variables: Record<string, unknown>, role: Role = Role.ADMIN): Promise<any> {
    const res = await fetch(service.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${tokens[role]}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: any; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  /** submit -> verify with the delivered code -> approve -> wait until the request ends. */
  async function run(input: Record<string, unknown>): Promise<string> {
    const { submitRequest } = await gql(`mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, { input }, Role.SERVICE);
    const id = submitRequest.id as string;
    // The code reaches the mailer's webhook after the submission commits: wait for it as a person would.
    for (const until = Date.now() + 10_000; !inbox.codes.has(id) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    await gql(`mutation Verify($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id, code: inbox.code(id) });
    await gql(`mutation Approve($id: ID!) { approveRequest(id: $id) { id } }`, { id }, Role.PRIVACY_OFFICER);
    for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const { request } = await gql(`query Show($id: ID!) { request(id: $id) { status } }`, { id });
      if (["COMPLETED", "FAILED"].includes(request.status)) return request.status;
    }
    throw new Error(`request ${input.type} did not end`);
  }

  it("never writes the subject's email, name, phone, ids or any token, across access, correction and deletion", async () => {
    // Verified by the code: no external ids (they need a caller who vouches for them).
    const subject = { email: ADA.email, phone: PHONE, userId: "1" };
    expect(await run({ type: "ACCESS", subject })).to.equal("COMPLETED");
    expect(await run({ type: "CORRECTION", subject, corrections: [{ field: "name", value: "Ada King-Noel" }] })).to.equal("COMPLETED");
    expect(await run({ type: "DELETION", subject })).to.equal("COMPLETED");
    expect(await accounts.count("users", "email = ?", [ADA.email]), "the run really erased").to.equal(0);

    const forbidden = [ADA.email!, "Ada Lovelace", "Lovelace", "King-Noel", PHONE, PHONE.slice(1), ADA.paymentCustomerId!, "St James", ...Object.values(tokens)];
    expect(lines.length).to.be.greaterThan(20);
    for (const line of lines) for (const needle of forbidden) expect(line, `a log line carries ${needle}`).not.to.include(needle);
  });

  it("writes one line per GraphQL operation (name, duration, outcome, role) and one per task attempt (request, task, connector)", () => {
    const entries = lines.map((l) => JSON.parse(l));
    const operations = entries.filter((e) => e.msg === "graphql operation");
    expect(operations.filter((e) => e.operationName === "Submit")).to.have.length(3);
    for (const op of operations) {
      expect(op).to.have.keys(["level", "time", "service", "msg", "correlationId", "tokenId", "role", "operationName", "durationMs", "outcome", "errorCodes"]);
      expect(op.outcome).to.equal("OK");
    }
    expect(operations.find((e) => e.operationName === "Approve").role).to.equal("PRIVACY_OFFICER");
    const attempts = entries.filter((e) => e.msg === "task attempt ended");
    expect(attempts.length).to.be.at.least(6);
    for (const a of attempts) expect(a).to.include.keys(["requestId", "taskId", "connector", "step", "attempt", "durationMs", "outcome"]);
    expect(new Set(attempts.map((a) => a.connector))).to.deep.equal(new Set(["account-db", "tickets", "export"]));
  });
});
