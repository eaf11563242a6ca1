import { expect } from "chai";
import { collectAll } from "../../src/connectors/testing/conformance";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { runVerified, sampleSetup } from "../identity/support";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status lastError outcome { erased kept } }
  residualRecords { connector recordType records }
  retentionExceptions { connector category recordType recordCount status } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const RELEASE = `mutation($id: ID!) { releaseLegalHold(id: $id, reason: "case settled") { status } }`;

/**
 * The ticketing system (Zendesk). A hold on support kept her threads; she wrote a new ticket after the
 * deletion; the hold's release purged what no rule keeps, and counted her new ticket into the old
 * request's kept sets (kept by the 5-year rule, under the old deletion's exception). Checked in the
 * stand-in's own store.
 */
describeEachDatabase("the ticketing system's purge of what a deletion kept", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("leaves the ticket she wrote since the deletion, and keeps it out of the old request's kept sets", async function () {
    this.timeout(120_000);
    const { t, ws } = setup;
    const hold: string = (await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["SUPPORT"], reason: "dispute", caseReference: "Z-1" } }, Role.PRIVACY_OFFICER)).placeLegalHold.id;
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");

    // She writes to support again: a new ticket on her own (held, so kept) ticketing user.
    const ticketing = ws.connectors.find((c) => c.spec.name === "ticketing")!;
    // The account database erased her: the ticketing system finds her by her address.
    const ids = { email: ADA };
    const store = ws.zendesk.store;
    const user = store.usersByEmail(ADA)[0].id;
    const model = store.ticketsRequestedBy(user)[0];
    t.clock.advance(60_000);
    const at = t.clock.now().toISOString();
    const id = Math.max(...store.state.tickets.map((x) => x.id)) + 1;
    const comment = { ...model.comments[0], id: id * 100, author_id: user, attachments: [], created_at: at };
    store.state.tickets.push({ ...model, id, subject: "new question", requester_id: user, submitter_id: user, collaborator_ids: [], created_at: at, updated_at: at, comments: [comment] });

    await t.ok(RELEASE, { id: hold }, Role.PRIVACY_OFFICER);
    const show = async () => (await t.ok(SHOW, { id: deletion.id })).request;
    await t.waitFor(
      async () => {
        const purge = (await show()).tasks.find((y: any) => y.connector === "ticketing" && y.step === "PURGE");
        return purge && ["SUCCEEDED", "FAILED"].includes(purge.status) ? purge : undefined;
      },
      "ticketing purge ended",
      60_000,
    );
    // Read again once it ended: one read's tasks and exceptions are two queries, and the purge's commit may fall between them.
    const after = await show();
    const purge = after.tasks.find((y: any) => y.connector === "ticketing" && y.step === "PURGE");
    expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
    expect(store.ticket(id), "her new ticket stays").to.deep.include({ subject: "new question" });

    // Every ticket of hers still there is kept by the old request's exceptions, or residual, or her new one: that one only is not the old request's.
    const tickets = (await collectAll(ticketing, ids)).filter((r) => r.type === "ticket");
    expect(tickets.map((r) => r.id)).to.include(String(id));
    const residual = after.residualRecords.filter((r: any) => r.connector === "ticketing" && r.recordType === "ticket").reduce((n: number, r: any) => n + r.records, 0);
    const keptTickets = after.retentionExceptions.filter((e: any) => e.connector === "ticketing" && e.recordType === "ticket" && e.status === "OPEN").reduce((n: number, e: any) => n + e.recordCount, 0);
    expect(keptTickets, "the old request keeps the tickets it kept, not her new one").to.equal(tickets.length - residual - 1);
  });
});
