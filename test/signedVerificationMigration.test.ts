import { expect } from "chai";
import { sealCheckpoint } from "../src/audit/checkpointer";
import { migrate } from "../src/db/dataSource";
import { Role } from "../src/domain/enums";
import { describeEachDatabase } from "./support/databases";
import { submitVerified, TestService } from "./support/harness";

const VERIFY = `query($full: Boolean) { verifyAuditTrail(full: $full) { ok full fromCheckpoint latestCheckpoint problems { kind checkpoint } } }`;

/**
 * Upgrading an installation whose verifications left unsigned marks (before SignedVerification): the
 * migration clears them, so the first verification afterwards checks everything and finds the trail
 * intact (no mark is taken for tampering), signs its own mark, and the next one starts from it.
 */
describeEachDatabase("SignedVerification migration on an installation in use", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });

  it("clears the unsigned marks, verifies in full once, then starts from the mark it signed", async () => {
    t = await new TestService(db()).start();
    await submitVerified(t);
    await sealCheckpoint(t.service.services);
    // The installation as the previous version left it: no signature column, a plain mark on checkpoint 1
    // (every migration from SignedVerification on undone, the later ones first).
    for (;;) {
      const [last] = await t.ds.query(`SELECT name FROM migrations ORDER BY timestamp DESC LIMIT 1`);
      await t.ds.undoLastMigration({ transaction: "none" });
      if (last.name === "SignedVerification1766000000000") break;
    }
    await t.ds.query(`UPDATE audit_checkpoints SET verifiedAt = ? WHERE number = 1`, [t.ds.options.type === "better-sqlite3" ? "2026-01-02 03:04:05.000" : new Date("2026-01-02T03:04:05Z")]);
    expect((await migrate(t.ds))[0]).to.equal("SignedVerification1766000000000");

    const first = (await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(first).to.deep.include({ ok: true, full: true, fromCheckpoint: null, latestCheckpoint: 1, problems: [] });
    await submitVerified(t);
    await sealCheckpoint(t.service.services);
    const next = (await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(next).to.deep.include({ ok: true, full: false, fromCheckpoint: 1, latestCheckpoint: 2, problems: [] });
  });
});
