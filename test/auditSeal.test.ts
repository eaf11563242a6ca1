import { createHash } from "node:crypto";
import { expect } from "chai";
import { GENESIS_HASH } from "../src/audit/auditTrail";
import { markSealed, sealCheckpoint } from "../src/audit/checkpointer";
import { inTransaction } from "../src/db/transaction";
import { describeEachDatabase } from "./support/databases";
import { TestService } from "./support/harness";

const hashOf = (text: string) => createHash("sha256").update(text).digest("hex");

describeEachDatabase("sealing a checkpoint over many streams", (db) => {
  let t: TestService;
  beforeEach(async () => {
    // No checkpointer of its own: the test seals.
    t = await new TestService(db(), { DSR_AUDIT_CHECKPOINT_SECONDS: "0" }).start();
  });
  afterEach(async () => {
    await t.stop();
  });

  it("marks every head it sealed, and the checkpoint counts them all", async function () {
    this.timeout(120_000);
    const STREAMS = 2_345;
    const rows = Array.from({ length: STREAMS }, (_, i) => [`seal-${String(i).padStart(5, "0")}`, 3, hashOf(`head ${i}`), 0, GENESIS_HASH, 1]);
    for (let i = 0; i < rows.length; i += 500) {
      const part = rows.slice(i, i + 500);
      await t.ds.query(`INSERT INTO audit_stream_heads (stream, seq, hash, sealedSeq, sealedHash, unsealed) VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}`, part.flat());
    }
    const before: Array<{ n: number | string }> = await t.ds.query(`SELECT COUNT(*) AS n FROM audit_stream_heads WHERE unsealed = 1`);
    const started = performance.now();
    const outcome = await sealCheckpoint(t.service.services);
    const ms = performance.now() - started;
    console.log(`      ${outcome.sealed ? outcome.streams : 0} streams sealed in ${ms.toFixed(0)} ms`);
    expect(outcome).to.deep.include({ sealed: true, number: 1, streams: Number(before[0].n) });
    const heads: Array<{ stream: string; seq: number | string; hash: string; sealedSeq: number | string; sealedHash: string; unsealed: number | string }> = await t.ds.query(
      `SELECT stream, seq, hash, sealedSeq, sealedHash, unsealed FROM audit_stream_heads WHERE stream LIKE 'seal-%' ORDER BY stream`,
    );
    expect(heads).to.have.length(STREAMS);
    const wrong = heads.filter((h, i) => Number(h.sealedSeq) !== 3 || h.sealedHash !== hashOf(`head ${i}`) || Number(h.unsealed) !== 0);
    expect(wrong.map((h) => h.stream)).to.deep.equal([]);
    expect(Number((await t.ds.query(`SELECT COUNT(*) AS n FROM audit_stream_heads WHERE unsealed = 1`))[0].n)).to.equal(0);
    expect(await sealCheckpoint(t.service.services)).to.deep.include({ sealed: false, reason: "nothing new" });
  });

  it("leaves a head that moved on since unsealed, one sealed further as it is, and others untouched", async () => {
    const heads = [
      // [stream, seq, hash, sealedSeq, sealedHash, unsealed]
      ["m-sealed", 3, hashOf("a3"), 0, GENESIS_HASH, 1],
      ["m-moved-on", 5, hashOf("b5"), 0, GENESIS_HASH, 1],
      ["m-sealed-further", 6, hashOf("c6"), 6, hashOf("c6"), 0],
      ["m-not-in-seal", 2, hashOf("d2"), 0, GENESIS_HASH, 1],
    ];
    await t.ds.query(`INSERT INTO audit_stream_heads (stream, seq, hash, sealedSeq, sealedHash, unsealed) VALUES ${heads.map(() => "(?, ?, ?, ?, ?, ?)").join(", ")}`, heads.flat());
    const seal = (stream: string, seq: number, hash: string) => ({ stream, fromSeq: 1, fromHash: GENESIS_HASH, seq, hash });
    await inTransaction(t.ds, (em) => markSealed(em, [seal("m-sealed", 3, hashOf("a3")), seal("m-moved-on", 4, hashOf("b4")), seal("m-sealed-further", 5, hashOf("c5"))]));
    const rows: Array<{ stream: string; sealedSeq: number | string; sealedHash: string; unsealed: number | string }> = await t.ds.query(
      `SELECT stream, sealedSeq, sealedHash, unsealed FROM audit_stream_heads WHERE stream LIKE 'm-%' ORDER BY stream`,
    );
    expect(rows.map((r) => [r.stream, Number(r.sealedSeq), r.sealedHash, Number(r.unsealed)])).to.deep.equal([
      ["m-moved-on", 4, hashOf("b4"), 1],
      ["m-not-in-seal", 0, GENESIS_HASH, 1],
      ["m-sealed", 3, hashOf("a3"), 0],
      ["m-sealed-further", 6, hashOf("c6"), 0],
    ]);
  });
});
