import { expect } from "chai";
import { ccNote, commentOfNote, suspendedNote } from "../../src/connectors/zendesk/notes";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { FaultRule, ZendeskStandIn, ZendeskTicket } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ConnectorError } from "../../src/connectors/sdk";
import { testContext } from "../../src/connectors/testing/conformance";
import { addSuspendedTicket, connectorFor, deletionRetriedAfter, retryingZendeskService, expectedRecordCount, GRACE_PERSON, notingContext, redactedToNothing, sharedResidue, startStandIn } from "./support/zendeskStandIn";

const GRACE_ID = Number(GRACE_PERSON.ticketingUserId);
const REPORT = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status attempts lastError }
  deletionOutcome { connector plannedFound erased kept residual matchesPlan differences { kind records } }
  retentionExceptions { connector category recordType recordCount holdId status } } }`;

/**
 * A unit of a Zendesk erasure that never ended well (Zendesk applied the write and its answer was lost, or
 * never came: the call timed out) is finished by the next attempt from its note. When a legal hold on SUPPORT
 * is placed between the two attempts, the retry may erase nothing more and its unit is refused: what the
 * first attempt's write did must still be counted as Zendesk shows it (erased when it landed), and what it
 * did not do is the hold's. Checked against the stand-in's own data, through GraphQL.
 */
describeEachDatabase("a Zendesk write whose answer was lost, when a legal hold on SUPPORT comes before the retry", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await connector?.close();
    await z?.close();
  });

  /** A service whose rule keeps nothing of SUPPORT on deletion (so the first attempt erases what it reaches), the stand-in and its connector. */
  const start = async () => {
    ({ z, connector, t } = await retryingZendeskService(db()));
  };

  /**
   * Runs Grace's deletion until its first attempt failed on `fault`, then places a hold on SUPPORT through
   * GraphQL and lets the retry run to the end. Returns the ticketing line and the exceptions at the end.
   */
  const deleteWithHoldBetweenAttempts = (fault: FaultRule) =>
    deletionRetriedAfter(t, z, GRACE_PERSON.email, fault, REPORT, async () => {
      await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "${GRACE_PERSON.email}", categories: ["SUPPORT"], reason: "Dispute", caseReference: "CASE-ZD" }) { id } }`);
    });

  /** Every record of Grace's the stand-in still holds, as collect counts them: her user, tickets, comments, attachments, and suspended emails from her address. */
  const heldNow = () => expectedRecordCount(z, GRACE_ID) + z.store.suspendedTickets().filter((s) => s.author.email.toLowerCase() === GRACE_PERSON.email.toLowerCase()).length;

  /** Grace's own comments on tickets someone else requested that she is CC'd on (the first redactions of the erasure, in the order it reaches them). */
  const ccThreads = (): ZendeskTicket[] => z.store.state.tickets.filter((x) => x.requester_id !== GRACE_ID && x.collaborator_ids.includes(GRACE_ID));

  for (const how of ["answered 500 after it was applied", "timed out after it was applied"] as const) {
    it(`counts a comment redaction erased once, when its answer was lost (${how})`, async () => {
      await start();
      const kind = how.startsWith("answered") ? "500" : "hang";
      await deleteWithHoldBetweenAttempts({ kind, method: "PUT", path: "/comment_redactions/", times: 1, afterEffect: true }).then(({ line }) => {
        // Asked of the stand-in: the one redaction of the first attempt went through, and nothing more was erased after the hold.
        const redacted = z.store.state.tickets.flatMap((x) => x.comments.filter((c) => c.author_id === GRACE_ID && redactedToNothing(c)));
        expect(z.store.effects.commentRedactions).to.equal(1);
        expect(redacted.length).to.equal(1);
        const held = heldNow();
        const seen = { plannedFound: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual, held, gone: line.plannedFound - held };
        console.log(`      ${db().kind} ${JSON.stringify(seen)}`);
        // What the hold keeps is what Zendesk holds; what the first attempt erased (threads deleted, the comment redacted) is counted erased, each record once.
        expect(line.kept).to.equal(held);
        expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
      });
    });
  }

  it("counts a CC removal erased once (the ticket's record of her), when its answer was lost", async () => {
    await start();
    // One ticket she is CC'd on is still open (the others are closed: Zendesk takes no update of those).
    const [open] = ccThreads();
    open.status = "open";
    z.store.save();
    const { line } = await deleteWithHoldBetweenAttempts({ kind: "500", method: "PUT", path: /^\/api\/v2\/tickets\/\d+\.json$/, times: 1, afterEffect: true });
    // Asked of the stand-in: she is off the CCs of that ticket (the first attempt's last write), still on the others.
    expect(z.store.effects.ccRemovals).to.equal(1);
    expect(z.store.ticket(open.id)!.collaborator_ids).not.to.include(GRACE_ID);
    const held = heldNow();
    console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual, held })}`);
    expect(line.kept).to.equal(held);
    expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
  });

  it("counts her user erased once, and names what stays on threads shared with others residual, when the answer to her permanent delete was lost", async () => {
    await start();
    const shared = Object.values(sharedResidue(z, GRACE_ID)).reduce((n, c) => n + c, 0);
    expect(shared, "threads she requested that others wrote on").to.be.greaterThan(0);
    const { line } = await deleteWithHoldBetweenAttempts({ kind: "500", method: "DELETE", path: /^\/api\/v2\/deleted_users\/\d+\.json$/, times: 1, afterEffect: true });
    // Asked of the stand-in: her user is deleted for good, and what the shared threads hold of her is still there.
    expect(z.store.effects.userPermanentDeletes).to.equal(1);
    expect(z.store.user(GRACE_ID)).to.equal(undefined);
    console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual, shared })}`);
    expect(line.kept).to.equal(0);
    expect(line.residual).to.equal(shared);
    expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
  });

  it("counts a suspended email erased once, when the answer to its delete was lost", async () => {
    await start();
    addSuspendedTicket(z, GRACE_PERSON.email, "held-back", new Date());
    z.store.save();
    const { line } = await deleteWithHoldBetweenAttempts({ kind: "500", method: "DELETE", path: "/suspended_tickets/", times: 1, afterEffect: true });
    // Asked of the stand-in: the email is gone (the first attempt's only write), and everything else of hers is there.
    expect(z.store.effects.suspendedTicketDeletes).to.equal(1);
    expect(z.store.suspendedTickets().length).to.equal(0);
    const held = heldNow();
    console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual, held })}`);
    expect(line.kept).to.equal(held);
    expect(line.erased).to.equal(1);
    expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
  });
});

/**
 * The same, when the hold comes while the retry runs (its instruction still names SUPPORT, and the hold
 * refuses the unit that would finish the note): the connector's own answer, against the stand-in's data.
 */
describe("a Zendesk erasure's retry whose unit a legal hold refuses, after a write whose answer was lost", () => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  beforeEach(async () => {
    z = await startStandIn();
    connector = connectorFor(z);
  });
  afterEach(async () => {
    await connector?.close();
    await z?.close();
  });
  const GRACE = { email: GRACE_PERSON.email };
  const SUPPORT = { categories: ["SUPPORT" as const] };

  /**
   * Runs an erase that fails on `fault`, then its retry with every unit refused; returns the first attempt's
   * notes and the retry's outcome. `stored` is the note as the database holds it for the retry (one an earlier version wrote).
   */
  const failThenHeld = async (fault: FaultRule, stored = (note: string) => note) => {
    z.faults.add(fault);
    const notes: string[] = [];
    expect(await connector.erase(GRACE, SUPPORT, notingContext(notes)).catch((e: unknown) => e)).to.be.instanceOf(ConnectorError);
    expect(notes.length, "one unit left unfinished").to.equal(1);
    const calls = z.calls.count("PUT") + z.calls.count("DELETE");
    const outcome = await connector.erase(GRACE, SUPPORT, testContext({ attempt: 2, unfinishedUnits: async () => notes.map(stored), eraseUnit: async () => false }));
    // The refused retry writes nothing.
    expect(z.calls.count("PUT") + z.calls.count("DELETE")).to.equal(calls);
    return { note: notes[0], outcome };
  };

  it("counts the records of a comment Zendesk shows redacted, and none of one it does not (the redaction never reached it)", async () => {
    const landed = await failThenHeld({ kind: "500", method: "PUT", path: "/comment_redactions/", times: 1, afterEffect: true });
    // Noted in the shared JSON form (unitNotes.ts).
    expect(landed.note).to.match(/^zendesk-comment:\{/);
    const { ticket: ticketId, comment: commentId, records } = commentOfNote(landed.note)!;
    expect(redactedToNothing(z.store.ticket(ticketId)!.comments.find((c) => c.id === commentId)!)).to.equal(true);
    expect(landed.outcome.erased).to.equal(records);

    await connector.close();
    await z.close();
    z = await startStandIn();
    connector = connectorFor(z);
    const refused = await failThenHeld({ kind: "500", method: "PUT", path: "/comment_redactions/", times: 1 });
    const { ticket: t2, comment: c2 } = commentOfNote(refused.note)!;
    expect(redactedToNothing(z.store.ticket(t2)!.comments.find((c) => c.id === c2)!), "still there, the hold's").to.equal(false);
    expect(refused.outcome.erased).to.equal(0);
  });

  it("counts the ticket's record once when Zendesk shows her off its CCs", async () => {
    const open = z.store.state.tickets.find((x) => x.requester_id !== GRACE_ID && x.collaborator_ids.includes(GRACE_ID))!;
    open.status = "open";
    const { note, outcome } = await failThenHeld({ kind: "500", method: "PUT", path: /^\/api\/v2\/tickets\/\d+\.json$/, times: 1, afterEffect: true });
    expect(note).to.equal(`zendesk-cc:${JSON.stringify({ ticket: open.id, user: GRACE_ID, records: 1 })}`);
    expect(note).to.equal(ccNote({ ticket: open.id, user: GRACE_ID, records: 1 }));
    expect(z.store.ticket(open.id)!.collaborator_ids).not.to.include(GRACE_ID);
    expect(outcome.erased).to.equal(1);
  });

  /** A note as the previous version wrote it (positional), from this version's: what a database may still hold for a retry. */
  const positional = (note: string): string => {
    const [kind, json] = [note.slice(0, note.indexOf(":")), JSON.parse(note.slice(note.indexOf(":") + 1))];
    if (kind === "zendesk-comment") return `comment:${json.ticket}:${json.comment}:${json.records}`;
    if (kind === "zendesk-cc") return `cc:${json.ticket}:${json.user}:${json.records}`;
    throw new Error(`not a comment or CC note: ${note}`);
  };

  it("settles a comment redaction and a CC removal noted in the previous version's positional form, as Zendesk shows them", async () => {
    const landed = await failThenHeld({ kind: "500", method: "PUT", path: "/comment_redactions/", times: 1, afterEffect: true }, positional);
    const { ticket: ticketId, comment: commentId, records } = commentOfNote(landed.note)!;
    expect(redactedToNothing(z.store.ticket(ticketId)!.comments.find((c) => c.id === commentId)!)).to.equal(true);
    expect(landed.outcome.erased, "the redaction that landed, counted from the old note").to.equal(records);

    await connector.close();
    await z.close();
    z = await startStandIn();
    connector = connectorFor(z);
    const open = z.store.state.tickets.find((x) => x.requester_id !== GRACE_ID && x.collaborator_ids.includes(GRACE_ID))!;
    open.status = "open";
    const cc = await failThenHeld({ kind: "500", method: "PUT", path: /^\/api\/v2\/tickets\/\d+\.json$/, times: 1, afterEffect: true }, positional);
    expect(z.store.ticket(open.id)!.collaborator_ids).not.to.include(GRACE_ID);
    expect(cc.outcome.erased, "the CC removal that landed, counted from the old note").to.equal(1);
  });

  it("counts a suspended email once when Zendesk no longer holds it, without deleting anything", async () => {
    const held = addSuspendedTicket(z, GRACE_PERSON.email, "held-back", new Date());
    z.store.save();
    const { note, outcome } = await failThenHeld({ kind: "500", method: "DELETE", path: "/suspended_tickets/", times: 1, afterEffect: true });
    expect(note).to.equal(suspendedNote({ id: held.id, arrived: Date.parse(held.created_at) }));
    expect(z.store.suspendedTickets().some((s) => s.id === held.id)).to.equal(false);
    expect(outcome.erased).to.equal(1);
  });
});
