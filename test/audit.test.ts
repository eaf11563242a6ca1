import { expect } from "chai";
import { randomUUID } from "node:crypto";
import mysql from "mysql2/promise";
import { SYSTEM_ACTOR } from "../src/audit/actor";
import { appendAuditEvent, GENESIS_HASH } from "../src/audit/auditTrail";
import { inTransaction } from "../src/db/transaction";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { watchStatements } from "./support/statements";
import { submit, submitVerified, TestService } from "./support/harness";

const TRAIL = `query($id: ID!) { auditEvents(requestId: $id) { seq requestId action actor { id role } details occurredAt prevHash hash } }`;
const VERIFY_TRAIL = `{ verifyAuditTrail { ok checkedEvents checkedStreams unsealedEvents latestCheckpoint firstBrokenSeq problem problems { kind } summary } }`;

describeEachDatabase("audit trail", (db) => {
  let t: TestService;
  beforeEach(async () => {
    t = await new TestService(db()).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  /** A small history: tokens created, then a request submitted, verified, approved, extended. */
  async function history(): Promise<string> {
    const r = await submitVerified(t);
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id }, Role.PRIVACY_OFFICER);
    await t.ok(`mutation($id: ID!) { extendDeadline(id: $id, days: 10, reason: "waiting on payment processor") { id } }`, { id: r.id });
    return r.id;
  }

  it("records every state change with actor, action and the statuses moved between", async () => {
    const id = await history();
    const events = (await t.ok(TRAIL, { id }, Role.AUDITOR)).auditEvents;
    expect(events.map((e: any) => e.action)).to.deep.equal(["request.submitted", "request.verified", "request.approved", "request.planned", "request.deadline_extended"]);
    expect(events[0].actor.role).to.equal("ADMIN");
    expect(events[0].actor.id).to.match(/^token:[0-9a-f-]{36}$/);
    expect(events[2].actor.role).to.equal("PRIVACY_OFFICER");
    expect(events[1].details).to.deep.equal({ from: "PENDING_VERIFICATION", to: "PENDING_APPROVAL", method: "CODE" });
    expect(events[2].details).to.deep.include({ from: "PENDING_APPROVAL", to: "IN_PROGRESS" });
    for (let i = 1; i < events.length; i++) expect(events[i].seq).to.be.greaterThan(events[i - 1].seq);
  });

  it("keeps personal data out of the events", async () => {
    const r = await submit(t, { type: "CORRECTION", subject: { email: "hidden.person@example.com", phone: "+919800000001" }, corrections: [{ field: "name", value: "Secret Name" }] });
    const rows = await t.ds.query(`SELECT * FROM audit_events`);
    const dump = JSON.stringify(rows);
    for (const needle of ["hidden.person", "+919800000001", "Secret Name", t.inbox.code(r.id)]) expect(dump).not.to.include(needle);
    const submitted = (await t.ok(TRAIL, { id: r.id })).auditEvents[0];
    expect(submitted.details.correctedFields).to.deep.equal(["name"]);
  });

  it("is also reachable from the request and chained, per request, to the previous event", async () => {
    const id = await history();
    const data = await t.ok(`query($id: ID!) { request(id: $id) { auditEvents { stream seq prevHash hash } } }`, { id }, Role.AUDITOR);
    const events = data.request.auditEvents;
    expect(events.map((e: any) => [e.stream, e.seq])).to.deep.equal([1, 2, 3, 4, 5].map((seq) => [id, seq]));
    expect(events[0].prevHash).to.equal("0".repeat(64));
    for (let i = 1; i < events.length; i++) expect(events[i].prevHash).to.equal(events[i - 1].hash);
    const installation = await t.ds.query(`SELECT seq, prevHash, hash FROM audit_events WHERE stream = 'installation' ORDER BY seq`);
    expect(installation.map((e: any) => Number(e.seq))).to.deep.equal([1, 2, 3, 4]);
    expect(installation[0].prevHash).to.equal("0".repeat(64));
  });

  it("verifies an untouched trail, and says nothing is sealed before the first checkpoint", async () => {
    await history();
    const total = await t.count("audit_events");
    const v = (await t.ok(VERIFY_TRAIL, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(v).to.deep.include({ ok: true, checkedEvents: total, unsealedEvents: total, latestCheckpoint: null, firstBrokenSeq: null, problem: null, problems: [] });
    expect(v.summary).to.match(/intact.*no checkpoint has been written yet/);
  });

  it("keeps every trail unbroken under concurrent writers", async () => {
    const requests = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(t, { subject: { email: `p${i}@example.com` } })));
    await Promise.all(requests.map((r) => t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id: r.id, code: t.inbox.code(r.id) })));
    const v = (await t.ok(VERIFY_TRAIL)).verifyAuditTrail;
    expect(v.ok).to.equal(true);
    expect(v.checkedEvents).to.equal(4 + 24);
    expect(v.checkedStreams).to.equal(1 + 12);
  });

  it("makes a transaction wait only for others writing about the same request (MariaDB row locks)", async function () {
    if (db().kind !== "mariadb") this.skip();
    const [a, b] = [await history(), await history()];
    // Another transaction holds request A's trail head, as a long transaction about A would.
    const holder = await mysql.createConnection({ uri: db().url });
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT seq FROM audit_stream_heads WHERE stream = ? FOR UPDATE", [a]);
      const extend = (id: string) => t.ok(`mutation($id: ID!) { extendDeadline(id: $id, days: 1, reason: "lock test") { id } }`, { id });
      const started = Date.now();
      await extend(b);
      expect(Date.now() - started, "a change to request B waited for request A's trail").to.be.below(3000);
      let aDone = false;
      const onA = extend(a).then(() => (aDone = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(aDone, "a change to request A went past the lock on A's trail").to.equal(false);
      await holder.query("ROLLBACK");
      await onA;
    } finally {
      await holder.end();
    }
    expect((await t.ok(VERIFY_TRAIL)).verifyAuditTrail.ok).to.equal(true);
  });

  it("creates a new request's trail head once when another transaction creates it between its look and its insert, and chains after what that one wrote (MariaDB)", async function () {
    if (db().kind !== "mariadb") this.skip();
    const stream = randomUUID();
    const theirs = "ab".repeat(32);
    // The race, made to happen: when our transaction (having seen no head) is about to create it, another
    // transaction creates it first and writes its first event (seq 1), and commits.
    const holder = await mysql.createConnection({ uri: db().url });
    const probe = t.ds.createQueryRunner();
    const proto = Object.getPrototypeOf(probe) as { query: (...args: any[]) => Promise<any> };
    await probe.release();
    const query = proto.query;
    proto.query = async function (this: unknown, sql: string, parameters?: unknown[], ...rest: unknown[]) {
      if (/^INSERT (IGNORE )?INTO audit_stream_heads/.test(sql) && parameters?.includes(stream)) {
        await holder.query("INSERT INTO audit_stream_heads (stream, seq, hash, sealedSeq, sealedHash, unsealed) VALUES (?, 1, ?, 0, ?, 1)", [stream, theirs, GENESIS_HASH]);
      }
      return query.call(this, sql, parameters, ...rest);
    };
    try {
      await inTransaction(t.ds, (em) => appendAuditEvent(em, { requestId: stream, actor: SYSTEM_ACTOR, action: "test.second", details: {} }, new Date()));
    } finally {
      proto.query = query;
      await holder.end();
    }
    // Ours found the head taken (its INSERT created nothing), read it, and chained after seq 1.
    const rows = await t.ds.query("SELECT seq, prevHash FROM audit_events WHERE stream = ?", [stream]);
    expect(rows.map((r: any) => [Number(r.seq), r.prevHash])).to.deep.equal([[2, theirs]]);
    const [head] = await t.ds.query("SELECT seq FROM audit_stream_heads WHERE stream = ?", [stream]);
    expect(Number(head.seq)).to.equal(2);
    await t.ds.query("DELETE FROM audit_events WHERE stream = ?", [stream]);
    await t.ds.query("DELETE FROM audit_stream_heads WHERE stream = ?", [stream]);
  });

  it("starts a new request's trail with one statement fewer: the head it creates is not read back", async () => {
    const stream = randomUUID();
    const watch = watchStatements(t.ds);
    try {
      await inTransaction(t.ds, (em) => appendAuditEvent(em, { requestId: stream, actor: SYSTEM_ACTOR, action: "test.first", details: {} }, new Date()));
    } finally {
      watch.stop();
    }
    const statements = watch.statements.filter((x) => x.parameters.includes(stream)).map((x) => x.query.trim());
    expect(statements.filter((q) => /^SELECT .*audit_stream_heads|^SELECT stream/.test(q))).to.have.length(1);
    expect(statements.filter((q) => /^INSERT (IGNORE )?INTO audit_stream_heads/.test(q))).to.have.length(1);
    const rows = await t.ds.query("SELECT seq, prevHash FROM audit_events WHERE stream = ?", [stream]);
    expect(rows.map((r: any) => [Number(r.seq), r.prevHash])).to.deep.equal([[1, GENESIS_HASH]]);
    await t.ds.query("DELETE FROM audit_events WHERE stream = ?", [stream]);
    await t.ds.query("DELETE FROM audit_stream_heads WHERE stream = ?", [stream]);
  });

  it("records token creation and revocation", async () => {
    const rows = await t.ds.query(`SELECT action, actorId FROM audit_events WHERE stream = 'installation' ORDER BY seq`);
    expect(rows.map((r: any) => r.action)).to.deep.equal(["token.created", "token.created", "token.created", "token.created"]);
  });

  it("answers NOT_FOUND for the events of an unknown request", async () => {
    const res = await t.gql(TRAIL, { id: "0b7c0a0e-8a51-4d1b-9d59-000000000000" });
    expect(res.errors![0].extensions.code).to.equal("NOT_FOUND");
  });
});
