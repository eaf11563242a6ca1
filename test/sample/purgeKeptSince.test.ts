import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { eventKey } from "../../src/connectors/authLog/events";
import { collectAll } from "../../src/connectors/testing/conformance";
import type { Identities } from "../../src/connectors/sdk";
import { insertAuthEvents } from "../../src/sample/authLog";
import type { SampleWorkspace } from "../../src/sample/workspace";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified, sampleSetup } from "../identity/support";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status lastError outcome { erased kept } }
  residualRecords { connector recordType records }
  retentionExceptions { connector category recordType recordCount status retainUntil } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;
const DAY = 86_400_000;

/**
 * The request once `connector`'s PURGE ended, read again after it did (one read's tasks and exceptions
 * are two queries, and the purge's commit may fall between them), and that PURGE, SUCCEEDED. The clock
 * moves a second a look, so payment redaction jobs are polled.
 */
async function purgeEnded(t: TestService, id: string, connector: string): Promise<{ after: any; purge: any }> {
  const show = async () => {
    t.clock.advance(1000);
    return (await t.ok(SHOW, { id })).request;
  };
  const of = (x: any) => x.tasks.find((y: any) => y.connector === connector && y.step === "PURGE");
  await t.waitFor(async () => (["SUCCEEDED", "FAILED"].includes(of(await show())?.status) ? true : undefined), `${connector} purge ended`, 60_000);
  const after = await show();
  expect([of(after).status, of(after).lastError]).to.deep.equal(["SUCCEEDED", null]);
  return { after, purge: of(after) };
}

/** What the person makes in a system after her deletion, on the records it kept: the new record's type and id. */
interface SinceDeletion {
  connector: string;
  category: string;
  recordType: string;
  /** Writes the new record, dated `at`, into the system's own store; the identities that find her there now (the account database erased her). */
  write(ws: SampleWorkspace, at: Date): { id: string; ids: Identities; stays(): boolean };
}

const SYSTEMS: SinceDeletion[] = [
  {
    connector: "ticketing",
    category: "SUPPORT",
    recordType: "ticket",
    write: (ws, at) => {
      const store = ws.zendesk.store;
      const [owner] = store.usersByEmail(ADA);
      const user = owner.id;
      const model = store.ticketsRequestedBy(user)[0];
      const id = Math.max(...store.state.tickets.map((x) => x.id)) + 1;
      const when = at.toISOString();
      const comment = { ...model.comments[0], id: id * 100, author_id: user, attachments: [], created_at: when };
      store.state.tickets.push({ ...model, id, subject: "new question", requester_id: user, submitter_id: user, collaborator_ids: [], created_at: when, updated_at: when, comments: [comment] });
      // Her Zendesk user is tagged with her user id (accountExternalId): found by address, it is hers only with that id.
      return { id: String(id), ids: { email: ADA, userId: owner.external_id! }, stays: () => store.ticket(id)?.subject === "new question" };
    },
  },
  {
    connector: "payments",
    category: "PAYMENTS",
    recordType: "charge",
    write: (ws, at) => {
      const store = ws.stripe.store;
      const customer = store.all("customer").find((c) => String(c.email).toLowerCase() === ADA)!;
      const model = store.all("charge").find((c) => c.customer === customer.id)!;
      store.put({ ...model, id: "ch_since_deletion", invoice: null, created: Math.floor(at.getTime() / 1000) }, "test");
      const stays = () => JSON.stringify(store.get("charge", "ch_since_deletion")?.billing_details) === JSON.stringify(model.billing_details);
      return { id: "ch_since_deletion", ids: { email: ADA, paymentCustomerId: customer.id }, stays };
    },
  },
];

/**
 * Purges of what a deletion kept, in the sample workspace's systems, checked in each system's own
 * store. They counted what the person made since the deletion into the old request's kept sets: a new
 * ticket or charge kept by the old deletion's exception after a hold's release (8 tickets for 7, 58
 * charges for 57), and every auth event she made since, once the 90 days of those it kept ended (a new
 * exception, purged 90 days later, and again, for as long as she signs in).
 */
