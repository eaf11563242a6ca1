import { expect } from "chai";
import type { ZendeskUser } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { accountsFile, queryIn, runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError outcome { records erased } } } }`;

/**
 * Zendesk holds one person as two users: the one the account database ties to them (by ticketing
 * user id) and one under their current address (they changed it, then wrote in again); or two users
 * under the two spellings of one internationalised address. The ticketing connector followed one of
 * them: by the id when it had one, else the first spelling that answered. The request completed with
 * the other user's tickets neither exported nor erased. Checked against the stand-in's own data.
 */
describeEachDatabase("a subject who is two users at the ticketing system", (db) => {
  const setup = sampleSetup(db, SHOW);

  /** A second Zendesk user with `email`, given the first requested ticket of `from` (the subject's other user). */
  function secondUser(from: number, email: string): { user: ZendeskUser; ticketId: number } {
    const store = setup.ws.zendesk.store;
    const first = store.user(from)!;
    const user: ZendeskUser = { ...first, id: 380_000_000 + from % 1000, email, secondary_emails: [], unverified_emails: [] };
    store.state.users.push(user);
    const ticket = store.ticketsRequestedBy(from)[0];
    expect(ticket, "the subject requested a ticket").to.not.equal(undefined);
    ticket.requester_id = ticket.submitter_id = user.id;
    for (const c of ticket.comments) if (c.author_id === from) c.author_id = user.id;
    return { user, ticketId: ticket.id };
  }
  /** Both users and every ticket tied to either, as Zendesk holds them. */
  const atZendesk = (ids: number[]) => {
    const store = setup.ws.zendesk.store;
    return JSON.stringify({ users: ids.map((id) => store.user(id) ?? null), tickets: store.state.tickets.filter((t) => ids.includes(t.requester_id) || t.collaborator_ids.some((c) => ids.includes(c))) });
  };

  const ticketingTasks = (done: any) => done.tasks.filter((x: any) => x.connector === "ticketing");

  it("stops, rather than complete with one user, when the account's ticketing user and the user under the subject's address differ", async () => {
    const [ada] = setup.ws.people;
    const current = "ada@analytical-engines.example";
    // Ada changed her address on the platform; her account still points at her first Zendesk user.
    await queryIn(accountsFile(setup.dir), `UPDATE users SET email = ? WHERE id = ?`, [current, ada.userId]);
    const { user } = secondUser(Number(ada.ticketingUserId), current);
    const before = atZendesk([Number(ada.ticketingUserId), user.id]);
    for (const type of ["ACCESS", "DELETION"]) {
      const done = await runVerified(setup.t, SHOW, type, current);
      expect(done.status, `${type}: ${done.statusReason}`).to.equal("FAILED");
      const failed = ticketingTasks(done).filter((x: any) => x.status === "FAILED");
      expect(failed.length, type).to.be.greaterThan(0);
      for (const x of failed) expect(x.lastError).to.match(/^ticketing: the subject is more than one user here/);
      expect(JSON.stringify(done.tasks.map((x: any) => x.lastError)), "no address or id in the messages").not.to.include(current).and.not.to.include(String(user.id));
      expect(ticketingTasks(done).filter((x: any) => x.step === "ERASE" && x.status === "SUCCEEDED")).to.deep.equal([]);
    }
    expect(atZendesk([Number(ada.ticketingUserId), user.id]), "both users and their tickets").to.equal(before);
  });

  it("stops when two users hold the two spellings of the subject's internationalised address", async () => {
    const bjorn = setup.ws.people[3];
    expect(bjorn.email).to.equal("bjorn@xn--bcher-kva.de");
    // His account holds no ticketing user id: Zendesk is searched by his address.
    await queryIn(accountsFile(setup.dir), `UPDATE users SET ticketing_user_id = NULL WHERE id = ?`, [bjorn.userId]);
    const { user } = secondUser(Number(bjorn.ticketingUserId), "bjorn@bücher.de");
    const done = await runVerified(setup.t, SHOW, "ACCESS", "bjorn@bücher.de");
    expect(done.status, done.statusReason).to.equal("FAILED");
    expect(ticketingTasks(done).find((x: any) => x.step === "COLLECT").lastError).to.match(/^ticketing: the subject is more than one user here/);
    expect(setup.ws.zendesk.store.user(user.id)?.active).to.equal(true);
  });
});
