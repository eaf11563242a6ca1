import { expect } from "chai";
import { getNamedType, GraphQLInputObjectType, GraphQLObjectType, isInputObjectType } from "graphql";
import { getMetadataStorage } from "type-graphql";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { createToken, revokeToken } from "../src/auth/tokens";
import { Role } from "../src/domain/enums";
import { buildDsrSchema } from "../src/graphql/schema";
import { describeEachDatabase } from "./support/databases";
import { submit, submitVerified, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { createManualConnector } from "../src/connectors/manual";

const { ADMIN, PRIVACY_OFFICER: PO, AUDITOR, SERVICE } = Role;
const UNKNOWN_ID = "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc";

/**
 * What an operation a SERVICE token may use reaches: `request` builds the operation on one request id (a
 * SERVICE token must get NOT_FOUND for any request it did not submit), `none` says why it reaches none.
 */
type Reach = { request: (id: string) => string } | { none: string };

/**
 * The documented authorization matrix (README "Roles"). Every root operation must have a row: an
 * operation added without one fails the first test below. Rows a SERVICE token may use say what they reach.
 */
const MATRIX: Record<string, { allowed: Role[]; op: string; reach?: Reach }> = {
  "Query.viewer": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ viewer { role } }`, reach: { none: "the caller's own token" } },
  "Query.request": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ request(id: "${UNKNOWN_ID}") { id } }`, reach: { request: (id) => `{ request(id: "${id}") { id } }` } },
  "Query.requests": { allowed: [ADMIN, PO, AUDITOR], op: `{ requests(first: 1) { totalCount } }` },
  "Query.auditEvents": { allowed: [ADMIN, PO, AUDITOR], op: `{ auditEvents(requestId: "${UNKNOWN_ID}") { seq } }` },
  "Query.verifyAuditTrail": { allowed: [ADMIN, PO, AUDITOR], op: `{ verifyAuditTrail { ok } }` },
  "Query.connectors": { allowed: [ADMIN, PO, AUDITOR], op: `{ connectors { name health { ok } } }` },
  "Query.legalHolds": { allowed: [ADMIN, PO], op: `{ legalHolds { id } }` },
  "Mutation.placeLegalHold": {
    allowed: [ADMIN, PO],
    op: `mutation { placeLegalHold(input: { subjectEmail: "matrix@example.com", reason: "matrix test", caseReference: "M-1" }) { id } }`,
  },
  "Mutation.releaseLegalHold": { allowed: [ADMIN, PO], op: `mutation { releaseLegalHold(id: "${UNKNOWN_ID}", reason: "matrix test") { id } }` },
  "Mutation.previewDeletion": { allowed: [ADMIN, PO], op: `mutation { previewDeletion(input: { subject: { email: "matrix@example.com" } }) { computedAt } }` },
  "Query.retentionRules": { allowed: [ADMIN, PO, AUDITOR], op: `{ retentionRules { category period } }` },
  "Query.deletionCertificate": {
    allowed: [ADMIN, PO, AUDITOR, SERVICE],
    op: `{ deletionCertificate(requestId: "${UNKNOWN_ID}") { requestId } }`,
    reach: { request: (id) => `{ deletionCertificate(requestId: "${id}") { requestId } }` },
  },
  "Query.certificatePublicKey": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ certificatePublicKey { keyId } }`, reach: { none: "a public key" } },
  "Mutation.requestAccountDeletion": {
    allowed: [SERVICE],
    op: `mutation { requestAccountDeletion(input: { idempotencyKey: "matrix-key-0001", subject: { email: "matrix@example.com" } }) { id } }`,
    reach: { none: "a new request, or the one this token made under the same key (another token's key is CONFLICT, tested below)" },
  },
  "Mutation.retryTask": { allowed: [ADMIN, PO], op: `mutation { retryTask(id: "${UNKNOWN_ID}") { id } }` },
  "Mutation.completeManualTask": { allowed: [ADMIN, PO], op: `mutation { completeManualTask(input: { taskId: "${UNKNOWN_ID}", erasedCount: 0 }) { id } }` },
  "Mutation.submitRequest": {
    allowed: [ADMIN, PO, SERVICE],
    op: `mutation { submitRequest(input: { type: ACCESS, subject: { email: "matrix@example.com" } }) { id } }`,
    reach: { none: "a new request (duplicateOf shows another token's request as null, tested below)" },
  },
  "Mutation.verifyRequest": {
    allowed: [ADMIN, PO, SERVICE],
    op: `mutation { verifyRequest(id: "${UNKNOWN_ID}", code: "123456") { id } }`,
    reach: { request: (id) => `mutation { verifyRequest(id: "${id}", code: "000000") { id } }` },
  },
  "Mutation.resendVerificationCode": {
    allowed: [ADMIN, PO, SERVICE],
    op: `mutation { resendVerificationCode(id: "${UNKNOWN_ID}") { id } }`,
    reach: { request: (id) => `mutation { resendVerificationCode(id: "${id}") { id } }` },
  },
  "Mutation.approveRequest": { allowed: [ADMIN, PO], op: `mutation { approveRequest(id: "${UNKNOWN_ID}") { id } }` },
  "Mutation.rejectRequest": { allowed: [ADMIN, PO], op: `mutation { rejectRequest(id: "${UNKNOWN_ID}", reason: "because") { id } }` },
  "Mutation.cancelRequest": {
    allowed: [ADMIN, PO, SERVICE],
    op: `mutation { cancelRequest(id: "${UNKNOWN_ID}") { id } }`,
    reach: { request: (id) => `mutation { cancelRequest(id: "${id}") { id } }` },
  },
  "Mutation.createExportLink": { allowed: [ADMIN, PO], op: `mutation { createExportLink(requestId: "${UNKNOWN_ID}") { url } }` },
  "Mutation.startBreachRoster": { allowed: [ADMIN, PO], op: `mutation { startBreachRoster(input: { connectors: ["idle"], reason: "matrix test" }) { id } }` },
  "Mutation.createBreachRosterLink": { allowed: [ADMIN, PO], op: `mutation { createBreachRosterLink(id: "${UNKNOWN_ID}") { url } }` },
  "Query.breachRoster": { allowed: [ADMIN, PO, AUDITOR], op: `{ breachRoster(id: "${UNKNOWN_ID}") { id } }` },
  "Query.breachRosters": { allowed: [ADMIN, PO, AUDITOR], op: `{ breachRosters(first: 1) { id } }` },
  "Mutation.extendDeadline": { allowed: [ADMIN, PO], op: `mutation { extendDeadline(id: "${UNKNOWN_ID}", days: 3, reason: "because") { id } }` },
};

/** Fields inside types that carry their own rule. */
const FIELD_MATRIX: Record<string, { allowed: Role[]; selection: string }> = {
  "Request.subject": { allowed: [ADMIN, PO, SERVICE], selection: "subject { email }" },
  "Request.corrections": { allowed: [ADMIN, PO, SERVICE], selection: "corrections { field }" },
  "Request.auditEvents": { allowed: [ADMIN, PO, AUDITOR], selection: "auditEvents { seq }" },
};

/**
 * Arguments that name a person, as `Type.field(path)`, and the roles that may fill them in (a search by
 * person). AUDITOR is never among them: it checks the process, not people. Found by walking every
 * argument of the schema; one added without a row fails the matrix test.
 */
const PERSON_ARGUMENTS: Record<string, { allowed: Role[]; op?: string }> = {
  "Query.requests(filter.subjectEmail)": { allowed: [ADMIN, PO], op: `{ requests(first: 1, filter: { subjectEmail: "matrix@example.com" }) { totalCount } }` },
  "Query.legalHolds(subjectEmail)": { allowed: [ADMIN, PO] },
  "Mutation.placeLegalHold(input.subjectEmail)": { allowed: [ADMIN, PO] },
  "Mutation.previewDeletion(input.subject)": { allowed: [ADMIN, PO] },
  "Mutation.submitRequest(input.subject)": { allowed: [ADMIN, PO, SERVICE] },
  "Mutation.requestAccountDeletion(input.subject)": { allowed: [SERVICE] },
};
const PERSONAL = /email|phone|userid|subject|externalid/i;

describe("authorization matrix", () => {
  it("says, for every operation a SERVICE token may use, which request it reaches (or why none)", () => {
    for (const [name, { allowed, reach }] of Object.entries(MATRIX)) {
      expect(allowed.includes(SERVICE) === (reach !== undefined), `${name}: a reach exactly when SERVICE is allowed`).to.equal(true);
    }
  });

  it("has a row for every argument that names a person, and lets AUDITOR fill in none of them", async () => {
    const schema = await buildDsrSchema();
    const found: string[] = [];
    const walk = (owner: string, path: string[], type: GraphQLInputObjectType) => {
      for (const field of Object.values(type.getFields())) visit(owner, [...path, field.name], getNamedType(field.type));
    };
    const visit = (owner: string, path: string[], type: ReturnType<typeof getNamedType>) => {
      if (PERSONAL.test(path[path.length - 1])) found.push(`${owner}(${path.join(".")})`);
      else if (isInputObjectType(type)) walk(owner, path, type);
    };
    for (const root of [schema.getQueryType()!, schema.getMutationType()!]) {
      for (const field of Object.values(root.getFields())) for (const arg of field.args) visit(`${root.name}.${field.name}`, [arg.name], getNamedType(arg.type));
    }
    expect(found.sort()).to.deep.equal(Object.keys(PERSON_ARGUMENTS).sort());
    for (const [name, { allowed }] of Object.entries(PERSON_ARGUMENTS)) {
      expect(allowed, name).not.to.include(AUDITOR);
      const operation = MATRIX[name.slice(0, name.indexOf("("))];
      for (const role of allowed) expect(operation.allowed, `${name}: ${role} may use the operation`).to.include(role);
    }
  });

  it("has a row for every query and mutation of the schema", async () => {
    const schema = await buildDsrSchema();
    const rootFields = [schema.getQueryType(), schema.getMutationType()].flatMap((type) =>
      Object.keys((type as GraphQLObjectType).getFields()).map((f) => `${type!.name}.${f}`),
    );
    expect(rootFields.sort()).to.deep.equal(Object.keys(MATRIX).sort());
  });

  it("finds an @Authorized rule on every query and mutation, naming exactly the roles of its row", async () => {
    const rules = await authorizationRules();
    for (const [name, { allowed }] of Object.entries(MATRIX)) {
      expect(rules.get(name), `${name} has no @Authorized rule`).to.not.equal(undefined);
      expect([...rules.get(name)!].sort(), name).to.deep.equal([...allowed].sort());
    }
  });

  it("has a row for every field inside a type that some role may not read", async () => {
    const rules = await authorizationRules();
    const restricted = [...rules].filter(([name, roles]) => !/^(Query|Mutation)\./.test(name) && roles.length < Object.values(Role).length).map(([name]) => name);
    expect(restricted.sort()).to.deep.equal(Object.keys(FIELD_MATRIX).sort());
    for (const [name, { allowed }] of Object.entries(FIELD_MATRIX)) expect([...rules.get(name)!].sort(), name).to.deep.equal([...allowed].sort());
  });
});

/** `Type.field` -> roles of every @Authorized rule type-graphql registered (root operations, fields, field resolvers). */
async function authorizationRules(): Promise<Map<string, Role[]>> {
  await buildDsrSchema();
  const m = getMetadataStorage();
  const rules = new Map<string, Role[]>();
  for (const rule of m.authorizedFields) {
    const sameMethod = (x: { target: Function; methodName: string }) => x.target === rule.target && x.methodName === rule.fieldName;
    const root = m.queries.find(sameMethod) ? "Query" : m.mutations.find(sameMethod) ? "Mutation" : undefined;
    const resolver = m.fieldResolvers.find(sameMethod);
    const owner = root ?? m.objectTypes.find((o) => o.target === (resolver ? resolver.getObjectType!() : rule.target))?.name;
    rules.set(`${owner}.${resolver?.schemaName ?? rule.fieldName}`, rule.roles as Role[]);
  }
  return rules;
}

describeEachDatabase("authorization", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db()).start();
  });
  after(async () => {
    await t.stop();
  });

  for (const [name, { allowed, op }] of Object.entries(MATRIX)) {
    it(`${name}: allows ${allowed.join(", ")}; refuses the other roles (FORBIDDEN) and no token (UNAUTHENTICATED)`, async () => {
      for (const role of Object.values(Role)) {
        const res = await t.gql(op, {}, role);
        const codes = (res.errors ?? []).map((e) => e.extensions.code);
        if (allowed.includes(role)) expect(codes, `${role} on ${name}`).not.to.include.oneOf(["FORBIDDEN", "UNAUTHENTICATED"]);
        else expect(codes, `${role} on ${name}`).to.deep.equal(["FORBIDDEN"]);
      }
      const anonymous = await t.gql(op, {}, null);
      expect(anonymous.status).to.equal(401);
      expect(anonymous.errors!.map((e) => e.extensions.code)).to.deep.equal(["UNAUTHENTICATED"]);
    });
  }

  for (const [name, { allowed, selection }] of Object.entries(FIELD_MATRIX)) {
    it(`${name}: readable by ${allowed.join(", ")}; other roles get null and FORBIDDEN on that field only`, async () => {
      // Submitted by the SERVICE token: the only requests it reaches at all.
      const r = await submit(t, { type: "CORRECTION", corrections: [{ field: "name", value: "A" }] }, SERVICE);
      for (const role of Object.values(Role)) {
        const res = await t.gql(`query($id: ID!) { request(id: $id) { id ${selection} } }`, { id: r.id }, role);
        expect(res.data?.request?.id, role).to.equal(r.id);
        const field = name.split(".")[1];
        if (allowed.includes(role)) {
          expect(res.errors, role).to.equal(undefined);
          expect(res.data.request[field], role).not.to.equal(null);
        } else {
          expect(res.errors!.map((e) => [e.extensions.code, e.path!.join(".")]), role).to.deep.equal([["FORBIDDEN", `request.${field}`]]);
        }
      }
    });
  }

  for (const [name, { allowed, op }] of Object.entries(PERSON_ARGUMENTS)) {
    if (!op) continue; // the operation itself is refused to every other role (MATRIX)
    it(`${name}: only ${allowed.join(", ")} may search by a person; other roles of the operation get FORBIDDEN`, async () => {
      for (const role of MATRIX[name.slice(0, name.indexOf("("))].allowed) {
        const codes = ((await t.gql(op, {}, role)).errors ?? []).map((e) => e.extensions.code);
        expect(codes, role).to.deep.equal(allowed.includes(role) ? [] : ["FORBIDDEN"]);
      }
    });
  }

  describe("a SERVICE token reaches only the requests it submitted", () => {
    /** A request submitted by ADMIN (someone else) and one by the SERVICE token, both PENDING_VERIFICATION. */
    let others: string;
    let own: string;
    beforeEach(async () => {
      others = (await submit(t, { subject: { email: "someone.else@example.com" } })).id;
      own = (await submit(t, { subject: { email: "account.holder@example.com" } }, SERVICE)).id;
    });

    for (const [name, { reach }] of Object.entries(MATRIX)) {
      if (!reach || !("request" in reach)) continue;
      it(`${name}: NOT_FOUND, word for word as for an unknown id, on another token's request; changes nothing`, async () => {
        const unknown = await t.gql(reach.request(UNKNOWN_ID), {}, SERVICE);
        const before = [await t.count("audit_events"), JSON.stringify(await t.ds.query(`SELECT * FROM requests ORDER BY id`))];
        const refused = await t.gql(reach.request(others), {}, SERVICE);
        expect(refused.errors!.map((e) => e.extensions.code)).to.deep.equal(["NOT_FOUND"]);
        expect(refused.errors![0].message).to.equal(unknown.errors![0].message.replace(UNKNOWN_ID, others));
        expect(refused.data).to.equal(unknown.data);
        expect([await t.count("audit_events"), JSON.stringify(await t.ds.query(`SELECT * FROM requests ORDER BY id`))]).to.deep.equal(before);
        // Its own request, and anyone's for ADMIN, is found (other refusals, e.g. CONFLICT for a certificate, may follow).
        for (const [role, id] of [[SERVICE, own], [ADMIN, others]] as const) {
          const codes = ((await t.gql(reach.request(id), {}, role)).errors ?? []).map((e) => e.extensions.code);
          expect(codes, `${role} on ${name}`).not.to.include("NOT_FOUND");
        }
      });
    }

    it("sees duplicateOf only when the earlier request is its own", async () => {
      const query = `mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id duplicateOf } }`;
      const input = (email: string) => ({ input: { type: "ACCESS", subject: { email } } });
      const afterOthers = (await t.ok(query, input("someone.else@example.com"), SERVICE)).submitRequest;
      expect(afterOthers.duplicateOf).to.equal(null);
      const [{ duplicateOf }] = await t.ds.query(`SELECT duplicateOf FROM requests WHERE id = ?`, [afterOthers.id]);
      expect(duplicateOf, "the link itself is kept").to.be.a("string");
      expect((await t.ok(`query($id: ID!) { request(id: $id) { duplicateOf } }`, { id: afterOthers.id }, ADMIN)).request.duplicateOf).to.equal(duplicateOf);
      const ownDuplicate = (await t.ok(query, input("account.holder@example.com"), SERVICE)).submitRequest.duplicateOf;
      const [service] = await t.ds.query(`SELECT id FROM api_tokens WHERE name = 'test SERVICE'`);
      expect((await t.ds.query(`SELECT submittedBy FROM requests WHERE id = ?`, [ownDuplicate]))[0].submittedBy).to.equal(service.id);
    });

    it("cannot take over another SERVICE token's idempotency key: CONFLICT, as for a key used for another subject", async () => {
      const op = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;
      const input = (email: string) => ({ input: { idempotencyKey: "settings-key-matrix", subject: { email } } });
      await t.ok(op, input("account.holder@example.com"), SERVICE);
      const second = await createToken(t.ds, t.clock, SYSTEM_ACTOR, { name: "second settings backend", role: SERVICE });
      const sameSubject = await t.gql(op, input("account.holder@example.com"), second.token);
      const otherSubject = await t.gql(op, input("another.holder@example.com"), second.token);
      expect(sameSubject.errors!.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
      expect(sameSubject.errors![0].message).to.equal(otherSubject.errors![0].message);
    });
  });

  it("shows AUDITOR no trace of who a request is about on any field it may read", async () => {
    const email = "trace.check@example.com";
    const r = await submitVerified(t, { type: "CORRECTION", subject: { email, userId: "trace-user", phone: "+919812345678" }, corrections: [{ field: "name", value: "Trace Person" }] });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    // Two operations: all of it at once is over the API's cost limit.
    const list = `{ requests(first: 10) { totalCount edges { cursor node { id type status source statusReason extensionReason duplicateOf idempotencyKey
      verification { method evidence } deletionPlan { connector } retentionExceptions { connector } export { id } } } } }`;
    const one = `query($id: ID!) {
      request(id: $id) { tasks { connector note lastError outcome { identitiesFound } } auditEvents { action actor { id } details } }
      auditEvents(requestId: $id) { action details }
      verifyAuditTrail { ok problem }
    }`;
    const data = [];
    for (const [op, variables] of [[list, {}], [one, { id: r.id }]] as const) {
      const res = await t.gql(op, variables, AUDITOR);
      expect(res.errors, JSON.stringify(res.errors)).to.equal(undefined);
      data.push(res.data);
    }
    expect(data[0].requests.edges.map((e: { node: { id: string } }) => e.node.id)).to.include(r.id);
    expect(data[1].request.tasks).to.have.length.greaterThan(0);
    const res = { data };
    const text = JSON.stringify(res.data);
    for (const personal of ["trace.check", "trace-user", "9812345678", "Trace Person"]) expect(text).not.to.include(personal);
  });

  it("stores tokens only as hashes", async () => {
    const dump = JSON.stringify(await t.ds.query(`SELECT * FROM api_tokens`));
    for (const token of Object.values(t.tokens)) expect(dump).not.to.include(token);
  });
  // Last: these revoke the tokens the tests above use.
  describe("revoked tokens", () => {
    it("refuses an unknown token and a revoked one with UNAUTHENTICATED", async () => {
      const unknown = await t.gql(`{ viewer { role } }`, {}, "dsr_this-token-was-never-issued-anywhere");
      expect(unknown.status).to.equal(401);
      expect(unknown.errors![0].extensions.code).to.equal("UNAUTHENTICATED");
      const [row] = await t.ds.query(`SELECT id FROM api_tokens WHERE name = 'test SERVICE'`);
      await t.ds.query(`UPDATE api_tokens SET revokedAt = '2026-01-01 00:00:00' WHERE id = '${row.id}'`);
      const revoked = await t.gql(`{ viewer { role } }`, {}, Role.SERVICE);
      expect(revoked.errors![0].extensions.code).to.equal("UNAUTHENTICATED");
    });

    it("refuses a token in use on the very next operation once it is revoked, by this process or by another", async () => {
      const viewer = `{ viewer { role } }`;
      expect((await t.gql(viewer, {}, Role.AUDITOR)).status).to.equal(200);
      const [auditor] = await t.ds.query(`SELECT id FROM api_tokens WHERE role = 'AUDITOR'`);
      await revokeToken(t.ds, t.clock, SYSTEM_ACTOR, auditor.id);
      const afterRevoke = await t.gql(viewer, {}, Role.AUDITOR);
      expect([afterRevoke.status, afterRevoke.errors![0].extensions.code]).to.deep.equal([401, "UNAUTHENTICATED"]);

      // `dsr token revoke` in another process writes only the row: nothing cached here may outlive it.
      expect((await t.gql(viewer, {}, PO)).status).to.equal(200);
      await t.ds.query(`UPDATE api_tokens SET revokedAt = '2026-01-01 00:00:00' WHERE role = 'PRIVACY_OFFICER'`);
      const afterRowChange = await t.gql(viewer, {}, PO);
      expect([afterRowChange.status, afterRowChange.errors![0].extensions.code]).to.deep.equal([401, "UNAUTHENTICATED"]);
      expect((await t.gql(viewer, {}, Role.ADMIN)).status).to.equal(200);
    });
  });
});

