import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { misplacedId, runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  tasks { connector step status lastError outcome { records erased } } } }`;

/**
 * The account database gives the ticketing connector the subject's Zendesk user id, and the platform
 * sets each Zendesk user's external_id to its account's user id. A data error (Ada's account row holding
 * Grace's Zendesk user id, Grace's none) took Grace's user as Ada's: Ada's access exported Grace's
 * profile and tickets, and her deletion deleted them. Checked against the Zendesk stand-in's own data.
 */
describeEachDatabase("a ticketing user reached by id that the platform linked to another account", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("fails Ada's access and deletion, reading and erasing none of Grace's tickets, when Ada's account row holds Grace's ticketing user id", async () => {
    const [ada, grace] = setup.ws.people;
    // A data error in the account database: Ada's row points at Grace's Zendesk user, Grace's row at none.
    await misplacedId(setup.dir, "ticketing_user_id", grace, ada, grace.ticketingUserId!);
    const store = setup.ws.zendesk.store;
    // Ada's own Zendesk user is under an address she no longer uses: only the id reaches a user for her.
    store.user(Number(ada.ticketingUserId))!.email = "ada.old@example.org";
    const graceUser = store.user(Number(grace.ticketingUserId))!;
    expect(graceUser.external_id).to.equal(grace.userId);
    // Grace's threads outside the 5-year rule: a deletion that took her user as Ada's would delete them, not keep them.
    for (const t of store.state.tickets.filter((x) => x.requester_id === graceUser.id)) t.updated_at = "2016-01-04T10:00:00.000Z";
    const graceAtZendesk = () => JSON.stringify({ user: store.user(graceUser.id), tickets: store.state.tickets.filter((t) => t.requester_id === graceUser.id) });
    const before = graceAtZendesk();
    expect(JSON.parse(before).tickets).not.to.deep.equal([]);

    for (const type of ["ACCESS", "DELETION"]) {
      const done = await runVerified(setup.t, SHOW, type, ada.email);
      const ticketing = done.tasks.filter((x: any) => x.connector === "ticketing");
      // Before: both COMPLETED, the access exporting Grace's user and tickets, the deletion deleting them.
      expect(ticketing.filter((x: any) => x.status === "SUCCEEDED" && x.step !== "RESOLVE"), `${type}: no ticketing task read or erased Grace's user`).to.deep.equal([]);
      expect(done.status, type).to.equal("FAILED");
      const failed = ticketing.find((x: any) => x.status === "FAILED");
      expect(failed.lastError).to.match(/^ticketing: the ticketing user the account database holds for the subject is tagged at Zendesk as another account's/);
      expect(failed.lastError).not.to.include(grace.ticketingUserId).and.not.to.include(grace.userId);
    }
    expect(graceAtZendesk(), "Grace's user and tickets at Zendesk").to.equal(before);
  });
});
