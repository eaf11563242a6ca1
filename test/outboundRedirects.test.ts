import http from "node:http";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { createHttpConnector } from "../src/connectors/http";
import { ConnectorError } from "../src/connectors/sdk";
import { createZendeskConnector } from "../src/connectors/zendesk";
import { collectAll } from "../src/connectors/testing/conformance";
import { StatusCallbackRow } from "../src/entities";
import { ADA, restConfig, RestStandIn } from "./connectors/support/restStandIn";
import { CALLBACK_SECRET } from "./support/callbackReceiver";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

/** What arrived at a host nobody configured: method, path and the headers and body that came along. */
interface Arrival {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback server that answers every request with `answer`, keeping what arrived. */
async function listen(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ url: string; arrivals: Arrival[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => (arrivals.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body }), answer(req, res)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, arrivals, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

/** `elsewhere`: another host (another origin) that answers 200 to anything; `redirector`: 307 to it, keeping the path. */
async function redirectPair() {
  const elsewhere = await listen((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  const to = new URL(elsewhere.url);
  to.hostname = "localhost";
  const redirector = await listen((req, res) => res.writeHead(307, { location: `${to.origin}${req.url}` }).end());
  return { elsewhere, redirector, close: () => Promise.all([elsewhere.close(), redirector.close()]) };
}

describe("outbound calls answered with a redirect to another host", () => {
  it("the declarative HTTP connector does not follow it (its API key and the subject's address stay home), and fails not retryably", async () => {
    const hosts = await redirectPair();
    const standIn = await new RestStandIn().start();
    try {
      const connector = createHttpConnector({ ...restConfig(standIn), baseUrl: `${hosts.redirector.url}/api`, auth: { type: "header", header: "X-Api-Key", valueEnv: "HELPDESK_KEY" } }, { HELPDESK_KEY: "helpdesk-api-key-0123456789" });
      const error = await collectAll(connector, ADA).then(
        () => null,
        (e: unknown) => e,
      );
      await connector.close();
      expect(hosts.elsewhere.arrivals.map((a) => `${a.method} ${a.path} ${a.headers["x-api-key"]}`)).to.deep.equal([]);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect((error as ConnectorError).userMessage).to.match(/redirect \(HTTP 307\), which is not followed; set baseUrl/);
      expect(hosts.redirector.arrivals).to.have.length(1);
    } finally {
      await standIn.stop();
      await hosts.close();
    }
  });

  it("the Zendesk connector does not follow it either: the subject's address in its search stays home", async () => {
    const hosts = await redirectPair();
    try {
      const connector = createZendeskConnector({ baseUrl: hosts.redirector.url, email: "agent@example.com", apiToken: "zendesk-api-token-0123456789" });
      const error = await collectAll(connector, ADA).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hosts.elsewhere.arrivals.map((a) => `${a.method} ${a.path}`)).to.deep.equal([]);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect(hosts.redirector.arrivals).to.have.length(1);
    } finally {
      await hosts.close();
    }
  });
});

describeEachDatabase("outbound webhooks answered with a redirect to another host", (db) => {
  let t: TestService | undefined;
  let hosts: Awaited<ReturnType<typeof redirectPair>>;
  beforeEach(async () => {
    hosts = await redirectPair();
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await hosts.close();
  });

  it("the verification-code notifier does not follow it: the address and code go to DSR_NOTIFIER_URL only", async () => {
    t = await new TestService(db(), { DSR_NOTIFIER_URL: `${hosts.redirector.url}/notify` }).start();
    const request = await submit(t, { subject: { email: "ada.lovelace@example.com" } });
    expect(request.status).to.equal("PENDING_VERIFICATION");
    expect(hosts.redirector.arrivals.map((a) => a.method)).to.deep.equal(["POST"]);
    expect(JSON.parse(hosts.redirector.arrivals[0].body).requestId).to.equal(request.id);
    expect(hosts.elsewhere.arrivals.map((a) => `${a.method} ${a.path} ${a.body}`)).to.deep.equal([]);
  });

  it("the status-callback dispatcher does not follow it, and keeps the callback pending with the reason", async () => {
    t = await new TestService(db(), { DSR_CALLBACK_URL: `${hosts.redirector.url}/callbacks`, DSR_CALLBACK_SECRET: CALLBACK_SECRET, DSR_CALLBACK_POLL_MS: "20", DSR_CALLBACK_RETRY_BASE_MS: "60000" }).start();
    const { requestAccountDeletion } = await t.ok(`mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`, { input: { idempotencyKey: "del-redirect-1", subject: { email: "ada.lovelace@example.com" } } }, "SERVICE");
    const rows = await t.waitFor(async () => {
      const found = await t!.ds.getRepository(StatusCallbackRow).findBy({ requestId: requestAccountDeletion.id });
      return found.some((r) => r.attempts > 0) ? found : undefined;
    }, "a delivery attempt");
    expect(rows.filter((r) => r.attempts > 0).map((r) => [r.status, r.lastError])).to.deep.equal([["PENDING", "receiver answered HTTP 307"]]);
    expect(hosts.elsewhere.arrivals).to.deep.equal([]);
  });
});
