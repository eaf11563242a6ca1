import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { submitVerified, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { deferred } from "../db/support";
import { ADA_EMAIL, FAST, heldCollect } from "./support";

/**
 * A staged batch that no longer opens (altered in the database) fails the export for good (reading it
 * again gives the same bytes): the EXPORT task fails with a reason a person can act on, the request
 * with it, and the process that ran it goes on answering. Before, the
 * archive's source failed with an 'error' event no one listened to, which ended the process.
 */
describeEachDatabase("an export whose staged records cannot be read", (db) => {
  let t: TestService;
  let gate = deferred();
  after(async () => {
    gate.resolve();
    await t?.stop();
  });

  it("fails the EXPORT and the request, and the service keeps answering", async function () {
    this.timeout(60_000);
    gate = deferred();
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"], supports: ["access"] }).seed(ADA_EMAIL, 50);
    // A second COLLECT that ends only when the test says so: the EXPORT waits for it.
    const held = heldCollect(gate.promise);
    t = await new TestService(db(), FAST, [accounts, held]).start();
    const id = (await submitVerified(t)).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    const staged = async () => (await t.ds.query(`SELECT id, payload FROM staged_batches WHERE requestId = ? AND connector = 'accounts'`, [id])) as Array<{ id: string; payload: Buffer }>;
    await t.waitFor(async () => ((await staged()).length ? true : undefined), "accounts' records staged", 20_000);
    // One byte of the sealed batch changed: AES-GCM no longer authenticates it.
    const [batch] = await staged();
    const altered = Buffer.from(batch.payload);
    altered[altered.length - 20] ^= 0xff;
    await t.ds.query(`UPDATE staged_batches SET payload = ? WHERE id = ?`, [altered, batch.id]);
    gate.resolve();
    const show = async () => (await t.ok(`query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError } } }`, { id })).request;
    const failed = await t.waitFor(async () => {
      const r = await show();
      return r.status === "FAILED" ? r : undefined;
    }, "the request FAILED", 20_000);
    const exportTask = failed.tasks.find((x: { step: string }) => x.step === "EXPORT");
    expect(exportTask.status).to.equal("FAILED");
    expect(exportTask.lastError).to.equal("Records collected for this request could not be read back: they were altered or damaged after they were collected. Submit a new request");
    // Still answering, and the audit trail is whole.
    expect((await t.ok(`{ verifyAuditTrail(full: true) { ok } }`)).verifyAuditTrail.ok).to.equal(true);
    const health = await fetch(new URL("/healthz", t.url));
    expect(health.status).to.equal(200);
  });
});
