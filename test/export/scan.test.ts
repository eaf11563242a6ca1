import fs from "node:fs";
import { expect } from "chai";
import { workerScanner } from "../../src/export/scan";
import { readSpill } from "../../src/export/spill";

/** OS threads of this process (Linux): a scan's worker thread is one of them while it lives. */
const threads = () => fs.readdirSync("/proc/self/task").length;

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** `n` records as readJsonLines writes them, one page. */
function page(from: number, n: number): Uint8Array {
  let out = "";
  for (let i = from; i < from + n; i++) {
    out += `${JSON.stringify({ connector: "auth-log", type: "event", id: `e${i}`, recordedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(), data: { device: `laptop ${i}`, ok: i % 3 !== 0 } })}\n`;
  }
  return Buffer.from(out, "utf8");
}

describe("a large category's scan on a worker thread", function () {
  // Counting threads needs Linux's /proc.
  before(async function () {
    if (!fs.existsSync("/proc/self/task")) this.skip();
    // libuv's pool starts its threads on first use (the spill's file reads): start it before counting.
    await fs.promises.readFile(__filename);
  });

  it("ends its thread as soon as the scan is finished, and keeps the spilled CSV readable until closed", async () => {
    const before = threads();
    const scanner = workerScanner();
    // 30,000 records: a CSV past the 1 MiB held in memory, so it waits in a file.
    for (let from = 0; from < 30_000; from += 5_000) await scanner.page(page(from, 5_000));
    expect(threads()).to.equal(before + 1);
    const scanned = await scanner.finish();
    // The thread's heap is not held through the CSV's compression (the export's peak memory).
    expect(threads()).to.equal(before);
    expect(scanned.summary.records).to.equal(30_000);
    expect(scanned.csv).to.have.property("dir");
    const dir = (scanned.csv as { dir: string }).dir;
    const csv = (await text(readSpill(scanned.csv!))).split("\n").filter(Boolean);
    expect(csv).to.have.length(30_000 + 1);
    expect(csv[1]).to.equal("auth-log,event,e0,2025-01-01T00:00:00.000Z,laptop 0,false");
    expect(csv[30_000]).to.equal("auth-log,event,e29999,2025-01-01T08:19:59.000Z,laptop 29999,true");
    await scanner.close();
    expect(fs.existsSync(dir)).to.equal(false);
  });
});
