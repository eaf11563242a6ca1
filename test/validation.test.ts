import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { SUBMIT, submit, submitVerified, TestService } from "./support/harness";

describeEachDatabase("input validation and errors", (db) => {
  let t: TestService;
  beforeEach(async () => {
    t = await new TestService(db()).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  /** Runs `attempt` and checks that it wrote nothing: no request, no audit event. */
  async function untouched(attempt: () => Promise<void>): Promise<void> {
    const before = [await t.count("requests"), await t.count("audit_events")];
    await attempt();
    expect([await t.count("requests"), await t.count("audit_events")]).to.deep.equal(before);
  }

  async function expectFields(input: Record<string, unknown>, fields: string[]): Promise<void> {
    await untouched(async () => {
      const res = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email: "ada@example.com" }, ...input } });
      expect(res.errors, JSON.stringify(res)).to.have.length(1);
      const [error] = res.errors!;
      expect(error.extensions.code).to.equal("BAD_USER_INPUT");
      expect(error.extensions.fields!.map((f) => f.field).sort()).to.deep.equal([...fields].sort());
      for (const f of error.extensions.fields!) expect(f.messages.length).to.be.greaterThan(0);
      // class-validator's raw errors carry the whole input: none of it may come back.
      expect(JSON.stringify(error.extensions)).not.to.match(/"target"|"value"/);
    });
  }

  it("refuses a malformed email", async () => {
    await expectFields({ subject: { email: "ada.at.example.com" } }, ["subject.email"]);
  });

  it("refuses oversized strings, naming each field", async () => {
    await expectFields(
      {
        type: "CORRECTION",
        subject: { email: `${"a".repeat(250)}@example.com`, userId: "u".repeat(129), externalIds: [{ system: "stripe", id: "c".repeat(257) }] },
        corrections: [{ field: "name", value: "v".repeat(1001) }],
      },
      ["subject.email", "subject.userId", "subject.externalIds.0.id", "corrections.0.value"],
    );
  });

  it("refuses a phone that is not E.164 and a badly named system", async () => {
    await expectFields({ subject: { email: "ada@example.com", phone: "98123 45678", externalIds: [{ system: "Stripe Inc", id: "x" }] } }, [
      "subject.phone",
      "subject.externalIds.0.system",
    ]);
  });

  it("refuses corrections on a request that is not a CORRECTION, and a CORRECTION without them", async () => {
    await expectFields({ type: "ACCESS", corrections: [{ field: "name", value: "x" }] }, ["corrections"]);
    await expectFields({ type: "CORRECTION" }, ["corrections"]);
    await expectFields({ type: "CORRECTION", corrections: [{ field: "name", value: "x" }, { field: "name", value: "y" }] }, ["corrections"]);
  });

  it("wants evidence when the caller vouches for the identity", async () => {
    await expectFields({ identityVerified: true }, ["verificationEvidence"]);
  });

  it("refuses an unknown enum value", async () => {
    await untouched(async () => {
      const res = await t.gql(SUBMIT, { input: { type: "ERASE_EVERYTHING", subject: { email: "ada@example.com" } } });
      expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(res.errors![0].message).to.include("RequestType");
    });
  });

  it("does not echo the value of a badly typed variable", async () => {
    await untouched(async () => {
      const res = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: "private.person@example.com" } });
      expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(res.errors![0].message).to.include("input.subject");
      expect(JSON.stringify(res)).not.to.include("private.person");
    });
  });

  it("refuses a malformed id, and answers NOT_FOUND for an unknown one", async () => {
    const malformed = await t.gql(`mutation { approveRequest(id: "42") { id } }`);
    expect(malformed.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
    expect(malformed.errors![0].extensions.fields![0].field).to.equal("id");
    const unknown = await t.gql(`query { request(id: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc") { id } }`);
    expect(unknown.errors![0].extensions.code).to.equal("NOT_FOUND");
    expect(unknown.errors![0].message).to.equal("Request 6f1c2d7e-5b8a-4c3d-9e0f-123456789abc does not exist");
  });

  it("refuses a reason that is too short or too long without changing the request", async () => {
    const r = await submitVerified(t);
    await untouched(async () => {
      for (const reason of ["no", "r".repeat(501)]) {
        const res = await t.gql(`mutation($id: ID!, $reason: String!) { rejectRequest(id: $id, reason: $reason) { id } }`, { id: r.id, reason });
        expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
        expect(res.errors![0].extensions.fields![0].field).to.equal("reason");
      }
    });
    expect((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request.status).to.equal("PENDING_APPROVAL");
  });

  it("refuses a malformed code without counting it as an attempt", async () => {
    const r = await submit(t);
    const res = await t.gql(`mutation($id: ID!) { verifyRequest(id: $id, code: "12ab") { id } }`, { id: r.id });
    expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
    expect((await t.ok(`query($id: ID!) { request(id: $id) { verification { attemptsLeft } } }`, { id: r.id })).request.verification.attemptsLeft).to.equal(5);
  });

  it("answers a syntax error with BAD_USER_INPUT", async () => {
    const res = await t.gql(`query { request(id: ) `);
    expect(res.status).to.equal(400);
    expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
  });

  it("serves GraphQL at /graphql and /graphql/ (with a query string too), and nothing below it", async () => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${t.tokens[Role.ADMIN]}` };
    const body = JSON.stringify({ query: "{ viewer { role } }" });
    for (const path of ["/graphql", "/graphql/", "/graphql?x=1"]) {
      const res = await fetch(new URL(path, t.url), { method: "POST", headers, body });
      expect(res.status, path).to.equal(200);
      expect(await res.json(), path).to.deep.equal({ data: { viewer: { role: "ADMIN" } } });
    }
    for (const path of ["/graphql/x", "/graphqlx"]) expect((await fetch(new URL(path, t.url), { method: "POST", headers, body })).status, path).to.equal(404);
  });

  it("answers malformed JSON and an oversized body with a JSON error, not a stack trace", async () => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${t.tokens[Role.ADMIN]}` };
    const broken = await fetch(t.url, { method: "POST", headers, body: '{"query": ' });
    expect(broken.status).to.equal(400);
    expect(await broken.json()).to.deep.equal({ errors: [{ message: "Request body is not valid JSON", extensions: { code: "BAD_USER_INPUT" } }] });
    await untouched(async () => {
      const huge = await fetch(t.url, {
        method: "POST",
        headers,
        body: JSON.stringify({ query: SUBMIT, variables: { input: { type: "ACCESS", subject: { email: "a@example.com" }, pad: "x".repeat(200_000) } } }),
      });
      expect(huge.status).to.equal(413);
      const body = (await huge.json()) as any;
      expect(body.errors[0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(body.errors[0].message).to.match(/larger than the limit of 102400 bytes/);
    });
  });

  it("masks an internal failure: no SQL, no stack, an errorId to quote", async () => {
    const r = await submit(t);
    const rename = t.ds.options.type === "mysql" ? ["RENAME TABLE requests TO requests_away", "RENAME TABLE requests_away TO requests"] : ["ALTER TABLE requests RENAME TO requests_away", "ALTER TABLE requests_away RENAME TO requests"];
    await t.ds.query(rename[0]);
    try {
      const res = await t.gql(`query($id: ID!) { request(id: $id) { id } }`, { id: r.id });
      expect(res.errors![0].extensions.code).to.equal("INTERNAL_SERVER_ERROR");
      expect(res.errors![0].extensions.errorId).to.match(/^[0-9a-f-]{36}$/);
      expect(res.errors![0].message).to.equal(`Internal server error; quote errorId ${res.errors![0].extensions.errorId} when reporting it`);
      const text = JSON.stringify(res);
      expect(text, text).not.to.match(/SELECT|sqlite|ER_NO_SUCH|no such table|doesn.t exist|requests_away|\.js:\d/i);
    } finally {
      await t.ds.query(rename[1]);
    }
  });
});
