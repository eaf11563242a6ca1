import { expect } from "chai";
import { FaultRule } from "../../src/sample/zendesk";
import { SAMPLE_AGENT_ID } from "../../src/sample/zendesk/seed";
import { collaboratorsOf } from "../../src/sample/zendesk/store";
import { describeEachDatabase } from "../support/databases";
import { finishedRequest } from "../export/support";
import { addSuspendedTicket, deletionRetriedAfter, EMAIL, GRACE_PERSON, retryingZendeskEach, sharedResidue, TOKEN } from "./support/zendeskStandIn";

const GRACE_ID = Number(GRACE_PERSON.ticketingUserId);
const LONG_AGO = "2016-01-04T10:00:00.000Z";
const REPORT = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status attempts lastError }
  deletionOutcome { connector plannedFound erased kept residual matchesPlan differences { kind records } }
  residualRecords { connector recordType records reason } } }`;

/**
 * What a Zendesk deletion reports against what Zendesk holds after it, on three seams: a subject who
 * follows tickets (Zendesk's followers: agents and admins, apart from the email CCs), a held-back email
 * of theirs an agent recovers into a ticket while the deletion's delete of it is in doubt, and a user
 * note left in the database by the previous version of the connector. Through GraphQL, against the
 * stand-in's own data.
 */
describeEachDatabase("a Zendesk deletion, against what Zendesk holds after it", (db) => {
  /** The stand-in (every thread's last activity long ago), its connector, and a service erasing what it reaches, whose retries wait a minute of its clock. */
  const s = retryingZendeskEach(db, (standIn) => {
    for (const ticket of standIn.store.state.tickets) ticket.updated_at = LONG_AGO;
  });

  /** Runs the deletion of `email` to its end, COMPLETED; with `fault`, through a first attempt that failed on it, `between` called before the retry. */
  const deletion = async (email: string, fault?: FaultRule, between: () => Promise<void> = async () => {}) => {
    if (fault) return deletionRetriedAfter(s.t, s.z, email, fault, REPORT, between);
    const done = await finishedRequest(s.t, "DELETION", email, REPORT);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    return { done, line: done.deletionOutcome.find((o: { connector: string }) => o.connector === "ticketing") };
  };

  it("takes a subject who follows tickets off their followers (not only off the CCs), and counts erased only the tickets she is off", async function () {
    this.timeout(120_000);
    const { z, t } = s;
    // The agent follows two open tickets customers requested, and is an email CC on one of them too.
    const customers = z.store.state.tickets.filter((x) => x.requester_id !== SAMPLE_AGENT_ID && !collaboratorsOf(x).includes(SAMPLE_AGENT_ID));
    const [followed, both] = customers;
    for (const x of [followed, both]) {
      x.status = "open";
      x.follower_ids = [SAMPLE_AGENT_ID];
    }
    both.collaborator_ids = [...both.collaborator_ids, SAMPLE_AGENT_ID];
    z.store.save();
    const { line } = await deletion(z.store.user(SAMPLE_AGENT_ID)!.email);
    // Asked of the stand-in: no live ticket lists her any more, as an email CC or a follower.
    const stillOn = z.store.state.tickets.filter((x) => !x.deleted_at && collaboratorsOf(x).includes(SAMPLE_AGENT_ID)).map((x) => x.id);
    console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, kept: line.kept, residual: line.residual, stillOn: stillOn.length, followerRemovals: z.store.effects.followerRemovals })}`);
    expect(stillOn, "tickets that still list her").to.deep.equal([]);
    expect(z.store.effects.followerRemovals).to.equal(2);
    expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
    expect(line.matchesPlan).to.equal(true);
  });

  for (const noted of ["as this version notes it", "noted by the previous version (`suspended:<id>`, still in the database)"] as const) {
    it(`does not count erased a held-back email an agent recovered into a ticket while its delete was in doubt, and names it residual (its unit ${noted})`, async function () {
      this.timeout(120_000);
      const { z, t } = s;
      const held = addSuspendedTicket(z, GRACE_PERSON.email, "RECOVERED-MAIL", new Date(Date.now() - 3_600_000));
      let recoveredId: number | undefined;
      // The first attempt's delete of the email never reaches Zendesk (its call fails); before the retry, an agent recovers it (Zendesk's API).
      const { done, line } = await deletion(GRACE_PERSON.email, { kind: "500", method: "DELETE", path: /^\/api\/v2\/suspended_tickets\/\d+\.json$/, times: 1 }, async () => {
        const answer = await fetch(`${z.url}/api/v2/suspended_tickets/${held.id}/recover.json`, { method: "PUT", headers: { authorization: `Basic ${Buffer.from(`${EMAIL}/token:${TOKEN}`).toString("base64")}` } });
        expect(answer.status).to.equal(200);
        recoveredId = ((await answer.json()) as { ticket: { id: number } }).ticket.id;
        if (noted.startsWith("as this")) return;
        await t.ds.query(`UPDATE erasure_units SET note = ? WHERE note LIKE 'zendesk-suspended:%'`, [`suspended:${held.id}`]);
        expect(await t.ds.query(`SELECT id FROM erasure_units WHERE note = ?`, [`suspended:${held.id}`]), "the unit's note, as the previous version wrote it").to.have.length(1);
      });
      // Asked of the stand-in: the email's text lives on in the ticket the agent made of it; it left the queue without being deleted.
      const recovered = z.store.ticket(recoveredId!)!;
      expect(recovered.comments[0].plain_body).to.equal(held.content);
      expect(z.store.effects.suspendedTicketDeletes).to.equal(0);
      const named = done.residualRecords.filter((r: { recordType: string }) => r.recordType === "suspended_ticket");
      console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, residual: line.residual, suspendedDeletes: z.store.effects.suspendedTicketDeletes, namedResidual: named.map((r: { records: number }) => r.records) })}`);
      expect(named.map((r: { records: number }) => r.records)).to.deep.equal([1]);
      expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
    });
  }

  it("counts a held-back email recovered into a ticket she is the requester of (as an agent may recover it) with that ticket, which it deletes, not as a deleted email too", async function () {
    this.timeout(120_000);
    const { z } = s;
    const held = addSuspendedTicket(z, GRACE_PERSON.email, "RECOVERED-AS-HERS", new Date(Date.now() - 3_600_000));
    let recoveredId: number | undefined;
    const { done, line } = await deletion(GRACE_PERSON.email, { kind: "500", method: "DELETE", path: /^\/api\/v2\/suspended_tickets\/\d+\.json$/, times: 1 }, async () => {
      recoveredId = z.store.recoverSuspendedTicket(held.id, GRACE_ID, new Date())!.id;
    });
    // Asked of the stand-in: the ticket made of the email is gone, with its comment and attachment, and the email was never deleted as such.
    expect(z.store.state.tickets.some((x) => x.id === recoveredId)).to.equal(false);
    expect(z.store.effects.suspendedTicketDeletes).to.equal(0);
    const shared = Object.values(sharedResidue(z, GRACE_ID)).reduce((n, c) => n + c, 0);
    console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, residual: line.residual, shared })}`);
    expect(done.residualRecords.filter((r: { recordType: string }) => r.recordType === "suspended_ticket")).to.deep.equal([]);
    // Erased: what the plan found but the email (it left the queue as a ticket) and the shared threads' residue, and the recovered ticket's three records (ticket, comment, attachment), beyond the plan.
    expect(line.erased).to.equal(line.plannedFound - 1 - line.residual + 3);
    expect(line.residual).to.equal(shared);
  });

  it("settles a user note the previous version of the connector wrote (`user:<id>:…`) and left in the database", async function () {
    this.timeout(120_000);
    const { z, t } = s;
    const shared = sharedResidue(z, GRACE_ID);
    const sharedCount = Object.values(shared).reduce((n, c) => n + c, 0);
    expect(sharedCount, "threads she requested that others wrote on").to.be.greaterThan(0);
    let rewritten = 0;
    // Her permanent delete goes through and its answer is lost; before the retry, the note of that unit is
    // put back as the previous version wrote it (positional), as a deployment between the attempts leaves it.
    const { done, line } = await deletion(GRACE_PERSON.email, { kind: "500", method: "DELETE", path: /^\/api\/v2\/deleted_users\/\d+\.json$/, times: 1, afterEffect: true }, async () => {
      const rows: { id: string; note: string }[] = await t.ds.query(`SELECT id, note FROM erasure_units WHERE note LIKE 'zendesk-user:%'`);
      expect(rows.length).to.equal(1);
      const n = JSON.parse(rows[0].note.slice("zendesk-user:".length)) as { user: number; withUser: number; shared: number[]; staff: number[] };
      // The previous version's form: the three first counts, the side messages' only with some (or more after), then withUser and the staff replies' three when there were any.
      const staff = n.staff.some((x) => x > 0);
      const legacy = `user:${n.user}:${n.shared.slice(0, 3).join(":")}${staff || n.withUser || n.shared[3] ? `:${n.shared[3]}` : ""}${staff || n.withUser ? `:${n.withUser}` : ""}${staff ? `:${n.staff.join(":")}` : ""}`;
      await t.ds.query(`UPDATE erasure_units SET note = ? WHERE id = ?`, [legacy, rows[0].id]);
      rewritten = rows.length;
    });
    expect(rewritten).to.equal(1);
    // Asked of the stand-in: her user is gone for good, and what the shared threads hold of her is still there (named residual, from the old note).
    expect(z.store.user(GRACE_ID)).to.equal(undefined);
    expect(z.store.effects.userPermanentDeletes).to.equal(1);
    console.log(`      ${db().kind} ${JSON.stringify({ plannedFound: line.plannedFound, erased: line.erased, residual: line.residual, shared: sharedCount })}`);
    const named = done.residualRecords.reduce((by: Record<string, number>, r: { recordType: string; records: number }) => ({ ...by, [r.recordType]: (by[r.recordType] ?? 0) + r.records }), {});
    expect(named).to.deep.equal(shared);
    expect(line.residual).to.equal(sharedCount);
    expect(line.erased + line.kept + line.residual).to.equal(line.plannedFound);
  });
});
