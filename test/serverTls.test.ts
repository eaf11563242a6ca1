import { expect } from "chai";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { ConfigError, loadConfig } from "../src/config/env";
import { type RunningService, startService } from "../src/server";
import { makeCertificates } from "./support/certificates";
import { tempDir } from "./support/databases";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADMIN = "tls-listener-admin-token-0123456789";

/** One https request, trusting `ca`; the status and the body as text. */
function request(url: string, ca: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: body === undefined ? "GET" : "POST", ca, headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (p: Buffer) => parts.push(p));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/**
 * `dsr serve` speaking https itself (DSR_TLS_CERT_FILE, DSR_TLS_KEY_FILE): GraphQL and the export link
 * it hands out, end to end, with a certificate for `localhost` from a CA the test makes.
 */
describe("the service over https (DSR_TLS_CERT_FILE, DSR_TLS_KEY_FILE)", function () {
  this.timeout(60_000);
  const dir = tempDir("dsr-tls-listener-");
  const certs = makeCertificates(dir, ["localhost"]);
  const ca = fs.readFileSync(certs.caFile, "utf8");
  let service: RunningService | undefined;
  const settings = { NODE_ENV: "test", PORT: "0", DSR_HOST: "127.0.0.1", DSR_DATA_DIR: dir, DSR_LOG_LEVEL: "silent", DSR_BOOTSTRAP_ADMIN_TOKEN: ADMIN, DSR_WORKER_POLL_MS: "20" };

  after(async () => {
    await service?.stop();
  });

  it("answers GraphQL over https, refuses plain http on its port, and hands out https export links that download", async () => {
    service = await startService({
      config: loadConfig({ ...settings, DSR_TLS_CERT_FILE: certs.certFile("localhost"), DSR_TLS_KEY_FILE: certs.keyFile("localhost"), DSR_WORKER_CONCURRENCY: "1" }),
      connectors: [new ScriptedConnector({ name: "idle" })],
    });
    expect(service.url).to.match(/^https:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const graphql = `https://localhost:${service.port}/graphql`;
    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const answer = await request(graphql, ca, { query, variables });
      const body = JSON.parse(answer.text) as { data?: any; errors?: unknown };
      expect(body.errors, JSON.stringify(body.errors)).to.equal(undefined);
      return body.data;
    };
    const { submitRequest } = await gql(`mutation { submitRequest(input: { type: ACCESS, subject: { email: "ada@example.com" }, identityVerified: true, verificationEvidence: "signed-in session" }) { id } }`);
    await gql(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: submitRequest.id });
    const deadline = Date.now() + 30_000;
    while ((await gql(`query($id: ID!) { request(id: $id) { status } }`, { id: submitRequest.id })).request.status !== "COMPLETED") {
      expect(Date.now(), "the request completes").to.be.below(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { createExportLink } = await gql(`mutation($id: ID!) { createExportLink(requestId: $id) { url } }`, { id: submitRequest.id });
    expect(createExportLink.url, "the link follows the address reached, with its scheme").to.match(new RegExp(`^https://localhost:${service.port}/`));
    const download = await request(createExportLink.url, ca);
    expect(download.status).to.equal(200);
    expect(download.text.slice(0, 2), "a ZIP").to.equal("PK");

    const plain = await new Promise<string>((resolve) => {
      http
        .get(`http://127.0.0.1:${service!.port}/healthz`, (res) => resolve(`answered ${res.statusCode}`))
        .on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    expect(plain, "a plain http request on the https port").not.to.match(/^answered 2/);
  });

  it("refuses one file without the other, an unreadable file, and a key that is not the certificate's, naming no key", () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ ...settings, ...env });
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    const other = makeCertificates(tempDir("dsr-tls-other-"), ["localhost"]);
    expect(problems({ DSR_TLS_CERT_FILE: certs.certFile("localhost") })).to.deep.equal(["DSR_TLS_CERT_FILE and DSR_TLS_KEY_FILE go together: give both (https) or neither (plain http, TLS ended in front)"]);
    expect(problems({ DSR_TLS_CERT_FILE: certs.certFile("localhost"), DSR_TLS_KEY_FILE: "/nowhere/key.pem" })).to.deep.equal(["DSR_TLS_KEY_FILE (/nowhere/key.pem) cannot be read: ENOENT"]);
    const mismatch = problems({ DSR_TLS_CERT_FILE: certs.certFile("localhost"), DSR_TLS_KEY_FILE: other.keyFile("localhost") });
    expect(mismatch).to.deep.equal(["DSR_TLS_CERT_FILE and DSR_TLS_KEY_FILE cannot serve https: the key does not belong to the certificate"]);
    expect(problems({ DSR_TLS_CERT_FILE: certs.keyFile("localhost"), DSR_TLS_KEY_FILE: certs.certFile("localhost") })).to.deep.equal([
      "DSR_TLS_CERT_FILE and DSR_TLS_KEY_FILE cannot serve https: they are not a PEM certificate chain and its private key",
    ]);
    expect(mismatch.join("\n")).not.to.include("PRIVATE KEY");
  });
});
