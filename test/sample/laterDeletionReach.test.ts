import { expect } from "chai";
import pino from "pino";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import type { Identities } from "../../src/connectors/sdk";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, sum, TestService } from "../support/harness";

const KEN = "ken.conway.7@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason retentionExceptions { connector category recordCount status } } }`;
const CERTIFICATE = `query($id: ID!) { deletionCertificate(requestId: $id) { kept { connector records status } } }`;

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

  it("leaves the earlier deletion's exceptions open while the systems hold what they keep", async function () {
    this.timeout(120_000);
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 20, people: 10, redactionPollMs: 1 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors).start();
    const ids: Identities = { email: KEN, ...(await ws.connectors[0].resolve!({ email: KEN }, testContext())) };
    const deletion = async () => {
      t.clock.advance(1000);
      const r = await submit(t, { type: "DELETION", subject: { email: KEN }, identityVerified: true, verificationEvidence: "signed-in session" });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      return t.waitFor(async () => {
        t.clock.advance(1000);
        const { request } = await t.ok(SHOW, { id: r.id });
        return ["COMPLETED", "FAILED"].includes(request.status) ? { id: r.id, ...request } : undefined;
      }, "deletion ended", 60_000);
    };
    const open = (r: any, connector: string) => sum(r.retentionExceptions.filter((e: any) => e.connector === connector && e.status === "OPEN"), (e: any) => e.recordCount);
    const held = async (connector: string) => (await collectAll(ws.connectors.find((c) => c.spec.name === connector)!, ids, testContext())).length;

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
});
