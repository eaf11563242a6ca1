import { generateKeyPairSync } from "node:crypto";
import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { API_LIMITS } from "../src/graphql/limits";
import { createSqliteDatabase, TestDatabase } from "./support/databases";
import { GraphQLResponse, TestService } from "./support/harness";

/** Seven levels of fields (one over the limit) that exist in every environment where introspection is on. */
const SEVEN_DEEP = `__type(name: "Query") { fields { type { ofType { ofType { ofType { name } } } } } }`;

/** The one error of a rejected operation: BAD_USER_INPUT, HTTP 400, and no number in the message. */
function expectLimitError(res: GraphQLResponse, message: RegExp): void {
  expect(res.status, JSON.stringify(res.errors)).to.equal(400);
  expect(res.errors, JSON.stringify(res.errors)).to.have.length(1);
  expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
  expect(res.errors![0].message).to.match(message);
  expect(res.errors![0].message, "a limit message must not reveal the limit").not.to.match(/\d/);
  expect(JSON.stringify(res)).not.to.match(/stacktrace/i);
}

/** Starts a service on a fresh SQLite database for the enclosing suite; `.t` is it once `before` ran. */
function serviceFor(env: Record<string, string>): { t: TestService } {
  const holder = {} as { t: TestService };
  let db: TestDatabase | undefined;
  before(async () => {
    db = await createSqliteDatabase();
    holder.t = await new TestService(db, env).start();
  });
  after(async () => {
    await holder.t?.stop();
    await db?.drop();
  });
  return holder;
}

describe("API limits", () => {
  const s = serviceFor({ DSR_RATE_LIMIT_PER_SECOND: "0" });

  it("refuses an operation deeper than the limit, whatever its operation, fragments or aliases are named", async () => {
    const shapes = [
      `{ ${SEVEN_DEEP} }`,
      `query __schema { ${SEVEN_DEEP} }`,
      `query { ...__schema } fragment __schema on Query { ${SEVEN_DEEP} }`,
      `query __schema { ... on Query { ...__schema } } fragment __schema on Query { ${SEVEN_DEEP} }`,
      `{ __schema: ${SEVEN_DEEP} }`,
    ];
    for (const shape of shapes) expectLimitError(await s.t.gql(shape), /nested too deeply/);
  });

  it("counts fields, not fragment spreads, as levels: a six-deep query written in fragments passes", async () => {
    const sixDeep = `{ __type(name: "Query") { fields { type { ofType { ...Leaf } } } } } fragment Leaf on __Type { ... on __Type { ofType { name } } }`;
    const res = await s.t.gql(sixDeep);
    expect(res.errors).to.equal(undefined);
    expect(API_LIMITS.maxDepth).to.equal(6);
  });

  it("refuses an operation whose estimated cost is over the limit, and passes a full page of requests with their tasks", async () => {
    const heavy = `{ requests(first: 100) { edges { node { id type status tasks { id status step connector attempts } auditEvents { seq action hash } } } } }`;
    expectLimitError(await s.t.gql(heavy), /too much at once/);
    const page = await s.t.gql(`{ requests(first: 50) { edges { node { id type status receivedAt dueAt overdue tasks { id status step connector attempts } } } } }`);
    expect(page.errors).to.equal(undefined);
  });

  it("allows 15 aliases and refuses 16", async () => {
    const aliased = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: viewer { role }`).join(" ")} }`;
    expect((await s.t.gql(aliased(15))).errors).to.equal(undefined);
    expectLimitError(await s.t.gql(aliased(16)), /too many aliases/);
  });

  it("allows 50 directives and refuses 51", async () => {
    const directed = (n: number) => `{ viewer { ${Array.from({ length: n }, () => `... on Viewer @include(if: true) { role }`).join(" ")} } }`;
    expect((await s.t.gql(directed(50))).errors).to.equal(undefined);
    expectLimitError(await s.t.gql(directed(51)), /too many directives/);
  });

  it("refuses a document of more than 1000 tokens", async () => {
    // graphql-js counts 19 tokens around the list, one per list item (commas are not tokens).
    const listing = (n: number) => `{ requests(first: 1, filter: { status: [${"IN_PROGRESS ".repeat(n)}] }) { totalCount } }`;
    // At the limit the document is parsed and validated (the filter itself is then refused for its size).
    expect((await s.t.gql(listing(981))).errors!.map((e) => e.message)).to.deep.equal(["Invalid input: status must contain no more than 8 elements"]);
    expectLimitError(await s.t.gql(listing(982)), /too long/);
  });

  it("never suggests field, argument or enum names", async () => {
    const mistakes = [
      `{ viewer { rol } }`,
      `{ requests(frist: 1) { totalCount } }`,
      `{ requests(first: 1, filter: { status: [IN_PROGRES] }) { totalCount } }`,
      `mutation { submitRequest(input: { type: ACCES, subject: { email: "a@example.com" } }) { id } }`,
      `{ requets { totalCount } }`,
    ];
    for (const mistake of mistakes) {
      const res = await s.t.gql(mistake);
      expect(res.errors![0].extensions.code, mistake).to.equal("BAD_USER_INPUT");
      expect(JSON.stringify(res.errors), mistake).not.to.match(/did you mean/i);
    }
    const badVariable = await s.t.gql(`query($s: [RequestStatus!]) { requests(first: 1, filter: { status: $s }) { totalCount } }`, { s: ["IN_PROGRES"] });
    expect(JSON.stringify(badVariable.errors)).not.to.match(/did you mean/i);
  });

  it("refuses a cross-site simple request (CSRF prevention)", async () => {
    const res = await fetch(s.t.url, {
      method: "POST",
      headers: { "content-type": "text/plain", authorization: `Bearer ${s.t.tokens[Role.ADMIN]}` },
      body: JSON.stringify({ query: "{ viewer { role } }" }),
    });
    expect(res.status).to.equal(400);
    expect(await res.text()).to.match(/CSRF/);
    const get = await fetch(`${s.t.url}?query=${encodeURIComponent("{ viewer { role } }")}`, { headers: { authorization: `Bearer ${s.t.tokens[Role.ADMIN]}` } });
    expect(get.status).to.equal(400);
  });
});

