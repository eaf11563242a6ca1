import { spawn } from "node:child_process";
import path from "node:path";
import { expect } from "chai";
import { tempDir } from "./support/databases";
import { listeningPort } from "./support/listening";

const ROOT = path.resolve(__dirname, "../..");

describe("README: Stopping the service", () => {
  it("npm start passes a SIGTERM sent to npm on to the service, which stops cleanly and leaves nothing listening", async function () {
    this.timeout(90_000);
    // npm runs the start script with `sh -c`: unless the script execs node, npm signals the shell,
    // which dies and leaves the service running with no parent (what a supervisor stopping npm did).
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DSR_") && !k.startsWith("npm_") && k !== "NODE_ENV" && k !== "DATABASE_URL"));
    const env = { ...clean, PORT: "0", DSR_DATA_DIR: tempDir(), DSR_SAMPLE_WORKSPACE: "false", DSR_WORKER_CONCURRENCY: "0", DSR_LOG_FORMAT: "json" };
    // Its own process group, so whatever is left can be cleaned up whatever happens.
    const npm = spawn("npm", ["start"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    npm.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    npm.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    // "exit", not "close": a service left running holds npm's pipes open.
    const exited = new Promise<void>((resolve) => npm.once("exit", () => resolve()));
    try {
      let port: number | undefined;
      for (let i = 0; i < 240 && port === undefined && npm.exitCode === null; i++) {
        await new Promise((r) => setTimeout(r, 250));
        port = listeningPort(output);
      }
      expect(port, output).to.be.a("number");
      const health = () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => undefined);
      expect(await health(), output).to.equal(200);
      npm.kill("SIGTERM");
      await exited;
      // The service's last lines, if it is stopping (its grace is 10 s).
      for (let i = 0; i < 60 && !output.includes('"msg":"dsr service stopped"'); i++) await new Promise((r) => setTimeout(r, 250));
      // The service's own shutdown ran (not a kill of its parent only), and nothing answers any more.
      expect(output).to.include('"msg":"shutting down"').and.include('"msg":"dsr service stopped"');
      expect(await health(), "the service still answers after npm stopped").to.equal(undefined);
    } finally {
      try {
        process.kill(-npm.pid!, "SIGKILL");
      } catch {
        // Everything in the group has exited.
      }
    }
  });
});
