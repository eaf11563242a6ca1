import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector category plannedToErase erased redacted plannedToKeep kept residual matchesPlan } residualRecords { connector } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records redacted kept } residual { connector } } }`;

/**
 * An HTTP resource erased by ANONYMIZE (invoices the bookkeeping keeps, PATCHed without the person's
 * fields) stays listed under the person's account. Asked of the API itself: after a deletion through
 * GraphQL, every invoice of hers holds the replacements and nothing of hers but the fields declared
 * kept, and what the request reports (erased, residual, matchesPlan, the certificate) is that.
 */
describeEachDatabase("an HTTP resource erased by ANONYMIZE, in a deletion through the API", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const serviceOver = hooks.serviceOver;

  it("completes, with her invoices anonymised and counted as erased, her notes deleted, and nobody else's touched", async () => {
    t = await serviceOver(restConfig(standIn));
    dateAda(standIn, "old");
    const hers = standIn.invoices.filter((i) => i.user === 1).map((i) => ({ ...i }));
    const notes = standIn.notes.filter((n) => n.user === 1).length;
    const grace = JSON.stringify([standIn.invoices.filter((i) => i.user === 2), standIn.notes.filter((n) => n.user === 2)]);
    expect(hers).to.have.length(3);

    const done = await runVerified(t, SHOW, "DELETION", ADA.email);
    // The API's own items: her invoices hold nothing of hers but the amount and date, her notes are gone.
    expect(standIn.invoices.filter((i) => i.user === 1)).to.deep.equal(hers.map((i) => ({ ...i, billing_name: null, billing_address: null })));
    expect(standIn.notes.filter((n) => n.user === 1)).to.deep.equal([]);
    expect(JSON.stringify([standIn.invoices.filter((i) => i.user === 2), standIn.notes.filter((n) => n.user === 2)]), "Grace's items").to.equal(grace);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    const lines = done.deletionOutcome.filter((l: any) => l.connector === "helpdesk");
    expect(lines).to.deep.equal([
      // Her account, deleted last, once nothing under it was left.
      { connector: "helpdesk", category: "ACCOUNT", plannedToErase: 1, erased: 1, redacted: 0, plannedToKeep: 0, kept: 0, residual: 0, matchesPlan: true },
      // The invoices, patched in place, are the redacted ones; the notes were deleted.
      { connector: "helpdesk", category: "PAYMENTS", plannedToErase: hers.length, erased: hers.length, redacted: hers.length, plannedToKeep: 0, kept: 0, residual: 0, matchesPlan: true },
      { connector: "helpdesk", category: "SUPPORT", plannedToErase: notes, erased: notes, redacted: 0, plannedToKeep: 0, kept: 0, residual: 0, matchesPlan: true },
    ]);
    expect(done.residualRecords).to.deep.equal([]);
    const { deletionCertificate } = await t.ok(CERTIFICATE, { id: done.id });
    expect(deletionCertificate).to.deep.equal({ erased: [{ connector: "helpdesk", records: hers.length + notes + 1, redacted: hers.length, kept: 0 }], residual: [] });
    expect(standIn.users.map((u) => u.id), "the accounts the API holds").to.deep.equal([2, 3, 4]);
    // A second deletion finds nothing of hers: the anonymised invoices are nobody's, and are not patched again.
    const patches = standIn.calls.filter((c) => c.method === "PATCH").length;
    const again = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(again.status, again.statusReason).to.equal("COMPLETED");
    expect(again.deletionOutcome).to.deep.equal([]);
    expect(standIn.calls.filter((c) => c.method === "PATCH").length).to.equal(patches);
  });

  it("with PUT, which replaces the whole record, sends each invoice as listed: the amount and date the bookkeeping keeps stay", async () => {
    dateAda(standIn, "old");
    const config = restConfig(standIn);
    const invoices = config.resources.find((r) => r.recordType === "invoice")!;
    invoices.erase = { ...(invoices.erase as Extract<typeof invoices.erase, { strategy: "ANONYMIZE" }>), method: "PUT" };
    t = await serviceOver(config);
    const hers = standIn.invoices.filter((i) => i.user === 1).map((i) => ({ ...i }));
    const done = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(standIn.calls.filter((c) => c.method === "PUT")).to.have.length(hers.length);
    // The API's own invoices: still hers in the books (user, amount, date), nothing else of hers.
    expect(standIn.invoices.filter((i) => i.user === 1)).to.deep.equal(hers.map((i) => ({ ...i, billing_name: null, billing_address: null })));
    expect(done.status, done.statusReason).to.equal("COMPLETED");
  });

  it("fails, counting nothing erased, when the API answers the patch but keeps a field of hers", async () => {
    // The API treats the billing address as read-only: it answers 200 and keeps it.
    standIn.patchIgnores = ["billing_address"];
    dateAda(standIn, "old");
    t = await serviceOver(restConfig(standIn));
    const done = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(standIn.invoices.filter((i) => i.user === 1).map((i) => [i.billing_name, i.billing_address])).to.deep.equal(Array(3).fill([null, "12 St James's Square"]));
    expect(done.status).to.equal("FAILED");
    expect(done.statusReason).to.include("found 3 record(s) still present outside the retention exceptions (PAYMENTS: 3)");
    expect(done.deletionOutcome).to.deep.equal([]);
  });
});
