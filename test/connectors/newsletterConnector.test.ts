import { expect } from "chai";
import http from "node:http";
import { AddressInfo } from "node:net";
import { describeConnectorConformance, testContext } from "../../src/connectors/testing/conformance";
import { createNewsletterConnector } from "./support/newsletterConnector";

const KEY = "nl_test_key";
const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";

/**
 * A newsletter API on loopback, as the example connector of docs/connectors.md expects it: bearer key,
 * cursor pages of two, DELETE with a `before` cut-off that replays its first answer per idempotency key
 * (as Stripe-like APIs do), and a switch that makes it answer 503 with Retry-After.
 */
class FakeNewsletterApi {
  private server?: http.Server;
  readonly subscriptions = new Map<string, { id: string; list: string; subscribedAt: string }[]>();
  private readonly replies = new Map<string, string>();
  unavailable = false;
  url = "";

  seed(email: string, count: number): this {
    const day = (i: number) => new Date(Date.UTC(2024, 0, 1 + i)).toISOString();
    // Like most mail services, it keeps the address as given and matches it case-insensitively.
    this.subscriptions.set(email.toLowerCase(), Array.from({ length: count }, (_, i) => ({ id: `${email.split(".")[0]}-${i}`, list: i % 2 ? "product" : "weekly", subscribedAt: day(i) })));
    return this;
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const reply = (status: number, body: unknown = {}, headers: Record<string, string> = {}) => res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
      if (this.unavailable) return reply(503, { error: "maintenance" }, { "retry-after": "1" });
      if (req.headers.authorization !== `Bearer ${KEY}`) return reply(401, { error: "bad key" });
      const email = (url.searchParams.get("email") ?? "").toLowerCase();
      const mine = this.subscriptions.get(email) ?? [];
      if (url.pathname === "/v1/ping") return reply(200, { ok: true });
      if (url.pathname === "/v1/subscriptions" && req.method === "GET") {
        const from = Number(url.searchParams.get("cursor") || 0);
        return reply(200, { items: mine.slice(from, from + 2), next: from + 2 < mine.length ? String(from + 2) : null });
      }
      if (url.pathname === "/v1/subscriptions" && req.method === "DELETE") {
        const key = String(req.headers["idempotency-key"] ?? "");
        if (this.replies.has(key)) return res.writeHead(200, { "content-type": "application/json" }).end(this.replies.get(key));
        const before = url.searchParams.get("before");
        const keep = mine.filter((s) => before !== null && s.subscribedAt >= before);
        this.subscriptions.set(email, keep);
        const body = JSON.stringify({ deleted: mine.length - keep.length });
        if (key) this.replies.set(key, body);
        return res.writeHead(200, { "content-type": "application/json" }).end(body);
      }
      return reply(404, { error: "not found" });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe("newsletter connector (the docs' example)", () => {
  describeConnectorConformance("newsletter", async () => {
    const api = await new FakeNewsletterApi().seed(ADA, 5).seed(GRACE, 3).seed("Zoe+dsr@Example.COM", 2).seed("bjorn@xn--bcher-kva.de", 2).start();
    return {
      connector: createNewsletterConnector({ baseUrl: api.url, apiKey: KEY }),
      badConnector: createNewsletterConnector({ baseUrl: api.url, apiKey: "wrong-key" }),
      subject: { email: ADA },
      otherSubject: { email: GRACE },
      mixedCaseSubject: { email: "zoe+dsr@example.com" },
      internationalDomainSubject: { email: "bjorn@bücher.de" },
      expectedRecordCount: 5,
      injectRetryableFault: async () => {
        api.unavailable = true;
        return async () => {
          api.unavailable = false;
        };
      },
      teardown: () => api.stop(),
    };
  });

  it("passes Retry-After on as retryAfterMs, when the API is unavailable", async () => {
    const api = await new FakeNewsletterApi().start();
    api.unavailable = true;
    const connector = createNewsletterConnector({ baseUrl: api.url, apiKey: KEY });
    const error = await connector.check(testContext()).catch((e: unknown) => e);
    expect(error).to.include({ retryable: true, retryAfterMs: 1000 });
    await api.stop();
  });
});
