// The example connector of docs/connectors.md, kept here so it compiles and passes the conformance suite.
import { Connector, ConnectorError, emailSpellings, retryAfterMs } from "../../../src/connectors/sdk";

/** Where the newsletter API is and how to authenticate; the key comes from an environment variable. */
export interface NewsletterOptions {
  baseUrl: string;
  apiKey: string;
}

/** A connector for a newsletter service's HTTP API: subscriptions by email, in the MARKETING category. */
export function createNewsletterConnector(options: NewsletterOptions): Connector {
  /** One API call; turns transport failures and HTTP statuses into ConnectorErrors. */
  async function call(path: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, options.baseUrl), { ...init, signal, headers: { authorization: `Bearer ${options.apiKey}`, ...init.headers } });
    } catch (error) {
      throw new ConnectorError("The newsletter service is unreachable; the task will be retried", `${path}: ${(error as Error).message}`, true);
    }
    if (response.status === 429 || response.status >= 500) {
      throw new ConnectorError("The newsletter service is busy; the task will be retried", `${path}: HTTP ${response.status}`, true, retryAfterMs(response.headers.get("retry-after")));
    }
    if (!response.ok) throw new ConnectorError("The newsletter service refused the request; check the connector's API key", `${path}: HTTP ${response.status}`, false);
    return response;
  }

  return {
    spec: { name: "newsletter", version: "1.0.0", supports: ["access", "erasure"], needs: ["email"], provides: [], categories: ["MARKETING"] },

    async check(ctx) {
      await call("/v1/ping", {}, ctx.signal);
      return { ok: true, message: "newsletter API reachable with the configured key" };
    },

    async *collect(ids, ctx) {
      // Each spelling the service may have stored (an internationalised domain in Unicode and in ASCII),
      // one page at a time: the next page is fetched only when the orchestrator asks for more.
      for (const email of emailSpellings(ids.email)) {
        for (let cursor: string | null = ""; cursor !== null; ) {
          const query = new URLSearchParams({ email, cursor });
          const page = (await (await call(`/v1/subscriptions?${query}`, {}, ctx.signal)).json()) as {
            items: { id: string; list: string; subscribedAt: string }[];
            next: string | null;
          };
          for (const s of page.items) yield { category: "MARKETING", type: "subscription", id: s.id, data: { list: s.list }, recordedAt: new Date(s.subscribedAt) };
          cursor = page.next;
        }
      }
    },

    async erase(ids, instruction, ctx) {
      if (!instruction.categories.includes("MARKETING")) return { erased: 0 };
      const keepSince = instruction.keepRecordedSince?.MARKETING;
      let erased = 0;
      for (const email of emailSpellings(ids.email)) {
        const query = new URLSearchParams({ email });
        if (keepSince) query.set("before", keepSince.toISOString());
        // One remote call per spelling, one unit of erasure each. The idempotency key (the task's, and
        // the spelling: each call is its own) makes a retried task delete once, even if an answer was lost.
        await ctx.eraseUnit("MARKETING", async () => {
          const headers = { "idempotency-key": `${ctx.idempotencyKey}:${email}` };
          const response = await call(`/v1/subscriptions?${query}`, { method: "DELETE", headers }, ctx.signal);
          erased += ((await response.json()) as { deleted: number }).deleted;
        });
      }
      return { erased };
    },
  };
}
