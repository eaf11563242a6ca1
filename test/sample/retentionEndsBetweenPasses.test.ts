import { expect } from "chai";
import { collectAll } from "../../src/connectors/testing/conformance";
import { personalFields, retainedFromOf, StripeKind } from "../../src/connectors/stripe/records";
import { shiftByPeriod } from "../../src/domain/retention";
import { describeEachDatabase } from "../support/databases";
import { approved, ended, sum } from "../support/harness";
import { sampleService } from "./sampleService";

const ADA = "ada.lovelace@example.com";
const DAY = 86_400_000;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason
  deletionOutcome { connector category plannedFound plannedToErase plannedToKeep erased redacted kept residual matchesPlan differences { kind records } }
  retentionExceptions { connector category recordType recordCount retainUntil status }
  tasks { connector step status lastError } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { erased { connector records residual } kept { connector records status } } }`;

/**
 * A retention period that ends while a deletion is under way, after the connector was told what to keep
 * and before the erasure was verified: here while Stripe's redaction jobs of the payments erasure are at
 * work. The erase kept what the rule kept when it was called; the poll that found the jobs ended
 * verified against the rule as it stood at that later instant, took the records that had aged out
 * meanwhile for records the erasure failed to remove, and FAILED the request ("Verification after
 * erasure found 6 record(s) still present") for records the service itself had chosen to keep.
 */
describeEachDatabase("a retention period that ends while a deletion is under way", (db) => {
  const sample = sampleService(db);

  it("does not fail the deletion: what aged out is erased by the closing pass, and the report equals what Stripe holds", async function () {
    this.timeout(180_000);
    const { ws, t } = await sample.start();
    const customer = ws.people.find((p) => p.email === ADA)!.paymentCustomerId!;
    // Stripe takes its time with the payments erasure's redaction jobs.
    ws.stripe.redaction.paused = true;
    const r = { id: await approved(t, { type: "DELETION", subject: { email: ADA } }) };
    await t.waitFor(async () => {
      t.clock.advance(2);
      const now = (await t.ok(SHOW, { id: r.id })).request;
      return now.tasks.some((x: any) => x.connector === "payments" && x.step === "ERASE" && x.status === "REMOTE_PROCESSING") ? true : undefined;
    }, "the payments erasure waits for Stripe's redaction jobs", 60_000);
    // 100 days on while the jobs work: some charges and invoices the erase kept are now past the 7-year rule.
    t.clock.advance(100 * DAY);
    const cutoff = shiftByPeriod(t.clock.now(), { years: 7, days: 0 }, -1).getTime();
    ws.stripe.redaction.paused = false;
    const done = await ended(t, SHOW, r.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");

    // Stripe itself: what the payments connector still finds of Ada, and how much of it is past the rule now.
    const held = (await collectAll(ws.connectors.find((c) => c.spec.name === "payments")!, { email: ADA, paymentCustomerId: customer })).length;
    const pastRule = (["charge", "invoice"] as StripeKind[]).reduce(
      (n, kind) => n + ws.stripe.store.all(kind).filter((o) => o.customer === customer && retainedFromOf(kind, o)!.getTime() < cutoff && personalFields(kind, o).length > 0).length,
      0,
    );
    const line = done.deletionOutcome.find((o: any) => o.connector === "payments");
    const open = done.retentionExceptions.filter((e: any) => e.connector === "payments" && e.status === "OPEN");
    expect(pastRule, "nothing past the 7-year rule still holds Ada's data at Stripe").to.equal(0);
    expect(line.kept, "kept: what Stripe holds").to.equal(held);
    expect(line.residual).to.equal(0);
    expect(line.erased + line.kept + line.residual, "each record counted once").to.equal(line.plannedFound);
    expect(line.differences, "the records that aged out are named").to.deep.equal([{ kind: "RETENTION_MOVED", records: line.plannedToKeep - line.kept }]);
    expect(line.plannedToKeep - line.kept, "some records aged out while the jobs worked").to.be.greaterThan(0);
    expect(sum(open, (e: any) => e.recordCount), "the open exceptions: what Stripe holds").to.equal(held);
    for (const e of open) expect(new Date(e.retainUntil).getTime(), "an open exception ends after now").to.be.greaterThan(t.clock.now().getTime());
    const certificate = (await t.ok(CERTIFICATE, { id: r.id })).deletionCertificate;
    expect(sum(certificate.kept.filter((e: any) => e.connector === "payments" && e.status === "OPEN"), (e: any) => e.records), "the certificate's kept: what Stripe holds").to.equal(held);
    expect(certificate.erased.find((e: any) => e.connector === "payments").records, "the certificate's erased: the outcome's").to.equal(line.erased);
  });
});
