import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { privateTempDir, removeOrphanTempDirs } from "../src/tempDirs";
import { describeEachDatabase } from "./support/databases";
import { TestService } from "./support/harness";

/** A process that makes a temporary folder the way the service does, writes into it, says where, and waits to be killed. */
async function killedMidWork(purpose: string): Promise<string> {
  const module = path.resolve(__dirname, "..", "src", "tempDirs.js");
  const child = spawn(process.execPath, ["-e", `const d = require(${JSON.stringify(module)}).privateTempDir(${JSON.stringify(purpose)}); require("fs").writeFileSync(d + "/spill", Buffer.alloc(4096, 7)); console.log(d); setInterval(() => {}, 1000);`], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  child.kill("SIGKILL");
  await once(child, "exit");
  return line.toString().trim();
}

describe("temporary folders of processes that were killed", () => {
  it("removes those of dead processes of this host, never a running process's or another host's", async () => {
    const dead = await killedMidWork("roster");
    expect(fs.existsSync(path.join(dead, "spill"))).to.equal(true);
    const mine = privateTempDir("spill");
    // Another host's, in a shared folder: its process may well run there.
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), `dsr-tmp-roster-00000000-${process.pid + 1}-`));
    try {
      const removed = await removeOrphanTempDirs();
      expect(removed).to.include(path.basename(dead));
      expect(fs.existsSync(dead)).to.equal(false);
      expect(fs.existsSync(mine), "this process's own").to.equal(true);
      expect(fs.existsSync(elsewhere), "another host's").to.equal(true);
    } finally {
      fs.rmSync(mine, { recursive: true, force: true });
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describeEachDatabase("a worker starting on the host", (db) => {
  it("removes what a killed process left in the temporary folder", async function () {
    this.timeout(30_000);
    const dead = await killedMidWork("portability");
    const t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "1" }).start();
    try {
      await t.waitFor(async () => !fs.existsSync(dead) || undefined, "the killed process's folder removed", 10_000);
    } finally {
      await t.stop();
      fs.rmSync(dead, { recursive: true, force: true });
    }
  });
});
