import { expect } from "chai";
import { ZendeskStandIn, ZendeskUser } from "../../src/sample/zendesk";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { expectedRecordCount, GRACE_PERSON, ticketsTiedTo } from "../connectors/support/zendeskStandIn";
import { exportedManifest, finishedRequest, zendeskService } from "../export/support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason notSearched { recordType reason } tasks { connector step status outcome { records erased } } } }`;
/** Someone who never wrote to support: Zendesk has no user of hers. */
const NADIA = "nadia.new@example.org";

/**
 * Zendesk lists every email identity of a user with whether it was verified, and its user search finds
 * a user by an unverified one too: an agent typed it onto the profile, or the user added it and never
 * followed the verification link. Such an address is a claim, not proof: here Grace's profile carries
 * Nadia's address, unverified. The connector took any email identity as the subject's, so Nadia's
 * access exported Grace's profile and tickets, and her deletion deleted them. Checked against the
 * stand-in's own data and the export.
 */
describeEachDatabase("a ticketing user holding the subject's address unverified", (db) => {
  let z: ZendeskStandIn;
  let t: TestService;
  let stop: () => Promise<void>;
  let grace: ZendeskUser;
  beforeEach(async function () {
    this.timeout(60_000);
    // Support threads kept 30 days: a deletion erases every one of these threads rather than keep them for a later purge.
    ({ z, t, stop } = await zendeskService(db(), "30 days"));
    grace = z.store.state.users.find((u) => u.email.toLowerCase() === GRACE_PERSON.email.toLowerCase())!;
    grace.unverified_emails = ["Nadia.New@Example.org"];
  });
  afterEach(() => stop?.());

  const finished = (type: string, email: string) => finishedRequest(t, type, email, SHOW);
  /** Grace as Zendesk holds her: her profile and every ticket that leads to her. */
  const graceAtZendesk = () => JSON.stringify({ user: z.store.user(grace.id), tickets: ticketsTiedTo(z, grace.id) });

  it("exports none of Grace's records for Nadia's access, and her deletion leaves Grace's user and tickets as they were", async function () {
    this.timeout(90_000);
    const before = graceAtZendesk();
    expect(expectedRecordCount(z, grace.id), "Grace's records at Zendesk").to.be.greaterThan(1);

    const access = await finished("ACCESS", NADIA);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const collect = access.tasks.find((x: any) => x.step === "COLLECT");
    expect(collect.outcome.records, "records collected for Nadia").to.equal(0);
    const manifest = await exportedManifest(t, access.id);
    expect(manifest.files.reduce((n: number, f: { records: number }) => n + f.records, 0), "records in Nadia's export").to.equal(0);
    // The request says a user was passed over, and why, naming no one.
    expect(access.notSearched.map((x: any) => x.reason)).to.satisfy((reasons: string[]) => reasons.some((r) => r.includes("unverified email identity")));
    expect(JSON.stringify(access.notSearched)).not.to.include(grace.email).and.not.to.include(String(grace.id));

    const deletion = await finished("DELETION", NADIA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(graceAtZendesk(), "Grace's user and tickets at Zendesk").to.equal(before);
    expect(z.store.effects).to.deep.include({ userSoftDeletes: 0, userPermanentDeletes: 0, ticketSoftDeletes: 0, commentRedactions: 0, ccRemovals: 0 });
  });

  it("exports none of Grace's records when Nadia's address is Grace's primary one, unverified, and her deletion leaves them", async function () {
    // An agent put Nadia's address on Grace's profile as its primary email (or created the user with
    // it), and nobody followed Zendesk's verification link: the user's `email` shows it all the same.
    this.timeout(90_000);
    grace.unverified_emails = [];
    grace.email = "Nadia.New@Example.org";
    grace.primary_email_verified = false;
    grace.verified = false;
    const before = graceAtZendesk();

    const access = await finished("ACCESS", NADIA);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.tasks.find((x: any) => x.step === "COLLECT").outcome.records, "records collected for Nadia").to.equal(0);
    const manifest = await exportedManifest(t, access.id);
    expect(manifest.files.reduce((n: number, f: { records: number }) => n + f.records, 0), "records in Nadia's export").to.equal(0);
    expect(access.notSearched.map((x: any) => x.reason)).to.satisfy((reasons: string[]) => reasons.some((r) => r.includes("unverified email identity")));

    const deletion = await finished("DELETION", NADIA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(graceAtZendesk(), "Grace's user and tickets at Zendesk").to.equal(before);
    expect(z.store.effects).to.deep.include({ userSoftDeletes: 0, userPermanentDeletes: 0, ticketSoftDeletes: 0, commentRedactions: 0, ccRemovals: 0 });
  });

  it("still finds Grace by her address once it is a verified identity of hers", async function () {
    this.timeout(60_000);
    grace.unverified_emails = [];
    grace.secondary_emails = ["Nadia.New@Example.org"];
    const access = await finished("ACCESS", NADIA);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(expectedRecordCount(z, grace.id));
  });
});
