import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { BATCH_BYTES } from "../../src/export/staging";
import { verifyArchive } from "../../src/export/verify";
import { ZipReader } from "../../src/export/zipReader";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, completedRequest, download, exportLink, FAST } from "./support";

/**
 * One category from several connectors, some over many staged batches (about 256 KiB of lines each, a
 * couple of thousand of these records), one with a single record, one with none: the export reads the
 * first batches of every connector in one query and pages on from there, so every record must come out
 * once, connector by connector (by name), each connector's in the order it gave them.
 */
const SIZES: Record<string, number> = { "a-accounts": 6_000, "b-billing": 1, "c-crm": 4_500, "d-empty": 0 };

describeEachDatabase("export of one category from several connectors", (db) => {
  let t: TestService;
  let zipFile: string;
  before(async function () {
    this.timeout(120_000);
    const connectors = Object.entries(SIZES).map(([name, n]) => new ScriptedConnector({ name, categories: ["ACCOUNT"], supports: ["access"] }).seed(ADA_EMAIL, n));
    t = await new TestService(db(), FAST, connectors).start();
    zipFile = (await download((await exportLink(t, await completedRequest(t))).url)).file!;
  });
  after(async () => {
    await t?.stop();
    if (zipFile) fs.rmSync(path.dirname(zipFile), { recursive: true, force: true });
  });

  it("writes every connector's records once, in connector order and each connector's own order", async () => {
    const verified = await verifyArchive(zipFile, { portability: true });
    expect(verified.problems).to.deep.equal([]);
    const doc = verified.manifest!.categories.find((c) => c.category === "ACCOUNT")!;
    expect(doc.records).to.equal(6_000 + 1 + 4_500);
    const zip = ZipReader.open(zipFile);
    try {
      const lines = (await zip.text("data/account.jsonl")).split("\n").filter(Boolean);
      const ids = lines.map((line) => JSON.parse(line).id as string);
      // Staged as these same lines: a-accounts took more batches than the first query reads, c-crm two.
      const bytes = (name: string) => lines.filter((l) => l.includes(`"connector":"${name}"`)).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
      expect(bytes("a-accounts")).to.be.above(2 * BATCH_BYTES);
      expect(bytes("c-crm")).to.be.above(BATCH_BYTES);
      const expected = Object.entries(SIZES).flatMap(([name, n]) => Array.from({ length: n }, (_, i) => `${name}-${i}`));
      expect(ids.length).to.equal(expected.length);
      expect(ids).to.deep.equal(expected);
    } finally {
      zip.close();
    }
  });
});
