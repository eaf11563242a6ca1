import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { ExportRow } from "../../src/entities";
import { describeEachDatabase } from "../support/databases";
import { submitVerified, TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { deferred } from "../db/support";
import { ADA_EMAIL, FAST, heldCollect } from "./support";

/**
 * A request has one archive row (a unique index on requestId). A first EXPORT attempt inserts its row
 * without looking for an earlier one (it cannot have one of its own); a row that is there anyway makes
 * that attempt fail, never a second row, and the next attempt replaces it and says so in the trail.
 */
describeEachDatabase("an export row already there when the EXPORT records its archive", (db) => {
  let t: TestService;
  let gate = deferred();
  after(async () => {
    gate.resolve();
    await t?.stop();
  });

  it("fails the first attempt rather than keep two, and the retry replaces the row and records what it replaced", async function () {
    this.timeout(60_000);
    gate = deferred();
    const accounts = new ScriptedConnector({ name: "accounts", categories: ["ACCOUNT"], supports: ["access"] }).seed(ADA_EMAIL, 20);
    // A second COLLECT that ends only when the test says so: the EXPORT waits for it.
    const held = heldCollect(gate.promise);
    t = await new TestService(db(), { ...FAST, DSR_TASK_MAX_ATTEMPTS: "3", DSR_RETRY_BASE_MS: "1", DSR_RETRY_MAX_MS: "5" }, [accounts, held]).start();
    const id = (await submitVerified(t)).id;
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id });
    const stale = Object.assign(new ExportRow(), {
      id: randomUUID(),
      requestId: id,
      taskId: randomUUID(),
      storage: "local",
      objectKey: `exports/${id}/stale.zip.enc`,
      keyRef: "local:stale",
      encryptedBytes: 1,
      records: 1,
      files: 1,
      sha256: "0".repeat(64),
      createdAt: t.clock.now(),
      expiresAt: new Date(t.clock.now().getTime() + 86_400_000),
    });
    await t.ds.getRepository(ExportRow).insert(stale);
    gate.resolve();
    const show = async () => (await t.ok(`query($id: ID!) { request(id: $id) { status tasks { step status attempts } } }`, { id })).request;
    const done = await t.waitFor(async () => {
      t.clock.advance(1000); // the retry is due on the service's (manual) clock
      const r = await show();
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "the request ended", 30_000);
    expect(done.status).to.equal("COMPLETED");
    expect(done.tasks.find((x: { step: string }) => x.step === "EXPORT")).to.include({ status: "SUCCEEDED", attempts: 2 });
    const rows = await t.ds.getRepository(ExportRow).findBy({ requestId: id });
    expect(rows).to.have.length(1);
    expect(rows[0].id).not.to.equal(stale.id);
    expect(rows[0].records).to.equal(20);
    const stored: Array<{ details: string }> = await t.ds.query(`SELECT details FROM audit_events WHERE requestId = ? AND action = 'export.stored'`, [id]);
    expect(stored.map((e) => JSON.parse(e.details))).to.have.length(1);
    expect(JSON.parse(stored[0].details)).to.include({ exportId: rows[0].id, replaced: stale.id, records: 20 });
    expect((await t.ok(`{ verifyAuditTrail(full: true) { ok } }`)).verifyAuditTrail.ok).to.equal(true);
  });
});
