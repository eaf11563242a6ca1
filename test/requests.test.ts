import { expect } from "chai";
import { getNamedType, GraphQLField, GraphQLObjectType, isObjectType } from "graphql";
import { Role } from "../src/domain/enums";
import { buildDsrSchema } from "../src/graphql/schema";
import { encodeCursors, inKeyOrder } from "../src/queries/requestFinder";
import { describeEachDatabase } from "./support/databases";
import { REQUEST_FIELDS, submit, submitVerified, TestService } from "./support/harness";

const DAY = 24 * 60 * 60 * 1000;
const BY_ID = `query($id: ID!) { request(id: $id) { ${REQUEST_FIELDS} } }`;
const VERIFY = `mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { ${REQUEST_FIELDS} } }`;
const APPROVE = `mutation($id: ID!) { approveRequest(id: $id) { ${REQUEST_FIELDS} } }`;
const REJECT = `mutation($id: ID!, $reason: String!) { rejectRequest(id: $id, reason: $reason) { ${REQUEST_FIELDS} } }`;
const CANCEL = `mutation($id: ID!, $reason: String) { cancelRequest(id: $id, reason: $reason) { ${REQUEST_FIELDS} } }`;
const EXTEND = `mutation($id: ID!, $days: Int!, $reason: String!) { extendDeadline(id: $id, days: $days, reason: $reason) { ${REQUEST_FIELDS} } }`;
const RESEND = `mutation($id: ID!) { resendVerificationCode(id: $id) { ${REQUEST_FIELDS} } }`;
const LIST = `query($first: Int, $after: String, $filter: RequestFilterInput) {
  requests(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id type status dueAt overdue subject { email } } }
  } }`;

/** A selection of every argument-free field below `field`, `levels` object levels deep (leaves only at the last). */
function everything(field: GraphQLField<unknown, unknown>, levels = 2): string | null {
  if (field.args.some((a) => a.type.toString().endsWith("!") && a.defaultValue === undefined)) return null;
  const type = getNamedType(field.type);
  if (!isObjectType(type)) return field.name;
  if (levels === 0) return null;
  const inner = Object.values(type.getFields()).map((f) => everything(f, levels - 1)).filter((f): f is string => f !== null);
  return inner.length ? `${field.name} { ${inner.join(" ")} }` : null;
}

