import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { createSqliteDatabase, tempDir, TestDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { listeningPort } from "./support/listening";
import { ScriptedConnector } from "./support/scriptedConnector";
import { dsr as runDsr } from "./support/cliBinary";
import { SERVICE_ENV_ASSIGNMENTS, SERVICE_NODE_FLAGS } from "../src/nodeFlags";

const ROOT = path.resolve(__dirname, "../..");
const BIN = path.join(ROOT, "bin/dsr.js");
const ADA = "ada.lovelace@example.com";

/** `dsr <args>` (test/support/cliBinary.ts), given up to 60 s. */
const dsr = (args: string[], env: Record<string, string> = {}, cwd = tempDir()) => runDsr(args, env, cwd, undefined, 60_000);

describe("dsr start-up", () => {
  it("prints the package version with --version", async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    const run = await dsr(["--version"]);
    expect(run).to.deep.include({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it("loads none of the service's modules for --help and --version, and starts in well under a second", async () => {
    for (const flag of ["--help", "--version"]) {
      // What the process loaded, asked from inside it: the heavy modules (TypeORM, Apollo, the AWS SDK, class-validator) must not be among them.
      const probe = spawnSync(
        process.execPath,
        ["-e", `process.stdout.write = () => true; require(${JSON.stringify(path.join(ROOT, "dist/src/cli.js"))}).main(["node", "dsr", "${flag}"]).then(() => console.error(JSON.stringify(Object.keys(require.cache))))`],
        { encoding: "utf8", timeout: 20_000 },
      );
      const loaded = JSON.parse(probe.stderr.trim().split("\n").pop()!) as string[];
      for (const heavy of ["typeorm", "@apollo", "@aws-sdk", "class-validator", "graphql", "pino"]) {
        expect(loaded.filter((f) => f.includes(`node_modules/${heavy}/`)), `${flag} loads ${heavy}`).to.deep.equal([]);
      }
    }
    // Timed against a bare `node -e 0` run alternately, so a loaded machine slows both alike (loading the service took 15 times as long).
    const time = (args: string[]) => {
      const started = process.hrtime.bigint();
      spawnSync(process.execPath, args, { encoding: "utf8" });
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const help: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < 5; i++) {
      help.push(time([BIN, "--help"]));
      bare.push(time(["-e", "0"]));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2];
    console.log(`      dsr --help: median ${Math.round(median(help))} ms of 5 runs (bare node: ${Math.round(median(bare))} ms)`);
    expect(median(help)).to.be.below(median(bare) * 2 + 300);
  });
});

describe("dsr certificate get / verify", () => {
  let db: TestDatabase;
  let t: TestService;
  let id: string;
  let remote: Record<string, string>;
  before(async function () {
    this.timeout(60_000);
    db = await createSqliteDatabase();
    const account = new ScriptedConnector({ name: "account-db" }).seed(ADA, 2);
    t = await new TestService(db, { DSR_WORKER_CONCURRENCY: "1", DSR_WORKER_POLL_MS: "10" }, [account]).start();
    remote = { DSR_URL: t.url, DSR_TOKEN: t.tokens[Role.AUDITOR] };
    const r = await submit(t, { type: "DELETION", identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id })).request.status === "COMPLETED" ? true : undefined), "deletion COMPLETED", 30_000);
    id = r.id;
  });
  after(async () => {
    await t?.stop();
    await db?.drop();
  });

  it("fetches the certificate as issued, to stdout or a file, and verifies it against the service's key URL", async () => {
    const { signed } = (await t.ok(`query($id: ID!) { deletionCertificate(requestId: $id) { signed } }`, { id })).deletionCertificate;
    const printed = await dsr(["certificate", "get", id], remote);
    expect(printed.code, printed.stderr).to.equal(0);
    expect(printed.stdout).to.equal(signed);
    const dir = tempDir();
    const file = path.join(dir, "certificate.json");
    const saved = await dsr(["certificate", "get", id, "--out", file], remote);
    expect(saved.code, saved.stderr).to.equal(0);
    expect(fs.readFileSync(file, "utf8")).to.equal(signed);
    const keyUrl = new URL("/.well-known/dsr-certificate-key.pem", t.url).toString();
    for (const key of [keyUrl, t.url]) {
      const checked = await dsr(["certificate", "verify", file, "--public-key", key]);
      expect(checked.code, checked.stderr).to.equal(0);
      expect(checked.stdout).to.match(new RegExp(`^certificate valid: request ${id} completed .*, 2 record\\(s\\) erased, 0 kept; signed by the given key ed25519:`));
    }
    const notFound = await dsr(["certificate", "get", "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc"], remote);
    expect(notFound.code).to.equal(4);
  });

  it("verifies a certificate saved with jq -r's extra newline or with trailing whitespace, and still refuses any change inside", async () => {
    const { signed } = (await t.ok(`query($id: ID!) { deletionCertificate(requestId: $id) { signed } }`, { id })).deletionCertificate;
    const dir = tempDir();
    const key = path.join(dir, "key.pem");
    fs.writeFileSync(key, await (await fetch(new URL("/.well-known/dsr-certificate-key.pem", t.url))).text());
    const variants = { "jq -r": `${signed}\n`, "trailing spaces": `${signed.trimEnd()}   \t\n`, "CRLF": `${signed.trimEnd()}\r\n`, "no newline": signed.trimEnd() };
    for (const [what, text] of Object.entries(variants)) {
      fs.writeFileSync(path.join(dir, "c.json"), text);
      const run = await dsr(["certificate", "verify", path.join(dir, "c.json"), "--public-key", key]);
      expect(run.code, `${what}: ${run.stderr}`).to.equal(0);
    }
    // A space inside the JSON is a change, as is any changed byte.
    fs.writeFileSync(path.join(dir, "c.json"), signed.replace('{"certificate":', '{ "certificate":'));
    const spaced = await dsr(["certificate", "verify", path.join(dir, "c.json"), "--public-key", key]);
    expect(spaced.code).to.equal(1);
    expect(spaced.stderr).to.equal("dsr: certificate INVALID: the file was changed: it is not in the form it was issued in\n");
  });
});

describe("README: Running on MySQL", () => {
  it("starts in production as written (on a scratch database of the local MariaDB), answers /readyz, and stops on SIGTERM", async function () {
    this.timeout(120_000);
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Running on MySQL"));
    const script = /```sh\n([\s\S]*?)```/.exec(section)![1];
    expect(script).to.include("DSR_EXPORT_MASTER_KEY=").and.include("NODE_ENV=production");
    const probe = spawnSync("mysql", ["--protocol=tcp", "-h127.0.0.1", "-uroot", "-e", "SELECT 1"], { encoding: "utf8" });
    if (probe.status !== 0) {
      if (process.env.DSR_TEST_REQUIRE_MYSQL === "1") throw new Error(`MariaDB is required (DSR_TEST_REQUIRE_MYSQL) but the mysql client failed: ${probe.stderr}`);
      this.skip();
    }
    // The one change: a scratch database instead of `dsr`, so the test never touches an installation's; and a free port.
    const scratch = `dsr_t_readme_${process.pid}_${Date.now() % 100000}`;
    const run = script.replaceAll("EXISTS dsr ", `EXISTS ${scratch} `).replaceAll("3306/dsr ", `3306/${scratch} `).replace(" bin/dsr.js serve", ` ${BIN} serve`);
    expect(run, "the service runs with its Node flags, as written").to.include(`node ${SERVICE_NODE_FLAGS.join(" ")} ${BIN} serve`);
    expect(run, "and with its environment").to.include(` ${SERVICE_ENV_ASSIGNMENTS}\nexec node `);
    expect(run).to.include(scratch);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DSR_") && k !== "NODE_ENV" && k !== "DATABASE_URL"));
    const child = spawn("bash", ["-euo", "pipefail", "-c", run], { cwd: tempDir(), env: { ...clean, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    try {
      let ready: { status: string; database: string } | undefined;
      for (let i = 0; i < 200 && !ready; i++) {
        await new Promise((r) => setTimeout(r, 250));
        // PORT=0: the system picks a port and the service logs it; a port picked beforehand can be taken by then.
        const port = listeningPort(output);
        if (port === undefined) continue;
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => (r.status === 200 ? (r.json() as Promise<{ status: string; database: string }>) : undefined), () => undefined);
        if (child.exitCode !== null) break;
      }
      expect(ready, output).to.deep.equal({ status: "ready", database: "mysql" });
      child.kill("SIGTERM");
      expect(await exited, output).to.equal(0);
    } finally {
      child.kill("SIGKILL");
      spawnSync("mysql", ["--protocol=tcp", "-h127.0.0.1", "-uroot", "-e", `DROP DATABASE IF EXISTS ${scratch}`]);
    }
  });
});
