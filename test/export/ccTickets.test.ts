import { expect } from "chai";
import { LEFT_OUT_REASON } from "../../src/connectors/zendesk/records";
import { ZendeskConnector } from "../../src/connectors/zendesk";
import { ZendeskStandIn } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { submit, TestService } from "../support/harness";
import { ADA_PERSON, connectorFor, PEOPLE, startStandIn, ticketsOf } from "../connectors/support/zendeskStandIn";
import { archiveTexts, download, exportLink, FAST } from "./support";

const ADA_ID = Number(ADA_PERSON.ticketingUserId);

describeEachDatabase("access export of tickets the subject was only copied on", (db) => {
  let z: ZendeskStandIn;
  let connector: ZendeskConnector;
  let t: TestService;
  before(async function () {
    this.timeout(60_000);
    z = await startStandIn();
    connector = connectorFor(z);
    t = await new TestService(db(), FAST, [connector]).start();
  });
  after(async () => {
    await t?.stop();
    await connector?.close();
    await z?.close();
  });

  it("carries the subject's own comments, leaves other people's words and phone numbers out, and says so in manifest.json, index.html and README.txt", async function () {
    this.timeout(60_000);
    const ccd = ticketsOf(z, ADA_ID).filter(({ role }) => role === "cc").map(({ ticket }) => ticket);
    const others = ccd.flatMap((ticket) => ticket.comments.filter((c) => c.author_id !== ADA_ID));
    const own = ccd.flatMap((ticket) => ticket.comments.filter((c) => c.author_id === ADA_ID));
    expect(others.length, "the seed copies Ada on threads where others write").to.be.greaterThan(0);
    expect(own.length, "and where she writes too").to.be.greaterThan(0);
    const requesters = PEOPLE.filter((p) => ccd.some((ticket) => ticket.requester_id === Number(p.ticketingUserId)));
    expect(requesters.every((p) => p.phone), "the requesters' first comments give their phone numbers").to.equal(true);

    const r = await submit(t, { type: "ACCESS", subject: { email: ADA_PERSON.email }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request.status === "COMPLETED" ? true : undefined), "access COMPLETED", 30_000);
    const got = await download((await exportLink(t, r.id)).url);
    expect(got.status).to.equal(200);
    const { manifest, data, html, readme } = await archiveTexts(got.file!);

    // (Other customers' comments on Ada's own threads are left out too, under their own reason: sharedTickets.test.ts.)
    expect(manifest.leftOut.filter((l) => l.reason === LEFT_OUT_REASON)).to.deep.equal([{ connector: connector.spec.name, category: "SUPPORT", type: "comment", records: others.length, reason: LEFT_OUT_REASON }]);
    for (const c of others) expect(data, `comment ${c.id} by user ${c.author_id} is in the export`).not.to.include(JSON.stringify(c.plain_body).slice(1, -1));
    for (const p of requesters) {
      expect(data, "another person's phone number is in the export").not.to.include(p.phone!);
      expect(html).not.to.include(p.phone!);
    }
    for (const c of own) expect(data, `Ada's own comment ${c.id} is missing`).to.include(`"${c.id}"`);
    expect(html).to.include(`<h2 id="left-out">Left out: other people's data</h2>`);
    expect(html).to.match(new RegExp(`<span class="count">${others.length}</span> comment record\\(s\\) \\(SUPPORT\\), written by other people`));
    expect(readme).to.include(`${connector.spec.name}: ${others.length} comment record(s), ${LEFT_OUT_REASON}`);
  });
});
