import { expect } from "chai";
import { connect } from "node:net";
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
      expect(res.errors![0].message).to.include("input.type").and.include("must be one of ACCESS, PORTABILITY, DELETION, CORRECTION");
      expect(res.errors![0].message).not.to.include("ERASE_EVERYTHING");
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

  /** Characters no identity may hold: controls, format characters (zero-width, direction marks), broken UTF-16. */
  const INVISIBLE = { NUL: "\u0000", BEL: "\u0007", "RIGHT-TO-LEFT OVERRIDE": "\u202e", "ZERO WIDTH SPACE": "\u200b", "LEFT-TO-RIGHT MARK": "\u200e", "lone surrogate": "\ud800" };

  it("refuses invisible and broken characters in every identity, naming the field and what is allowed", async () => {
    for (const [name, c] of Object.entries(INVISIBLE)) {
      const subject = { email: `ada${c}@example.com`, userId: `u${c}1`, phone: `+9198${c}12345678`, externalIds: [{ system: `str${c}ipe`, id: `cus_${c}1` }] };
      await untouched(async () => {
        const res = await t.gql(SUBMIT, { input: { type: "ACCESS", subject } });
        expect(res.errors, name).to.have.length(1);
        expect(res.errors![0].extensions.code, name).to.equal("BAD_USER_INPUT");
        const fields = res.errors![0].extensions.fields!;
        expect(fields.map((f) => f.field).sort(), name).to.deep.equal(["subject.email", "subject.externalIds.0.id", "subject.externalIds.0.system", "subject.phone", "subject.userId"]);
        if (name !== "lone surrogate") expect(fields.find((f) => f.field === "subject.email")!.messages.join(" "), name).to.match(/may not contain invisible characters.*letters of any script are fine/);
        expect(JSON.stringify(res)).not.to.include("example.com");
      });
    }
    for (const email of ["ada\ud800@example.com", "ada\u202e@example.com"]) {
      const hold = await t.gql(`mutation($e: String!) { placeLegalHold(input: { subjectEmail: $e, reason: "litigation", caseReference: "C-1" }) { id } }`, { e: email });
      expect(hold.errors!.map((e) => [e.extensions.code, e.extensions.fields![0].field])).to.deep.equal([["BAD_USER_INPUT", "subjectEmail"]]);
    }
    expect(await t.count("legal_holds")).to.equal(0);
  });

  it("refuses an address typed in a form no system stores (quoted, fullwidth, a ligature), saying what to type, echoing nothing", async () => {
    const cases: Array<[string, RegExp]> = [
      ['"ada.lovelace"@example.com', /without quotes/],
      ["ａｄａ.lovelace@example.com", /plain characters/],
      ["ﬁnn.ada@example.com", /plain characters/],
    ];
    for (const [email, hint] of cases) {
      await untouched(async () => {
        const res = await t.gql(SUBMIT, { input: { type: "ACCESS", subject: { email } } });
        expect(res.errors, email).to.have.length(1);
        expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
        const fields = res.errors![0].extensions.fields!;
        expect(fields.map((f) => f.field)).to.deep.equal(["subject.email"]);
        expect(fields[0].messages.join(" "), email).to.match(hint);
        expect(JSON.stringify(res)).not.to.include("lovelace").and.not.to.include("example.com");
      });
      const hold = await t.gql(`mutation($e: String!) { placeLegalHold(input: { subjectEmail: $e, reason: "litigation", caseReference: "C-1" }) { id } }`, { e: email });
      expect(hold.errors!.map((e) => [e.extensions.code, e.extensions.fields![0].field]), email).to.deep.equal([["BAD_USER_INPUT", "subjectEmail"]]);
    }
    expect(await t.count("legal_holds")).to.equal(0);
    // The plain spellings, and letters of other scripts, stay valid.
    for (const email of ["ada.lovelace@example.com", "用户@例子.公司", "josé@exämple.de"]) expect((await submit(t, { type: "ACCESS", subject: { email } })).id, email).to.be.a("string");
  });

  it("refuses control characters, direction overrides and broken text in free text; other scripts, emoji, line breaks and tabs stay valid", async () => {
    for (const [name, c] of Object.entries({ NUL: "\u0000", ESC: "\u001b", "RIGHT-TO-LEFT OVERRIDE": "\u202e", "lone surrogate": "\udc00" })) {
      await expectFields(
        { type: "CORRECTION", corrections: [{ field: "name", value: `Ada${c}` }], identityVerified: true, verificationEvidence: `passport ${c}checked` },
        ["corrections.0.value", "verificationEvidence"],
      );
      const r = await submitVerified(t);
      const res = await t.gql(`mutation($id: ID!, $reason: String!) { rejectRequest(id: $id, reason: $reason) { id } }`, { id: r.id, reason: `duplicate${c} entry` });
      expect(res.errors!.map((e) => e.extensions.fields![0].field), name).to.deep.equal(["reason"]);
      expect(res.errors![0].message, name).to.match(name === "lone surrogate" ? /broken character.*letters of any script and emoji are fine/ : /line breaks and tabs.*letters of any script and emoji are fine/);
    }
    const international = "Zoë Ørsted-Nakamura 山田 മലയാളം नमस्ते 👩‍👩‍👧\nsecond line\twith a tab";
    const ok = await submit(t, { type: "CORRECTION", subject: { email: "zoë@exämple.com" }, corrections: [{ field: "name", value: international }] });
    expect(ok.corrections).to.deep.equal([{ field: "name", value: international }]);
  });

  it("answers operations graphql-js refuses with BAD_USER_INPUT and never repeats what was sent", async () => {
    const secret = "private.person";
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ["a subscription", `subscription { viewer { role } }`, {}],
      ["a wrong type in a variable", SUBMIT, { input: { type: "ACCESS", subject: { email: 12345678 } } }],
      ["an unknown enum value", SUBMIT, { input: { type: secret, subject: { email: "a@example.com" } } }],
      ["an unknown input field", SUBMIT, { input: { type: "ACCESS", subject: { email: "a@example.com", [secret.replace(".", "_")]: 1 } } }],
      ["a wrong literal", `{ requests(first: "${secret}") { totalCount } }`, {}],
      ["a string where a name belongs", `{ request(id: "${secret}" "${secret}") { id } }`, {}],
      ["an unknown field", `{ private_person { id } }`, {}],
      ["sixty bad list items", `query($s: [RequestStatus!]) { requests(filter: { status: $s }) { totalCount } }`, { s: Array.from({ length: 60 }, (_, i) => `${secret}${i}`) }],
      ["sixty bad input objects", SUBMIT, { input: { type: "CORRECTION", subject: { email: "a@example.com" }, corrections: Array.from({ length: 60 }, () => ({ field: secret, value: 12345678 })) } }],
    ];
    for (const [name, query, variables] of cases) {
      await untouched(async () => {
        const res = await t.gql(query, variables);
        expect(res.errors?.length, name).to.be.greaterThan(0);
        expect([...new Set(res.errors!.map((e) => e.extensions.code))], name).to.deep.equal(["BAD_USER_INPUT"]);
        for (const e of res.errors!) expect(e.message, name).not.to.match(/private.person|12345678/);
      });
    }
  });

  it("answers a URL whose percent-escapes do not decode, and a path it does not serve, with JSON and a code", async () => {
    const headers = { authorization: `Bearer ${t.tokens[Role.ADMIN]}`, "apollo-require-preflight": "1" };
    const base = t.url.replace(/\/graphql$/, "");
    for (const [path, status, code] of [["/exports/%E0%A4%A", 400, "BAD_USER_INPUT"], ["/graphql?query=%E0%A4%A", 400, "BAD_USER_INPUT"], ["/graphql/%E0", 404, "NOT_FOUND"], ["/nothing-here", 404, "NOT_FOUND"]] as const) {
      const res = await fetch(base + path, { headers });
      expect(res.status, path).to.equal(status);
      const body = (await res.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
      expect(body.errors[0].extensions.code, path).to.equal(code);
      expect(body.errors[0].message, path).not.to.match(/%E0|URI malformed/);
    }
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

  it("answers a URL or headers over Node's header limit, and a request that is not HTTP, with JSON and a code", async () => {
    await untouched(async () => {
      // A long operation sent in a GET's query string, the way the fuzz found it: Node's parser refuses it before any route.
      const query = `mutation { submitRequest(input: { type: ACCESS, subject: { email: "${"a".repeat(20_000)}@example.com" } }) { id } }`;
      const long = await fetch(`${t.url}?${new URLSearchParams({ query })}`, { headers: { authorization: `Bearer ${t.tokens[Role.ADMIN]}`, "apollo-require-preflight": "1" } });
      expect(long.status).to.equal(431);
      expect(long.headers.get("content-type")).to.equal("application/json; charset=utf-8");
      const body = (await long.json()) as any;
      expect(body.errors[0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(body.errors[0].message).to.match(/POST body/);
      expect(JSON.stringify(body)).not.to.include("aaaa");
    });
    const { hostname, port } = new URL(t.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write("GARBAGE /graphql?secret=hunter22 HTTP/9\r\n\r\n"));
      let text = "";
      socket.on("data", (chunk) => (text += chunk));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(raw).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const answer = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4));
    expect(answer.errors[0].extensions.code).to.equal("BAD_USER_INPUT");
    expect(raw).not.to.include("hunter22");
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
