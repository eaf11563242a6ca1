import http from "node:http";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { createHttpConnector, HttpConnectorConfig } from "../../src/connectors/http";
import { ConnectorError } from "../../src/connectors/sdk";
import { collectAll } from "../../src/connectors/testing/conformance";
import { forcedGc } from "../support/forcedGc";
import { ADA, REST_TOKEN } from "./support/restStandIn";

/**
 * An API that answers its headers, then never finishes the body (a proxy holding the connection, a
 * stream that trickles a space now and then). timeoutMs is the time one call may take; it stopped the
 * wait for the headers only once a garbage collection had run (AbortSignal.timeout inside AbortSignal.any
 * is held weakly, Node 20, and collected it never fires): a collect waited on such a body for good (no
 * heartbeat, the lease lost, the worker's slot held), however short timeoutMs was. The stand-in runs a
 * collection once it has answered the headers, as a busy service does at any time.
 */
const gc = forcedGc();

describe("the declarative HTTP connector, against an answer whose body never ends", () => {
  let server: http.Server;
  let url: string;
  let open: number;
  let closed: number;
  let mode: "trickle" | "silent";
  beforeEach(async () => {
    open = 0;
    closed = 0;
    server = http.createServer((req, res) => {
      open += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"users": [');
      const beat = mode === "trickle" ? setInterval(() => res.write(" "), 100) : undefined;
      setTimeout(gc, 50);
      req.socket.on("close", () => {
        closed += 1;
        clearInterval(beat);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const config = (): HttpConnectorConfig => ({
    name: "helpdesk",
    version: "1.0.0",
    baseUrl: url,
    auth: { type: "bearer", tokenEnv: "REST_TEST_TOKEN" },
    checkPath: "/me",
    subject: { path: "/users", query: { email: "{email}" }, items: "users", idField: "id", matchField: "email" },
    resources: [{ recordType: "note", category: "SUPPORT", path: "/users/{subject}/notes", items: "notes", pagination: { type: "none" }, idField: "id", fields: ["text"] }],
    requestsPerSecond: 200,
    timeoutMs: 500,
    readRetries: 0,
  });

  for (const m of ["trickle", "silent"] as const) {
    it(`fails the call retryably within its timeoutMs when the body ${m === "trickle" ? "trickles a space every 100 ms" : "stops after its first bytes"}, and drops the connection`, async function () {
      this.timeout(20_000);
      mode = m;
      const connector = createHttpConnector(config(), { REST_TEST_TOKEN: REST_TOKEN });
      const started = performance.now();
      const outcome = await Promise.race([
        collectAll(connector, ADA).then(
          () => "answered",
          (e: unknown) => e,
        ),
        new Promise((resolve) => setTimeout(() => resolve("still waiting after 5 s"), 5000)),
      ]);
      const took = performance.now() - started;
      expect(outcome).to.be.instanceOf(ConnectorError);
      await connector.close();
      expect((outcome as ConnectorError).retryable).to.equal(true);
      expect((outcome as ConnectorError).userMessage).to.match(/did not finish its answer \(TimeoutError\); the task will be retried/);
      expect(took).to.be.below(2500);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect([open, closed]).to.deep.equal([1, 1]);
    });
  }
});
