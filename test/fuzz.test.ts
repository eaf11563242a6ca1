import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import fc from "fast-check";
import { buildSchema, GraphQLSchema } from "graphql";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { submit, submitVerified, TestService } from "./support/harness";
import { OperationFuzzer } from "./support/operationFuzzer";

/**
 * Random operations against a running service, over real HTTP, with every role's token (and none, and a
 * made-up one). Operations come from the committed schema.graphql (test/support/operationFuzzer.ts). Each
 * answer must hold:
 * - every `extensions.code` is one of the closed set a caller can act on; never INTERNAL_SERVER_ERROR;
 * - no message repeats a value the operation sent (ids excepted: NOT_FOUND and CONFLICT name the request
 *   they are about, an id the caller holds anyway);
 * - an operation refused as a whole (errors, and no data for its root field) changed nothing: every
 *   table's row count and a checksum of the rows that carry state are the same before and after.
 *   verifyRequest is the one exception, on purpose: a wrong code counts against the attempt limit.
 *
 * Bounded in `npm test`; DSR_FUZZ_RUNS runs more, DSR_FUZZ_SEED replays a run (the seed is printed on
 * failure).
 */

const RUNS = Number(process.env.DSR_FUZZ_RUNS ?? 300);
const SEED = process.env.DSR_FUZZ_SEED ? Number(process.env.DSR_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** MariaDB runs fewer by default: each operation there costs several times what it costs on SQLite. */
const RUNS_ON = { sqlite: RUNS, mariadb: Math.max(1, Math.round(RUNS / 3)) };

const ALLOWED_CODES = new Set(["BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Every role, several times over the callers without a (valid) token, whose operations all stop at the door. */
const CALLERS: Array<Role | null | string> = [...Object.values(Role), ...Object.values(Role), ...Object.values(Role), null, "dsr_made-up-token-that-was-never-issued"];
const TABLES = ["requests", "audit_events", "legal_holds", "tasks", "api_tokens", "exports", "status_callbacks", "retention_exceptions", "deletion_plan_items", "request_identities"];

function committedSchema(): GraphQLSchema {
  return buildSchema(fs.readFileSync(path.join(__dirname, "..", "..", "schema.graphql"), "utf8"));
}

/** Row counts of every table and a checksum of the rows whose changes matter. */
async function snapshot(t: TestService): Promise<string> {
  const parts: string[] = [];
  for (const table of TABLES) parts.push(`${table}:${await t.count(table).catch(() => -1)}`);
  const rows = await t.ds.query(`SELECT id, status, version FROM requests ORDER BY id`);
  const holds = await t.ds.query(`SELECT id, status FROM legal_holds ORDER BY id`);
  const tasks = await t.ds.query(`SELECT id, status, attempts FROM tasks ORDER BY id`);
  parts.push(createHash("sha256").update(JSON.stringify([rows, holds, tasks])).digest("hex"));
  return parts.join(" ");
}

interface Answer {
  status: number;
  errors: Array<{ message: string; extensions?: { code?: string } }>;
  data: Record<string, unknown> | null | undefined;
}

/** Sends one operation the way its transport says; the answer must be JSON in every case. */
async function send(t: TestService, op: ReturnType<OperationFuzzer["build"]>, caller: Role | null | string): Promise<Answer> {
  const token = caller === null ? null : ((t.tokens as Record<string, string>)[caller] ?? caller);
  const headers: Record<string, string> = { "apollo-require-preflight": "1" };
  if (token) headers.authorization = `Bearer ${token}`;
  let response: Response;
  if (op.transport === "get" || op.transport === "rawGet") {
    const search =
      op.transport === "get"
        ? `?${new URLSearchParams({ query: op.query, variables: JSON.stringify(op.variables) })}`
        : `?query=${op.query.replace(/[^\w{}()$:!]/g, (c) => (c.charCodeAt(0) % 3 === 0 ? "%E0%A4%A" : "%" + c.charCodeAt(0).toString(16).padStart(2, "0").slice(-2)))}`;
    response = await fetch(`${t.url}${search}`, { method: "GET", headers });
  } else {
    headers["content-type"] = "application/json";
    const body = JSON.stringify({ query: op.query, variables: op.variables });
    response = await fetch(t.url, { method: "POST", headers, body: op.transport === "brokenJson" ? body.slice(0, Math.max(1, body.length - 3)) : body });
  }
  const text = await response.text();
  let parsed: { errors?: Answer["errors"]; data?: Answer["data"] };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} answered something that is not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, errors: parsed.errors ?? [], data: parsed.data };
}

describeEachDatabase("fuzzing the GraphQL API", (db) => {
  let t: TestService;
  let fuzzer: OperationFuzzer;
  const codes = new Map<string, number>();
  let operations = 0;
  let refused = 0;

  before(async function () {
    this.timeout(60_000);
    t = await new TestService(db(), { DSR_RATE_LIMIT_PER_SECOND: "0" }).start();
    // Rows for the operations to find: requests in several states and owners, a hold, tasks.
    const pending = await submit(t);
    const approved = await submitVerified(t, { type: "DELETION", subject: { email: "grace.hopper@example.com" } });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: approved.id });
    const own = await submit(t, { subject: { email: "settings.user@example.com" } }, Role.SERVICE);
    const hold = (await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "held@example.com", reason: "litigation", caseReference: "C-1" }) { id } }`)).placeLegalHold;
    const tasks: Array<{ id: string }> = await t.ds.query(`SELECT id FROM tasks`);
    fuzzer = new OperationFuzzer(committedSchema(), { ids: [pending.id, approved.id, own.id, hold.id, ...tasks.map((x) => x.id)] });
  });
  after(async function () {
    const seen = [...codes].map(([code, n]) => `${code} ${n}`).join(", ");
    console.log(`      fuzz [${t?.ds.options.type}]: seed ${SEED}, ${operations} operations (${refused} refused as a whole), codes seen: ${seen || "none"}`);
    await t?.stop();
  });

  it(`answers every operation with a code of the closed set, echoes nothing, and changes nothing when it refuses (seed ${SEED})`, async function () {
    const kind = t.ds.options.type === "mysql" ? "mariadb" : "sqlite";
    this.timeout(Math.max(60_000, RUNS_ON[kind] * 400));
    const property = fc.asyncProperty(fc.integer(), fc.constantFrom(...CALLERS), async (opSeed, caller) => {
      const op = fuzzer.build(opSeed);
      const before = await snapshot(t);
      const answer = await send(t, op, caller);
      operations += 1;
      const context = `operation ${JSON.stringify(op.query).slice(0, 400)} variables ${JSON.stringify(op.variables).slice(0, 300)} as ${caller} via ${op.transport}`;
      expect(answer.status, context).to.be.below(500);
      for (const error of answer.errors) {
        const code = String(error.extensions?.code);
        codes.set(code, (codes.get(code) ?? 0) + 1);
        expect(ALLOWED_CODES.has(code), `${code} "${error.message}" for ${context}`).to.equal(true);
        for (const value of op.sent) {
          if (value.length < 5 || UUID.test(value) || !/[A-Za-z0-9]/.test(value)) continue;
          expect(error.message.includes(value), `message "${error.message}" repeats ${JSON.stringify(value)} for ${context}`).to.equal(false);
        }
      }
      const rootAnswered = op.rootField !== null && answer.data != null && answer.data[op.rootField] != null;
      if (answer.errors.length && !rootAnswered) {
        refused += 1;
        if (op.rootField !== "verifyRequest") expect(await snapshot(t), `a refused operation changed the database: ${context}`).to.equal(before);
      }
    });
    try {
      await fc.assert(property, { seed: SEED, numRuns: RUNS_ON[kind], endOnFailure: true });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause;
      throw new Error(`fuzz failed; replay with DSR_FUZZ_SEED=${SEED}${process.env.DSR_FUZZ_RUNS ? ` DSR_FUZZ_RUNS=${RUNS}` : ""}\n${(error as Error).message}\n${cause?.message ?? ""}`);
    }
    expect(codes.get("INTERNAL_SERVER_ERROR") ?? 0).to.equal(0);
  });
});
