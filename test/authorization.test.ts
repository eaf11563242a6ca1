import { expect } from "chai";
import { GraphQLObjectType } from "graphql";
import { getMetadataStorage } from "type-graphql";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { revokeToken } from "../src/auth/tokens";
import { Role } from "../src/domain/enums";
import { buildDsrSchema } from "../src/graphql/schema";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

const { ADMIN, PRIVACY_OFFICER: PO, AUDITOR, SERVICE } = Role;
const UNKNOWN_ID = "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc";

/**
 * The documented authorization matrix (README "Roles"). Every root operation must have a row: an
 * operation added without one fails the first test below.
 */
const MATRIX: Record<string, { allowed: Role[]; op: string }> = {
  "Query.viewer": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ viewer { role } }` },
  "Query.request": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ request(id: "${UNKNOWN_ID}") { id } }` },
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
  "Query.deletionCertificate": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ deletionCertificate(requestId: "${UNKNOWN_ID}") { requestId } }` },
  "Query.certificatePublicKey": { allowed: [ADMIN, PO, AUDITOR, SERVICE], op: `{ certificatePublicKey { keyId } }` },
  "Mutation.requestAccountDeletion": {
    allowed: [SERVICE],
    op: `mutation { requestAccountDeletion(input: { idempotencyKey: "matrix-key-0001", subject: { email: "matrix@example.com" } }) { id } }`,
  },
  "Mutation.retryTask": { allowed: [ADMIN, PO], op: `mutation { retryTask(id: "${UNKNOWN_ID}") { id } }` },
  "Mutation.completeManualTask": { allowed: [ADMIN, PO], op: `mutation { completeManualTask(input: { taskId: "${UNKNOWN_ID}", erasedCount: 0 }) { id } }` },
  "Mutation.submitRequest": {
    allowed: [ADMIN, PO, SERVICE],
    op: `mutation { submitRequest(input: { type: ACCESS, subject: { email: "matrix@example.com" } }) { id } }`,
  },
  "Mutation.verifyRequest": { allowed: [ADMIN, PO, SERVICE], op: `mutation { verifyRequest(id: "${UNKNOWN_ID}", code: "123456") { id } }` },
  "Mutation.resendVerificationCode": { allowed: [ADMIN, PO, SERVICE], op: `mutation { resendVerificationCode(id: "${UNKNOWN_ID}") { id } }` },
  "Mutation.approveRequest": { allowed: [ADMIN, PO], op: `mutation { approveRequest(id: "${UNKNOWN_ID}") { id } }` },
  "Mutation.rejectRequest": { allowed: [ADMIN, PO], op: `mutation { rejectRequest(id: "${UNKNOWN_ID}", reason: "because") { id } }` },
  "Mutation.cancelRequest": { allowed: [ADMIN, PO, SERVICE], op: `mutation { cancelRequest(id: "${UNKNOWN_ID}") { id } }` },
  "Mutation.createExportLink": { allowed: [ADMIN, PO], op: `mutation { createExportLink(requestId: "${UNKNOWN_ID}") { url } }` },
  "Mutation.extendDeadline": { allowed: [ADMIN, PO], op: `mutation { extendDeadline(id: "${UNKNOWN_ID}", days: 3, reason: "because") { id } }` },
};

/** Fields inside types that carry their own rule. */
const FIELD_MATRIX: Record<string, { allowed: Role[]; selection: string }> = {
  "Request.subject": { allowed: [ADMIN, PO, SERVICE], selection: "subject { email }" },
  "Request.corrections": { allowed: [ADMIN, PO, SERVICE], selection: "corrections { field }" },
  "Request.auditEvents": { allowed: [ADMIN, PO, AUDITOR], selection: "auditEvents { seq }" },
};

describe("authorization matrix", () => {
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
      const r = await submit(t, { type: "CORRECTION", corrections: [{ field: "name", value: "A" }] });
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

  it("refuses an unknown token and a revoked one with UNAUTHENTICATED", async () => {
    const unknown = await t.gql(`{ viewer { role } }`, {}, "dsr_this-token-was-never-issued-anywhere");
    expect(unknown.status).to.equal(401);
    expect(unknown.errors![0].extensions.code).to.equal("UNAUTHENTICATED");
    const [row] = await t.ds.query(`SELECT id FROM api_tokens WHERE role = 'SERVICE'`);
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

  it("stores tokens only as hashes", async () => {
    const dump = JSON.stringify(await t.ds.query(`SELECT * FROM api_tokens`));
    for (const token of Object.values(t.tokens)) expect(dump).not.to.include(token);
  });
});
