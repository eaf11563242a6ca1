import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { verifyCertificateWithKey } from "../../src/certificates/verifyFile";
import pino from "pino";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import type { Identities } from "../../src/connectors/sdk";
import { describeEachDatabase, tempDir } from "../support/databases";
import { approved, ended, sum, TestService } from "../support/harness";
import { Role } from "../../src/domain/enums";

const KEN = "ken.conway.7@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason retentionExceptions { id connector category recordCount status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { kept { connector records status } } }`;
const ERASES = `query($id: ID!) { request(id: $id) { tasks { connector step outcome { erased kept remaining confirmation } } } }`;
const DAY = 86_400_000;
const PURGES = `query($id: ID!) { request(id: $id) { retentionExceptions { connector status retainUntil } tasks { connector step status } } }`;
const CERTIFIED = `query($id: ID!) { deletionCertificate(requestId: $id) { signed issuedAt erased { connector keptByEarlier { records countedAt exceptions stillOpen } } } certificatePublicKey { pem } }`;
const UNREACHED = `query($id: ID!) {
  request(id: $id) { tasks { connector step outcome { keptByEarlier { records requests exceptions identityKinds countedAt } } } }
  deletionCertificate(requestId: $id) { signed erased { connector records kept confirmation keptByEarlier { records requests identityKinds } } }
  certificatePublicKey { pem } }`;

/**
 * A second deletion of a person whose first deletion kept payments and tickets (the 7- and 5-year
 * rules), submitted by the same address after the first erased the account database's row: it can no
 * longer resolve the payment customer id or the ticketing user id, reads back nothing of the kept
 * records, and took them for erased, closing the first deletion's exceptions (its certificate then said
 * nothing was kept) while Stripe and Zendesk still held every one. Found by test/interleavingMix.test.ts
 * (seed 123788 on SQLite: 8 payment records and 4 ticket records held, the first deletion keeping 0).
 */