describeEachDatabase("purges of what a deletion kept, in the sample systems", (db) => {
  const setup = sampleSetup(db, SHOW, 400);

  for (const system of SYSTEMS) {
    it(`leaves the ${system.recordType} she made since the deletion in ${system.connector}, and keeps it out of the old request's kept sets, when a hold is released`, async function () {
      this.timeout(120_000);
      const { t, ws } = setup;
      const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: [system.category], reason: "dispute", caseReference: "H-1" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
      const deletion = await runVerified(t, SHOW, "DELETION", ADA);
      expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
      t.clock.advance(60_000);
      const written = system.write(ws, t.clock.now());

      await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
      const { after } = await purgeEnded(t, deletion.id, system.connector);
      expect(written.stays(), `her new ${system.recordType} stays as it was`).to.equal(true);
      // Every such record of hers still there is kept by the old request's exceptions, or residual, or her new one: that one only is not the old request's.
      const held = (await collectAll(ws.connectors.find((c) => c.spec.name === system.connector)!, written.ids)).filter((r) => r.type === system.recordType);
      expect(held.map((r) => r.id)).to.include(written.id);
      const ofType = (x: any) => x.connector === system.connector && x.recordType === system.recordType;
      const residual = after.residualRecords.filter(ofType).reduce((n: number, r: any) => n + r.records, 0);
      const kept = after.retentionExceptions.filter((e: any) => ofType(e) && e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0);
      expect(kept, `the old request keeps the ${system.recordType}s it kept, not her new one`).to.equal(held.length - residual - 1);
    });
  }

  it("erases the events the deletion kept when their 90 days end, and leaves those she made since, uncounted", async function () {
    this.timeout(120_000);
    const { t, ws, dir } = setup;
    await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["ACCOUNT"], reason: "dispute", caseReference: "A-1" } }, Role.PRIVACY_OFFICER);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const kept = deletion.retentionExceptions.find((e: any) => e.connector === "auth-log");
    expect(kept.recordCount, "the deletion keeps her last 90 days of events").to.be.greaterThan(0);

    // She goes on signing in: 5 events after the deletion, under the user id her held account keeps.
    const { userId } = await ws.connectors[0].resolve!({ email: ADA }, { logger: { debug() {}, info() {}, warn() {}, error() {} } } as any);
    const log = await new DataSource({ type: "better-sqlite3", database: path.join(dir, "sample", "auth-log.sqlite") }).initialize();
    const table = async () => (await log.query(`SELECT COUNT(*) AS n FROM auth_events WHERE user_id = ?`, [userId]))[0].n as number;
    try {
      const before = await table();
      const since = Array.from({ length: 5 }, (_, i) => {
        const at = new Date(new Date(kept.retainUntil).getTime() - DAY + i * 1000);
        const eventId = `evt_since_${i}`;
        return { userId: String(userId), key: eventKey(at, eventId), eventId, recordedAt: at.toISOString(), event: "login", result: "SUCCESS", factor: "password", device: "Laptop", ip: "203.0.113.9", browser: "Firefox 130", os: "macOS 15" };
      });
      await insertAuthEvents(log, since as any);
      expect(await table()).to.equal(before + 5);

      t.clock.advance(new Date(kept.retainUntil).getTime() - t.clock.now().getTime() + DAY);
      const { after, purge } = await purgeEnded(t, deletion.id, "auth-log");
      expect(await table(), "only the events she made since are left").to.equal(5);
      expect(purge.outcome.erased, "the events the deletion kept").to.equal(kept.recordCount);
      expect(purge.outcome.kept ?? 0, "her new events are not the old request's").to.equal(0);
      expect(after.retentionExceptions.filter((e: any) => e.connector === "auth-log").map((e: any) => [e.recordCount, e.status])).to.deep.equal([[kept.recordCount, "CLOSED"]]);
    } finally {
      await log.destroy();
    }
  });
});
