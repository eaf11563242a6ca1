import { expect } from "chai";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachDatabase } from "../support/databases";
import { approved, ended, sum } from "../support/harness";
import { sampleService } from "./sampleService";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  retentionExceptions { id connector recordCount status }
  tasks { connector step status outcome { remaining confirmation keptByEarlier { records requests exceptions identityKinds } } } } }`;

/**
 * A second deletion of a person while the first is still at work (in its closing passes, after it
 * erased the account row that provided the payment customer id): the first has written what its
 * payments erasure keeps, the second cannot look for it. The second's payments line said READ_BACK,
 * remaining 0, while Stripe held every record the first keeps; only ended deletions were looked at.
 */
describeEachDatabase("a deletion while another deletion of the person is still at work", (db) => {
  const sample = sampleService(db);

  it("says on its payments line that it could not look where the other one keeps records", async function () {
    this.timeout(180_000);
    const { ws, t } = await sample.start();
    const ada = ws.people.find((p) => p.email === ADA)!;
    const customer = ada.paymentCustomerId!;
    // Stripe refuses the first pass's job (its oldest charge), so the payments closing pass starts a job of its own, which waits.
    const oldest = ws.stripe.store.all("charge").filter((c) => c.customer === customer).sort((a, b) => (a.created as number) - (b.created as number))[0];
    ws.stripe.redaction.refuse.add(oldest.id);
    const deleting = ws.zendesk.faults.pause({ method: "DELETE", path: "/api/v2/tickets/" });
    const first = { id: await approved(t, { type: "DELETION", subject: { email: ADA } }) };
    const erase = (r: any, connector: string) => r.tasks.find((x: any) => x.connector === connector && x.step === "ERASE");
    await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: first.id })).request;
      return erase(now, "payments").status === "SUCCEEDED" ? true : undefined;
    }, "the first deletion's payments first pass ended", 60_000);
    ws.stripe.redaction.paused = true;
    await deleting.reached;
    deleting.release();
    const inFlight = await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: first.id })).request;
      return erase(now, "account-db").status === "SUCCEEDED" && erase(now, "payments").status === "REMOTE_PROCESSING" ? now : undefined;
    }, "the first deletion's payments closing pass waits for Stripe", 60_000);
    expect(inFlight.status).to.equal("IN_PROGRESS");

    // The second is for a person under 18, which the first was not: it does its own work (a second
    // adult deletion would follow the first). It cannot name Ada's phone for that: with her row erased,
    // no row of hers confirms it, and the account database refuses it rather than trust it.
    const second = await approved(t, { type: "DELETION", subject: { email: ADA }, concernsMinor: true });
    const done = await ended(t, SHOW, second, { what: "the second deletion ended" });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const firstNow = (await t.ok(SHOW, { id: first.id })).request;
    expect(firstNow.status, "the first deletion is still at work").to.equal("IN_PROGRESS");
    const kept = firstNow.retentionExceptions.filter((e: any) => e.connector === "payments" && e.status === "OPEN");
    // Stripe itself: everything the first deletion keeps there is still there.
    const held = (await collectAll(ws.connectors.find((c) => c.spec.name === "payments")!, { email: ADA, paymentCustomerId: customer })).length;
    expect(held, "Stripe holds at least what the first deletion keeps").to.be.at.least(sum(kept, (e: any) => e.recordCount));
    const line = erase(done, "payments").outcome;
    expect(line.confirmation, `the second deletion's payments line (${JSON.stringify(line)})`).to.equal("NOT_REACHED");
    expect({ ...line.keptByEarlier, exceptions: [...line.keptByEarlier.exceptions].sort() }).to.deep.equal({
      records: sum(kept, (e: any) => e.recordCount),
      requests: [first.id],
      exceptions: kept.map((e: any) => e.id).sort(),
      identityKinds: ["paymentCustomerId"],
    });
  });
});