describeEachDatabase("requests", (db) => {
  let t: TestService;
  beforeEach(async () => {
    t = await new TestService(db()).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  describe("submitRequest", () => {
    it("takes each type, keeps the email as typed for display, matches it in lower case, and sends a code to the subject", async () => {
      for (const type of ["ACCESS", "PORTABILITY", "DELETION"]) {
        const r = await submit(t, { type, subject: { email: `Grace.Hopper+${type}@Example.com` } });
        expect(r.type).to.equal(type);
        expect(r.status).to.equal("PENDING_VERIFICATION");
        expect(r.source).to.equal("ADMIN");
        expect(r.subject.email).to.equal(`Grace.Hopper+${type}@Example.com`);
        const { request } = await t.ok(`query($id: ID!) { request(id: $id) { subject { emailNormalized } } }`, { id: r.id });
        expect(request.subject.emailNormalized).to.equal(`grace.hopper+${type.toLowerCase()}@example.com`);
        expect(r.verification).to.include({ method: null, verifiedAt: null, attemptsLeft: 5 });
        expect(t.inbox.code(r.id)).to.match(/^\d{6}$/);
        expect(t.inbox.emails.get(r.id)).to.equal(r.subject.email);
      }
      expect(t.inbox.rejected).to.equal(0);
    });

    it("keeps the optional identities and a CORRECTION's changes", async () => {
      const r = await submit(t, {
        type: "CORRECTION",
        subject: { email: "ada@example.com", userId: "u-1842", phone: "+919812345678", externalIds: [{ system: "stripe", id: "cus_123" }] },
        corrections: [{ field: "name", value: "Augusta Ada King" }, { field: "company", value: "Analytical Engines, Ltd." }],
        identityVerified: true,
        verificationEvidence: "checked by the privacy team",
      });
      expect(r.subject).to.deep.equal({ email: "ada@example.com", userId: "u-1842", phone: "+919812345678", externalIds: [{ system: "stripe", id: "cus_123" }] });
      expect(r.corrections).to.deep.equal([{ field: "name", value: "Augusta Ada King" }, { field: "company", value: "Analytical Engines, Ltd." }]);
      const again = (await t.ok(BY_ID, { id: r.id })).request;
      expect(again).to.deep.equal(r);
    });

    it("sets dueAt 30 calendar days after receipt", async () => {
      const r = await submit(t, { type: "DELETION" });
      expect(r.receivedAt).to.equal("2026-03-02T10:00:00.000Z");
      expect(r.dueAt).to.equal("2026-04-01T10:00:00.000Z");
    });

    it("sets a CORRECTION's dueAt 15 business days later, skipping weekends", async () => {
      // Monday 2 March 2026 + 15 business days = Monday 23 March 2026.
      const monday = await submit(t, { type: "CORRECTION", corrections: [{ field: "name", value: "A" }] });
      expect(monday.dueAt).to.equal("2026-03-23T10:00:00.000Z");
      // Friday 6 March + 15 business days = Friday 27 March; received on a Saturday counts from Monday.
      t.clock.set(new Date("2026-03-06T09:30:00.000Z"));
      const friday = await submit(t, { type: "CORRECTION", corrections: [{ field: "name", value: "A" }] });
      expect(friday.dueAt).to.equal("2026-03-27T09:30:00.000Z");
      t.clock.set(new Date("2026-03-07T12:00:00.000Z"));
      const saturday = await submit(t, { type: "CORRECTION", corrections: [{ field: "name", value: "A" }] });
      expect(saturday.dueAt).to.equal("2026-03-27T12:00:00.000Z");
    });

    it("lets a trusted caller submit an already verified request, with evidence", async () => {
      const r = await submit(t, { identityVerified: true, verificationEvidence: "authenticated settings session" }, Role.SERVICE);
      expect(r.status).to.equal("PENDING_APPROVAL");
      expect(r.source).to.equal("API");
      expect(r.verification).to.deep.include({ method: "TRUSTED_CALLER", evidence: "authenticated settings session", attemptsLeft: null });
      expect(t.inbox.codes.has(r.id)).to.equal(false);
    });
  });

  describe("verification", () => {
    it("moves to PENDING_APPROVAL with the right code and forgets the code", async () => {
      const r = await submitVerified(t);
      expect(r.status).to.equal("PENDING_APPROVAL");
      expect(r.verification).to.deep.include({ method: "CODE", verifiedAt: "2026-03-02T10:00:00.000Z", codeExpiresAt: null, attemptsLeft: null });
      const [row] = await t.ds.query(`SELECT verificationCodeHash FROM requests WHERE id = '${r.id}'`);
      expect(row.verificationCodeHash).to.equal(null);
    });

    it("stores only a hash of the code", async () => {
      const r = await submit(t);
      const [row] = await t.ds.query(`SELECT * FROM requests WHERE id = '${r.id}'`);
      expect(row.verificationCodeHash).to.match(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.to.include(t.inbox.code(r.id));
    });

    it("counts wrong codes, says how many are left, and locks after the limit", async () => {
      const r = await submit(t);
      const right = t.inbox.code(r.id);
      const wrong = right === "000000" ? "111111" : "000000";
      for (let left = 4; left >= 0; left--) {
        const res = await t.gql(VERIFY, { id: r.id, code: wrong });
        expect(res.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
        expect(res.errors![0].extensions.attemptsLeft).to.equal(left);
        expect(res.errors![0].extensions.fields![0].field).to.equal("code");
      }
      const locked = await t.gql(VERIFY, { id: r.id, code: right });
      expect(locked.errors![0].extensions.code).to.equal("CONFLICT");
      expect(locked.errors![0].message).to.match(/Too many wrong codes/);
      expect((await t.ok(BY_ID, { id: r.id })).request.status).to.equal("PENDING_VERIFICATION");
      // A new code unlocks it.
      const resent = (await t.ok(RESEND, { id: r.id })).resendVerificationCode;
      expect(resent.verification.attemptsLeft).to.equal(5);
      const fresh = t.inbox.code(r.id);
      expect((await t.ok(VERIFY, { id: r.id, code: fresh })).verifyRequest.status).to.equal("PENDING_APPROVAL");
    });

    it("refuses an expired code with CONFLICT", async () => {
      const r = await submit(t);
      t.clock.advance(DAY + 1);
      const res = await t.gql(VERIFY, { id: r.id, code: t.inbox.code(r.id) });
      expect(res.errors![0].extensions.code).to.equal("CONFLICT");
      expect(res.errors![0].message).to.match(/expired/);
    });

    it("refuses to verify twice with CONFLICT and changes nothing", async () => {
      const r = await submitVerified(t);
      const before = await t.count("audit_events");
      const res = await t.gql(VERIFY, { id: r.id, code: "123456" });
      expect(res.errors![0].extensions.code).to.equal("CONFLICT");
      expect(res.errors![0].message).to.include("PENDING_APPROVAL");
      expect(await t.count("audit_events")).to.equal(before);
    });
  });

  describe("decisions", () => {
    it("approves a verified request into IN_PROGRESS", async () => {
      const r = await submitVerified(t);
      const approved = (await t.ok(APPROVE, { id: r.id }, Role.PRIVACY_OFFICER)).approveRequest;
      expect(approved.status).to.equal("IN_PROGRESS");
    });

    it("refuses to approve an unverified request", async () => {
      const r = await submit(t);
      const res = await t.gql(APPROVE, { id: r.id });
      expect(res.errors![0].extensions.code).to.equal("CONFLICT");
      expect(res.errors![0].message).to.include("PENDING_VERIFICATION");
    });

    it("rejects with a reason and closes the request", async () => {
      const r = await submitVerified(t);
      const rejected = (await t.ok(REJECT, { id: r.id, reason: "requester could not be matched to an account" })).rejectRequest;
      expect(rejected).to.include({ status: "REJECTED", statusReason: "requester could not be matched to an account", closedAt: "2026-03-02T10:00:00.000Z" });
    });

    it("cancels, then refuses to approve the cancelled request and changes nothing", async () => {
      const r = await submitVerified(t);
      await t.ok(CANCEL, { id: r.id, reason: "withdrawn by the subject" });
      const eventsBefore = await t.count("audit_events");
      const res = await t.gql(APPROVE, { id: r.id });
      expect(res.errors![0].extensions.code).to.equal("CONFLICT");
      expect(res.errors![0].message).to.match(/is CANCELLED; it can become IN_PROGRESS only from PENDING_APPROVAL/);
      expect((await t.ok(BY_ID, { id: r.id })).request.status).to.equal("CANCELLED");
      expect(await t.count("audit_events")).to.equal(eventsBefore);
    });

    it("refuses to cancel work in progress", async () => {
      const r = await submitVerified(t);
      await t.ok(APPROVE, { id: r.id });
      const res = await t.gql(CANCEL, { id: r.id });
      expect(res.errors![0].extensions.code).to.equal("CONFLICT");
    });

    it("lets exactly one of two concurrent decisions win", async () => {
      const r = await submitVerified(t);
      const results = await Promise.all([t.gql(APPROVE, { id: r.id }), t.gql(REJECT, { id: r.id, reason: "duplicate of another request" })]);
      const winners = results.filter((x) => !x.errors);
      expect(winners).to.have.length(1);
      expect(results.find((x) => x.errors)!.errors![0].extensions.code).to.equal("CONFLICT");
      const events = await t.ds.query(`SELECT action FROM audit_events WHERE requestId = '${r.id}' AND action IN ('request.approved', 'request.rejected')`);
      expect(events).to.have.length(1);
    });
  });

  describe("deadlines", () => {
    it("extends with a reason, up to 60 days in total", async () => {
      const r = await submitVerified(t);
      const extended = (await t.ok(EXTEND, { id: r.id, days: 45, reason: "complex request spanning several systems" })).extendDeadline;
      expect(extended.dueAt).to.equal(new Date(Date.parse(r.dueAt) + 45 * DAY).toISOString());
      expect(extended).to.include({ extendedDays: 45, extensionReason: "complex request spanning several systems" });
      const over = await t.gql(EXTEND, { id: r.id, days: 16, reason: "more time" });
      expect(over.errors![0].extensions.code).to.equal("CONFLICT");
      expect(over.errors![0].extensions.extendedDays).to.equal(45);
      expect((await t.ok(EXTEND, { id: r.id, days: 15, reason: "more time" })).extendDeadline.extendedDays).to.equal(60);
    });

    it("computes overdue from the clock and stops counting once closed", async () => {
      const open = await submitVerified(t, { subject: { email: "late@example.com" } });
      const closed = await submitVerified(t, { subject: { email: "late@example.com" } });
      await t.ok(REJECT, { id: closed.id, reason: "not a customer" });
      t.clock.advance(31 * DAY);
      expect((await t.ok(BY_ID, { id: open.id })).request.overdue).to.equal(true);
      expect((await t.ok(BY_ID, { id: closed.id })).request.overdue).to.equal(false);
      const overdue = (await t.ok(LIST, { filter: { overdue: true, subjectEmail: "late@example.com" } })).requests;
      expect(overdue.edges.map((e: any) => e.node.id)).to.deep.equal([open.id]);
      const notOverdue = (await t.ok(LIST, { filter: { overdue: false, subjectEmail: "late@example.com" } })).requests;
      expect(notOverdue.edges.map((e: any) => e.node.id)).to.deep.equal([closed.id]);
      await t.ok(EXTEND, { id: open.id, days: 10, reason: "waiting for the payment processor" });
      expect((await t.ok(BY_ID, { id: open.id })).request.overdue).to.equal(false);
    });

    it("refuses to extend a closed request", async () => {
      const r = await submitVerified(t);
      await t.ok(REJECT, { id: r.id, reason: "not a customer" });
      const res = await t.gql(EXTEND, { id: r.id, days: 5, reason: "late" });
      expect(res.errors![0].extensions.code).to.equal("CONFLICT");
    });
  });

  describe("requests (list)", () => {
    it("pages through every match in due-date order with stable cursors", async () => {
      const email = "pager@example.com";
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        // Submitted in reverse due order: later submissions are due earlier (CORRECTION is 15 business days).
        t.clock.set(new Date(Date.UTC(2026, 2, 20 - i, 10)));
        ids.push((await submit(t, { subject: { email } })).id);
      }
      const expected = [...ids].reverse();
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const page: any = (await t.ok(LIST, { first: 3, after, filter: { subjectEmail: "PAGER@example.com" } })).requests;
        expect(page.totalCount).to.equal(7);
        expect(page.pageInfo.hasPreviousPage).to.equal(after !== null);
        seen.push(...page.edges.map((e: any) => e.node.id));
        pages += 1;
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(pages).to.equal(3);
      expect(seen).to.deep.equal(expected);
    });

    it("still takes cursors of the earlier unpadded form", async () => {
      const email = "legacy@example.com";
      for (let i = 0; i < 3; i++) {
        t.clock.set(new Date(Date.UTC(2026, 2, 20 - i, 10)));
        await submit(t, { subject: { email } });
      }
      const all = (await t.ok(LIST, { filter: { subjectEmail: email } })).requests.edges.map((e: any) => e.node);
      const legacy = Buffer.from(JSON.stringify([all[0].dueAt, all[0].id]), "utf8").toString("base64url");
      const rest = (await t.ok(LIST, { after: legacy, filter: { subjectEmail: email } })).requests.edges.map((e: any) => e.node.id);
      expect(rest).to.deep.equal(all.slice(1).map((n: any) => n.id));
    });

    it("filters by status and type", async () => {
      const email = "filter@example.com";
      const a = await submit(t, { type: "ACCESS", subject: { email } });
      const d = await submitVerified(t, { type: "DELETION", subject: { email } });
      const c = await submit(t, { type: "CORRECTION", subject: { email }, corrections: [{ field: "name", value: "X" }] });
      const ids = async (filter: object) => (await t.ok(LIST, { filter: { subjectEmail: email, ...filter } })).requests.edges.map((e: any) => e.node.id).sort();
      expect(await ids({ status: ["PENDING_VERIFICATION"] })).to.deep.equal([a.id, c.id].sort());
      expect(await ids({ status: ["PENDING_APPROVAL"], type: ["DELETION"] })).to.deep.equal([d.id]);
      expect(await ids({ type: ["ACCESS", "CORRECTION"] })).to.deep.equal([a.id, c.id].sort());
      expect(await ids({ status: ["COMPLETED"] })).to.deep.equal([]);
    });

    it("answers every field of a request in a list exactly as the single lookup does, field by field", async () => {
      // The list loads only the columns of the fields asked for: a field whose columns were forgotten would differ here.
      const email = "every.field@example.com";
      const r = await submit(t, {
        type: "CORRECTION",
        subject: { email, userId: "u-77", phone: "+919812345678", externalIds: [{ system: "stripe", id: "cus_77" }] },
        corrections: [{ field: "name", value: "Ada King" }],
        identityVerified: true,
        verificationEvidence: "checked by the privacy team",
      });
      await t.ok(`mutation($id: ID!) { extendDeadline(id: $id, days: 5, reason: "complex request") { id } }`, { id: r.id });
      await submit(t, { subject: { email } });
      const fields = Object.values(((await buildDsrSchema()).getType("Request") as GraphQLObjectType).getFields());
      expect(fields.length).to.be.above(15);
      for (const field of fields) {
        const selection = everything(field);
        if (!selection) continue;
        const single = await t.gql(`query($id: ID!) { request(id: $id) { ${selection} } }`, { id: r.id });
        const listed = await t.gql(`query($email: String!) { requests(first: 5, filter: { subjectEmail: $email }) { edges { node { id ${selection} } } } }`, { email });
        expect(listed.errors, field.name).to.deep.equal(single.errors);
        const node = listed.data.requests.edges.find((e: any) => e.node.id === r.id).node;
        expect(node[field.name], field.name).to.deep.equal(single.data.request[field.name]);
      }
    });

    it("reads the fields and totalCount an operation asks for through fragments and aliases", async () => {
      const email = "fragments@example.com";
      const a = await submit(t, { subject: { email } });
      t.clock.advance(DAY);
      const b = await submit(t, { type: "DELETION", subject: { email } });
      const query = `query($email: String!) { requests(filter: { subjectEmail: $email }) { ...Page } }
        fragment Page on RequestConnection { total: totalCount edges { ... on RequestEdge { node { ...Row late: overdue } } } }
        fragment Row on Request { key: id kind: type due: dueAt who: subject { email } }`;
      const page = (await t.ok(query, { email })).requests;
      expect(page.total).to.equal(2);
      expect(page.edges.map((e: any) => e.node)).to.deep.equal(
        [a, b].map((r) => ({ key: r.id, kind: r.type, due: r.dueAt, who: { email }, late: false })),
      );
    });

    it("refuses a forged cursor and an out-of-range page size", async () => {
      const forged = await t.gql(LIST, { after: "not-a-cursor" });
      expect(forged.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(forged.errors![0].extensions.fields![0].field).to.equal("after");
      const big = await t.gql(LIST, { first: 101 });
      expect(big.errors![0].extensions.code).to.equal("BAD_USER_INPUT");
      expect(big.errors![0].extensions.fields![0].field).to.equal("first");
    });
  });
});

describe("request cursors", () => {
  const decode = (cursor: string) => JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));

  it("encodes a page's cursors together exactly as each one alone, whatever the lengths", () => {
    const rows = [
      { dueAt: "2026-03-02T10:00:00.000Z", id: "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc" },
      { dueAt: new Date(Date.UTC(2026, 2, 3)), id: "a" },
      { dueAt: "2026-03-04T10:00:00.000Z", id: "ab" },
      { dueAt: "2026-03-05T10:00:00.000Z", id: 'quote"and\\backslash' },
    ];
    const together = encodeCursors(rows);
    expect(together).to.deep.equal(rows.map((row) => encodeCursors([row])[0]));
    expect(together.map(decode)).to.deep.equal(rows.map((r) => [typeof r.dueAt === "string" ? r.dueAt : r.dueAt.toISOString(), r.id]));
    for (const cursor of together) expect(Buffer.from(cursor, "base64url").length % 3).to.equal(0);
  });

  it("encodes ids beyond ASCII one by one, as UTF-8", () => {
    const rows = [
      { dueAt: "2026-03-02T10:00:00.000Z", id: "plain" },
      { dueAt: "2026-03-03T10:00:00.000Z", id: "ünïcödé-😀" },
    ];
    expect(encodeCursors(rows).map(decode)).to.deep.equal(rows.map((r) => [r.dueAt, r.id]));
  });
});

describe("request page order", () => {
  it("restores the keyset order (dueAt, then id) when SQLite's aggregate hands the rows over in another", () => {
    const rows = [
      ["b", "2026-01-02 00:00:00.000"],
      ["a", "2026-01-02 00:00:00.000"],
      ["z", "2026-01-01 23:59:59.999"],
      ["c", "2026-01-03 00:00:00.000"],
    ];
    expect(inKeyOrder(rows.slice(), 1, 0).map((r) => r[0])).to.deep.equal(["z", "a", "b", "c"]);
    const sorted = [rows[2], rows[1], rows[0], rows[3]];
    expect(inKeyOrder(sorted, 1, 0)).to.equal(sorted);
  });
});