describe("API limits: rate limit per token", () => {
  const s = serviceFor({ DSR_RATE_LIMIT_PER_SECOND: "1", DSR_RATE_LIMIT_BURST: "3" });

  it("answers 429 RATE_LIMITED with Retry-After once a token's bucket is empty; other tokens are unaffected", async () => {
    for (let i = 0; i < 3; i += 1) expect((await s.t.gql(`{ viewer { role } }`, {}, Role.AUDITOR)).status).to.equal(200);
    const res = await fetch(s.t.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${s.t.tokens[Role.AUDITOR]}` },
      body: JSON.stringify({ query: "{ viewer { role } }" }),
    });
    expect(res.status).to.equal(429);
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).to.be.within(1, 2);
    const body = (await res.json()) as any;
    expect(body.errors[0].extensions).to.deep.equal({ code: "RATE_LIMITED", retryAfterSeconds: retryAfter });
    expect(body.errors[0].message).to.match(/Too many requests/);
    expect((await s.t.gql(`{ viewer { role } }`, {}, Role.PRIVACY_OFFICER)).status).to.equal(200);
    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 50));
    expect((await s.t.gql(`{ viewer { role } }`, {}, Role.AUDITOR)).status).to.equal(200);
  });
});

describe("API limits: production mode", () => {
  const s = serviceFor({ NODE_ENV: "production", DSR_AUDIT_SIGNING_KEY: generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(), DSR_PUBLIC_URL: "https://dsr.example.com", DSR_SECRET: "production-secret-for-the-limits-test-0123", DSR_EXPORT_MASTER_KEY: Buffer.alloc(32, 7).toString("base64") });

  it("refuses introspection, also behind an operation or fragment named __schema", async () => {
    for (const shape of [`{ __schema { types { name } } }`, `query __schema { __type(name: "Query") { name } }`, `{ ...__schema } fragment __schema on Query { __schema { queryType { name } } }`]) {
      const res = await s.t.gql(shape);
      expect(res.status, shape).to.equal(400);
      expect(res.errors![0].extensions.code, shape).to.equal("BAD_USER_INPUT");
      expect(res.errors![0].message, shape).to.match(/introspection/i);
    }
  });

  it("answers an internal failure without a stack trace or internals", async () => {
    await s.t.ds.query("ALTER TABLE audit_events RENAME TO audit_events_away");
    try {
      const res = await s.t.gql(`{ verifyAuditTrail { ok } }`);
      expect(res.errors![0].extensions.code).to.equal("INTERNAL_SERVER_ERROR");
      expect(Object.keys(res.errors![0].extensions).sort()).to.deep.equal(["code", "errorId"]);
      expect(JSON.stringify(res)).not.to.match(/stacktrace|sqlite|audit_events|\.js:\d|at [A-Za-z]+ \(/i);
    } finally {
      await s.t.ds.query("ALTER TABLE audit_events_away RENAME TO audit_events");
    }
  });

  it("marks every GraphQL answer, success or error, as not to be stored by caches", async () => {
    for (const [query, as] of [[`{ viewer { role } }`, Role.ADMIN], [`{ viewer { role } }`, null], [`{ nope }`, Role.ADMIN]] as const) {
      const res = await fetch(s.t.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(as ? { authorization: `Bearer ${s.t.tokens[as]}` } : {}) },
        body: JSON.stringify({ query }),
      });
      expect(res.headers.get("cache-control"), `${query} as ${as}`).to.equal("no-store");
      expect(res.headers.get("etag"), `${query} as ${as}`).to.equal(null);
    }
  });

  it("serves no landing page", async () => {
    const res = await fetch(s.t.url, { headers: { accept: "text/html" } });
    expect(res.headers.get("content-type")).not.to.match(/html/);
    expect(await res.text()).not.to.match(/<html|sandbox/i);
  });
});
