import { expect } from "chai";
import { normalizeEmail } from "../../src/domain/identities";
import { createStripeConnector } from "../../src/connectors/stripe";
import { samplePeople } from "../../src/sample/people";
import { startStripeStandIn, StripeStandIn } from "../../src/sample/stripe";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { runVerified } from "./support";
import { archiveTexts, download, exportLink } from "../export/support";

const API_KEY = "sk_test_dsr_fresh_customer";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { connector step status outcome { records erased kept } } } }`;

/**
 * Stripe's Search API lags behind writes (its documentation: usually under a minute, not for
 * read-after-write). A checkout made just before the person asks leaves a customer that search does
 * not return yet: an access export without it, a deletion COMPLETED with it in place, and a check
 * after erasing (search again) that does not see it either. Asked of the stand-in's own store, with
 * its search index a minute behind.
 */
describeEachDatabase("a Stripe customer made moments before the request", (db) => {
  const grace = samplePeople(2)[1];
  let stripe: StripeStandIn;
  let t: TestService;
  beforeEach(async () => {
    stripe = await startStripeStandIn({ apiKey: API_KEY, people: [grace] });
    const connector = createStripeConnector({ apiKey: API_KEY, host: "127.0.0.1", port: stripe.port, protocol: "http" });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, [connector]).start();
  });
  afterEach(async () => {
    await t?.stop();
    await stripe?.close();
  });

  /** Live customers with the address, from the stand-in's own store. */
  const liveCustomers = () =>
    stripe.store
      .all("customer")
      .filter((c) => !c.deleted && typeof c.email === "string" && normalizeEmail(c.email) === normalizeEmail(grace.email))
      .map((c) => c.id)
      .sort();

  it("is found, exported, and counted by a deletion (kept by the tax rule, as every recent payment record): the customers themselves are read, not only the search index", async function () {
    this.timeout(60_000);
    const baseline = await runVerified(t, SHOW, "ACCESS", grace.email);
    const found = (request: any, step: string) => request.tasks.find((x: any) => x.connector === "payments" && x.step === step).outcome;
    const seeded = found(baseline, "COLLECT").records;
    stripe.store.searchLagMs = 60_000;
    // Two guest checkouts a moment ago: one stored as typed in lower case, one in upper case.
    const now = Math.floor(Date.now() / 1000);
    for (const [id, email] of [["cus_fresh_lower", grace.email.toLowerCase()], ["cus_fresh_upper", grace.email.toUpperCase()]]) {
      stripe.store.put({ id, object: "customer", created: now, email, name: grace.name, metadata: {}, livemode: false }, "test.checkout");
    }
    const searched = await fetch(`${stripe.url}/v1/customers/search?query=${encodeURIComponent(`email:'${grace.email}'`)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(((await searched.json()) as { data: Array<{ id: string }> }).data.map((c) => c.id), "what search answers now").to.deep.equal([grace.paymentCustomerId]);

    const access = await runVerified(t, SHOW, "ACCESS", grace.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(found(access, "COLLECT").records).to.equal(seeded + 2);
    const { data } = await archiveTexts((await download((await exportLink(t, access.id)).url)).file!);
    for (const id of ["cus_fresh_lower", "cus_fresh_upper"]) expect(data, id).to.include(`"${id}"`);

    const deletion = await runVerified(t, SHOW, "DELETION", grace.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    // Created now, they are inside the 7-year rule as every payment record is: kept and counted, not passed by.
    expect(found(deletion, "ERASE")).to.include({ kept: seeded + 2 });
    expect(liveCustomers()).to.include.members(["cus_fresh_lower", "cus_fresh_upper"]);
    const { request } = await t.ok(`query($id: ID!) { request(id: $id) { retentionExceptions { recordType recordCount } } }`, { id: deletion.id });
    expect(request.retentionExceptions.find((e: any) => e.recordType === "customer").recordCount).to.equal(3);
  });
});
