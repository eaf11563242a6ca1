import net, { AddressInfo } from "node:net";
import path from "node:path";
import { expect } from "chai";
import { dsr } from "./support/cliBinary";
import { tempDir } from "./support/databases";

const PASSWORD = "pa55word-of-the-proxy";
const SIGNATURE = "5f".repeat(32);
const ID = "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc";

/** A URL an operator gives the CLI may hold a secret: refused with exit 2 and one line that repeats none of it, before any call. */
describe("dsr: URLs given on the command line", () => {
  const refusedQuietly = async (args: string[], env: Record<string, string> = {}, secret = PASSWORD) => {
    const r = await dsr(args, env);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr.split("\n").filter(Boolean), r.stderr).to.have.length(1);
    expect(r.stderr + r.stdout).not.to.include(secret);
    return r.stderr;
  };

  it("refuses a service URL holding a user name and password, from --url or DSR_URL, in every remote command", async function () {
    this.timeout(60_000);
    const url = `http://operator:${PASSWORD}@127.0.0.1:9/graphql`;
    expect(await refusedQuietly(["request", "show", ID, "--url", url, "--token", "t"])).to.equal(
      "dsr: --url (or DSR_URL) may not hold a user name or password (user:password@); the service takes a bearer token (--token or DSR_TOKEN)\n",
    );
    await refusedQuietly(["request", "list"], { DSR_URL: url, DSR_TOKEN: "t" });
    await refusedQuietly(["certificate", "get", ID, "--url", url, "--token", "t"]);
    await refusedQuietly(["connectors", "check", "--url", url, "--token", "t"]);
    await refusedQuietly(["roster", "show", ID, "--url", url, "--token", "t"]);
    await refusedQuietly(["certificate", "verify", path.join(tempDir(), "c.json"), "--public-key", `https://operator:${PASSWORD}@127.0.0.1:9/`]);
  });

  it("refuses a download link that is no URL without printing its signature, and one with credentials", async function () {
    this.timeout(60_000);
    const out = path.join(tempDir(), "export.zip");
    expect(await refusedQuietly(["export", "download", `127.0.0.1:4000/exports/${ID}?expires=1900000000&signature=${SIGNATURE}`, "--out", out], {}, SIGNATURE)).to.equal(
      "dsr: the link is not a URL; give one that starts with http:// or https://\n",
    );
    await refusedQuietly(["export", "download", `http://u:${PASSWORD}@127.0.0.1:9/exports/${ID}?expires=1900000000&signature=${SIGNATURE}`, "--out", out]);
    await refusedQuietly(["request", "show", ID, "--url", "ftp://127.0.0.1/graphql", "--token", "t"], {}, "ftp://");
  });

  it("refuses a number option that is not a whole number in its range, naming the range and not what was given", async function () {
    this.timeout(60_000);
    const url = "http://127.0.0.1:9/graphql";
    expect(await refusedQuietly(["request", "list", "--first", "abc", "--url", url, "--token", "t"], {}, "abc")).to.equal("dsr: --first must be a whole number from 1 to 100\n");
    await refusedQuietly(["request", "list", "--first", "1000", "--url", url, "--token", "t"], {}, "1000");
    expect(await refusedQuietly(["request", "watch", ID, "--interval", "soon", "--url", url, "--token", "t"], {}, "soon")).to.equal("dsr: --interval must be a whole number from 100 to 3600000\n");
    await refusedQuietly(["roster", "draw", "--connector", "crm", "--reason", "breach", "--interval", "-5", "--url", url, "--token", "t"], {}, "-5");
  });

  it("names an unreachable service by its address only, without the query", async function () {
    this.timeout(60_000);
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const r = await dsr(["request", "show", ID, "--url", `http://127.0.0.1:${closed}/graphql?key=${PASSWORD}`, "--token", "t"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.equal(`dsr: cannot reach the service at http://127.0.0.1:${closed}/graphql (ECONNREFUSED)\n`);
  });
});