describeEachDatabase("a later deletion of a person that cannot reach what an earlier one kept", (db) => {
  let ws: SampleWorkspace;
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  let deletion: () => Promise<any>;
  let open: (r: any, connector: string) => number;
  let held: (connector: string) => Promise<number>;

  beforeEach(async function () {
    this.timeout(120_000);
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 20, people: 10, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors).start();
    const ids: Identities = { email: KEN, ...(await ws.connectors[0].resolve!({ email: KEN }, testContext())) };
    deletion = async () => {
      t.clock.advance(1000);
      const id = await approved(t, { type: "DELETION", subject: { email: KEN } });
      return { id, ...(await ended(t, SHOW, id, { tickMs: 1000, timeoutMs: 60_000, what: "deletion ended" })) };
    };
    open = (r: any, connector: string) => sum(r.retentionExceptions.filter((e: any) => e.connector === connector && e.status === "OPEN"), (e: any) => e.recordCount);
    held = async (connector: string) => (await collectAll(ws.connectors.find((c) => c.spec.name === connector)!, ids, testContext())).length;
  });

  it("leaves the earlier deletion's exceptions open while the systems hold what they keep", async function () {
    this.timeout(120_000);
    const first = await deletion();
    expect(first.status, first.statusReason).to.equal("COMPLETED");
    const kept = { payments: await held("payments"), ticketing: await held("ticketing") };
    expect(kept.payments, "the first deletion kept payments").to.be.greaterThan(0);
    expect(open(first, "payments")).to.equal(kept.payments);
    expect(open(first, "ticketing")).to.equal(kept.ticketing);

    await deletion();
    const after = (await t.ok(SHOW, { id: first.id })).request;
    expect({ payments: await held("payments"), ticketing: await held("ticketing") }, "the systems still hold what the first deletion kept").to.deep.equal(kept);
    expect({ payments: open(after, "payments"), ticketing: open(after, "ticketing") }, "the first deletion's open exceptions").to.deep.equal(kept);
    const certificate = (await t.ok(CERTIFICATE, { id: first.id })).deletionCertificate;
    const certified = (connector: string) => sum(certificate.kept.filter((e: any) => e.connector === connector && e.status === "OPEN"), (e: any) => e.records);
    expect({ payments: certified("payments"), ticketing: certified("ticketing") }, "the first deletion's certificate").to.deep.equal(kept);
  });

  /**
   * The later deletion's own line for the payment processor said it read Stripe back and found nothing
   * (remaining 0, READ_BACK; its certificate: 0 erased, 0 kept, READ_BACK) while Stripe held the 8 records
   * the first deletion kept: it could not look for them, lacking the customer id. Now it says so.
   */
  it("says, on its own line, that it could not look where the earlier one keeps records, naming them", async function () {
    this.timeout(120_000);
    const first = await deletion();
    expect(first.status, first.statusReason).to.equal("COMPLETED");
    const second = await deletion();
    expect(second.status, second.statusReason).to.equal("COMPLETED");
    const stripeHolds = await held("payments");
    expect(stripeHolds, "Stripe still holds what the first deletion kept").to.equal(open(first, "payments")).and.to.be.greaterThan(0);
    const erase = (r: any, connector: string) => r.tasks.find((x: any) => x.connector === connector && x.step === "ERASE");
    const line = erase((await t.ok(ERASES, { id: second.id })).request, "payments").outcome;
    expect(line.confirmation, `the later erasure's payments line (${JSON.stringify(line)})`).to.equal("NOT_REACHED");
    const report = await t.ok(UNREACHED, { id: second.id });
    const exceptions = first.retentionExceptions.filter((e: any) => e.connector === "payments" && e.status === "OPEN").map((e: any) => e.id).sort();
    const outcome = erase(report.request, "payments").outcome.keptByEarlier;
    expect({ ...outcome, exceptions: [...outcome.exceptions].sort(), countedAt: undefined }, "what the first deletion keeps at Stripe, named").to.deep.equal({
      countedAt: undefined,
      records: stripeHolds,
      requests: [first.id],
      exceptions,
      identityKinds: ["paymentCustomerId"],
    });
    const certified = report.deletionCertificate.erased.find((e: any) => e.connector === "payments");
    expect(certified).to.deep.equal({ connector: "payments", records: 0, kept: 0, confirmation: "NOT_REACHED", keptByEarlier: { records: stripeHolds, requests: [first.id], identityKinds: ["paymentCustomerId"] } });
    // The account database's line is read back whole: the row is gone, nothing was kept there.
    expect(erase(report.request, "account-db").outcome.keptByEarlier).to.equal(null);
    expect(report.deletionCertificate.erased.find((e: any) => e.connector === "account-db").confirmation).to.equal("READ_BACK");
    // What `dsr certificate verify` says of the signed file.
    const file = path.join(tempDir("dsr-reach-"), "certificate.json");
    fs.writeFileSync(file, report.deletionCertificate.signed);
    const verified = verifyCertificateWithKey(file, report.certificatePublicKey.pem);
    expect(verified.ok).to.equal(true);
    const countedAt = erase(report.request, "payments").outcome.keptByEarlier.countedAt;
    expect((verified as { line: string }).line).to.include(`${stripeHolds} kept in payments by earlier deletion(s) ${first.id} as counted at ${countedAt}, not looked for (no paymentCustomerId)`);
  });

  /**
   * The later deletion's certificate, issued after the earlier deletion's purge erased what it kept at
   * Stripe, still said "8 kept in payments by earlier deletion(s) ..., not looked for": Stripe held none
   * of them, and every exception it named was closed. It now says when it counted them, and which of
   * those exceptions were still open when it was issued.
   */
  it("says when it counted them, and that their exceptions closed since, in a certificate issued after the earlier one's purge", async function () {
    this.timeout(180_000);
    const first = await deletion();
    const second = await deletion();
    expect(second.status, second.statusReason).to.equal("COMPLETED");
    const stripeHeld = await held("payments");
    expect(stripeHeld, "Stripe holds what the first deletion keeps").to.be.greaterThan(0);
    const until = Math.max(...(await t.ok(PURGES, { id: first.id })).request.retentionExceptions.filter((e: any) => e.connector === "payments").map((e: any) => new Date(e.retainUntil).getTime()));
    t.clock.advance(until - t.clock.now().getTime() + DAY);
    const purged = await t.waitFor(async () => {
      t.clock.advance(1000);
      const r = (await t.ok(PURGES, { id: first.id })).request;
      const purge = r.tasks.find((x: any) => x.connector === "payments" && x.step === "PURGE");
      return purge?.status === "SUCCEEDED" && r.retentionExceptions.filter((e: any) => e.connector === "payments").every((e: any) => e.status === "CLOSED") ? r : undefined;
    }, "the first deletion's payments purge ended", 90_000);
    expect(purged.tasks.find((x: any) => x.connector === "payments" && x.step === "PURGE").status).to.equal("SUCCEEDED");
    expect(await held("payments"), "Stripe no longer holds what the first deletion kept").to.equal(0);

    const report = await t.ok(CERTIFIED, { id: second.id });
    const line = report.deletionCertificate.erased.find((e: any) => e.connector === "payments").keptByEarlier;
    expect(line.records, "as counted then").to.equal(stripeHeld);
    expect(line.stillOpen, "none of the exceptions it names is open when it is issued").to.deep.equal([]);
    expect(new Date(line.countedAt).getTime()).to.be.below(until);
    const file = path.join(tempDir("dsr-reach-"), "certificate.json");
    fs.writeFileSync(file, report.deletionCertificate.signed);
    const verified = verifyCertificateWithKey(file, report.certificatePublicKey.pem);
    expect(verified.ok).to.equal(true);
    expect((verified as { line: string }).line).to.include(
      `${stripeHeld} kept in payments by earlier deletion(s) ${first.id} as counted at ${line.countedAt} (${line.exceptions.length} of their ${line.exceptions.length} exception(s) closed since: those records may be gone)`,
    );
  });

  /**
   * The holder's second deletion, from the settings page (a SERVICE token), named the privacy team's
   * earlier deletion of the same person by id in its task outcome and on its certificate, though a
   * SERVICE token is never told of another token's request (README "Roles": duplicateOf is null for it).
   */
  it("tells a SERVICE token, on its deletion's tasks and certificate, no other token's request keeping records, and still the count", async function () {
    this.timeout(120_000);
    const first = await deletion();
    expect(first.status, first.statusReason).to.equal("COMPLETED");
    t.clock.advance(1000);
    const { requestAccountDeletion: own } = await t.ok(`mutation { requestAccountDeletion(input: { idempotencyKey: "settings-ken-0002", subject: { email: "${KEN}" } }) { id } }`, {}, Role.SERVICE);
    const second = await ended(t, SHOW, own.id, { tickMs: 1000, timeoutMs: 60_000, what: "settings deletion ended" });
    expect(second.status, second.statusReason).to.equal("COMPLETED");
    const stripeHolds = await held("payments");
    expect(stripeHolds, "Stripe holds what the first deletion kept").to.be.greaterThan(0);
    const payments = (report: any) => ({
      task: report.request.tasks.find((x: any) => x.connector === "payments" && x.step === "ERASE").outcome.keptByEarlier,
      certified: report.deletionCertificate.erased.find((e: any) => e.connector === "payments").keptByEarlier,
    });
    const asAdmin = payments(await t.ok(UNREACHED, { id: own.id }, Role.ADMIN));
    expect([asAdmin.task.requests, asAdmin.certified.requests], "the privacy team sees which deletion keeps them").to.deep.equal([[first.id], [first.id]]);
    const report = await t.ok(UNREACHED, { id: own.id }, Role.SERVICE);
    const asService = payments(report);
    expect([asService.task.requests, asService.certified.requests], "the settings backend is not told of it").to.deep.equal([[], []]);
    expect(report.deletionCertificate.signed, "nor in the signed file").not.to.include(first.id);
    expect([asService.task.records, asService.certified.records], "the count stands").to.deep.equal([stripeHolds, stripeHolds]);
    const file = path.join(tempDir("dsr-reach-"), "certificate.json");
    fs.writeFileSync(file, report.deletionCertificate.signed);
    const verified = verifyCertificateWithKey(file, report.certificatePublicKey.pem);
    expect(verified.ok).to.equal(true);
    expect((verified as { line: string }).line).to.include(`${stripeHolds} kept in payments by earlier deletion(s) as counted at ${asService.task.countedAt}, not looked for (no paymentCustomerId)`);
  });
});