describeEachDatabase("a SERVICE token's deletion that followed another token's", (db) => {
  let t: TestService;
  const HOLDER = "account.holder@example.com";
  const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" };
  before(async () => {
    const archive = createManualConnector({ name: "paper-archive", categories: ["SUPPORT"], supports: ["erasure"], instructions: "Shred the subject's files." });
    t = await new TestService(db(), FAST, [new ScriptedConnector({ name: "crm" }).seed(HOLDER, 2), archive]).start();
  });
  after(async () => {
    await t?.stop();
  });

  it("names on its certificate no request of another token (answeredWith), in the fields or the signed file; ADMIN still sees the link", async () => {
    // The privacy team's deletion of the holder, at work: its erasure by hand waits for a person.
    const theirs = await submit(t, { type: "DELETION", subject: { email: HOLDER }, identityVerified: true, verificationEvidence: "ticket" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: theirs.id });
    const SHOW = `query($id: ID!) { request(id: $id) { status tasks { id connector step status } } }`;
    const manual = await t.waitFor(async () => (await t.ok(SHOW, { id: theirs.id })).request.tasks.find((x: any) => x.connector === "paper-archive" && x.step === "ERASE" && x.status === "AWAITING_INPUT"), "the archive's erasure awaits a person", 20_000);
    // The holder deletes the account from the settings page meanwhile: that deletion follows the one at work.
    const { requestAccountDeletion: own } = await t.ok(`mutation { requestAccountDeletion(input: { idempotencyKey: "follow-key-0001", subject: { email: "${HOLDER}" } }) { id duplicateOf } }`, {}, SERVICE);
    const [{ duplicateOf }] = await t.ds.query(`SELECT duplicateOf FROM requests WHERE id = ?`, [own.id]);
    expect(duplicateOf, "it follows the privacy team's deletion").to.equal(theirs.id);
    expect(own.duplicateOf).to.equal(null);
    await t.ok(`mutation($id: ID!) { completeManualTask(input: { taskId: $id, erasedCount: 1 }) { status } }`, { id: manual.id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: own.id }, SERVICE)).request.status === "COMPLETED" ? true : undefined), "the holder's deletion COMPLETED", 20_000);

    const CERT = `query($id: ID!) { deletionCertificate(requestId: $id) { requestId answeredWith signed erased { connector records } } }`;
    const asService = (await t.ok(CERT, { id: own.id }, SERVICE)).deletionCertificate;
    expect(asService.answeredWith, "another token's request is not named").to.equal(null);
    expect(asService.signed, "nor in the signed file").not.to.include(theirs.id);
    expect(JSON.parse(asService.signed).certificate.answeredWith).to.equal(null);
    // The erasure it reports is still the work that answered it.
    expect(asService.erased.find((e: any) => e.connector === "crm").records).to.equal(2);
    const asAdmin = (await t.ok(CERT, { id: own.id }, ADMIN)).deletionCertificate;
    expect(asAdmin.answeredWith).to.equal(theirs.id);

    // Nor in its statusReason, read or sent to the settings page (its status callbacks, as they wait in the outbox).
    const REASON = `query($id: ID!) { request(id: $id) { statusReason } }`;
    const told = (await t.ok(REASON, { id: own.id }, SERVICE)).request.statusReason;
    expect(told).to.match(/^answered together with an earlier request of the same person/);
    expect(told).not.to.include(theirs.id);
    expect((await t.ok(REASON, { id: own.id }, ADMIN)).request.statusReason).to.include(theirs.id);
    const sent: Array<{ payload: string }> = await t.ds.query(`SELECT payload FROM status_callbacks WHERE requestId = ?`, [own.id]);
    expect(sent.map((c) => JSON.parse(c.payload).status)).to.include("COMPLETED");
    for (const c of sent) expect(c.payload, "a status callback").not.to.include(theirs.id);
  });
});
