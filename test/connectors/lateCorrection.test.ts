import { expect } from "chai";
import http from "node:http";
import { AddressInfo } from "node:net";
import { Connector, ConnectorError, FieldChange, TaskContext } from "../../src/connectors/sdk";
import { describeEachDatabase } from "../support/databases";
import { approved, ended, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const NEW = "ada@analytical.example";
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { step status attempts lastError outcome { changed notHeld } } } }`;

/**
 * A platform team's own accounts API on loopback: users found by email; a PATCH of a user is answered
 * 202 Accepted and applied `applyAfterMs` later (a queue behind the API), once per Idempotency-Key
 * (a repeated key with a change pending or applied is answered 202 again and applies nothing more).
 */
class AccountsApi {
  readonly users = [
    { id: 7, email: ADA, name: "Ada" },
    { id: 8, email: "grace.hopper@example.com", name: "Grace" },
  ];
  /** Every change the API applied, as the system's own log. */
  readonly applied: Array<{ key: string; user: number; at: number }> = [];
  private readonly keys = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: http.Server;
  applyAfterMs = 0;
  url = "";

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const send = (status: number, value: unknown) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(value));
        };
        if (req.method === "GET" && url.pathname === "/users") return send(200, this.users.filter((u) => u.email.toLowerCase() === (url.searchParams.get("email") ?? "").toLowerCase()));
        const one = /^\/users\/(\d+)$/.exec(url.pathname);
        const user = one && this.users.find((u) => u.id === Number(one[1]));
        if (!user) return send(404, { error: "not found" });
        if (req.method === "GET") return send(200, user);
        if (req.method !== "PATCH") return send(405, { error: "method" });
        const key = String(req.headers["idempotency-key"] ?? "");
        if (!key) return send(400, { error: "Idempotency-Key required" });
        if (!this.keys.has(key)) {
          this.keys.add(key);
          const change = JSON.parse(body) as Record<string, string>;
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            Object.assign(user, change);
            this.applied.push({ key, user: user.id, at: Date.now() });
          }, this.applyAfterMs);
          this.timers.add(timer);
        }
        send(202, { status: "accepted" });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/**
 * The platform team's connector for it, written to docs/connectors.md ("rectify", "A write whose outcome
 * you do not know"): one PATCH per call (no units of its own), with the task's idempotency key; the value
 * is reported changed only once the API shows it, read back within the unit's time; not shown by then, a
 * retryable error. A retry that finds no one under the old address looks under the corrected one, when
 * an earlier attempt may have written (ctx.writtenBefore).
 */
function accountsConnector(api: AccountsApi): Connector {
  const call = async (path: string, init: RequestInit, ctx: TaskContext): Promise<any> => {
    const response = await fetch(`${api.url}${path}`, { ...init, signal: ctx.signal, headers: { "content-type": "application/json", ...init.headers } });
    if (!response.ok) throw new ConnectorError(`accounts-api answered ${response.status}`, `${path}: HTTP ${response.status}`, response.status >= 500);
    return response.json();
  };
  const holdsAll = (user: Record<string, unknown>, changes: readonly FieldChange[]) => changes.every((c) => user[c.field] === c.value);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  return {
    spec: { name: "accounts-api", version: "1.0.0", supports: ["access", "rectification"], needs: ["email"], provides: [], categories: ["ACCOUNT"], correctionFields: ["email", "name"], identityFields: [{ field: "email", kind: "email" }] },
    async check() {
      return { ok: true, message: "reachable" };
    },
    async *collect(ids, ctx) {
      for (const u of (await call(`/users?email=${encodeURIComponent(ids.email)}`, {}, ctx)) as Array<{ id: number; email: string; name: string }>) {
        yield { category: "ACCOUNT", type: "user", id: String(u.id), data: { email: u.email, name: u.name } };
      }
    },
    async rectify(ids, changes, ctx) {
      const fields = changes.map((c) => c.field);
      let [user] = (await call(`/users?email=${encodeURIComponent(ids.email)}`, {}, ctx)) as Array<Record<string, unknown>>;
      const corrected = changes.find((c) => c.field === "email");
      if (!user && corrected && ctx.attempt > 1 && (await ctx.writtenBefore?.("ACCOUNT"))) {
        const [moved] = (await call(`/users?email=${encodeURIComponent(corrected.value)}`, {}, ctx)) as Array<Record<string, unknown>>;
        if (moved && holdsAll(moved, changes)) return { changed: fields, notHeld: [] };
      }
      if (!user) return { changed: [], notHeld: fields };
      if (!holdsAll(user, changes)) {
        await call(`/users/${String(user.id)}`, { method: "PATCH", body: JSON.stringify(Object.fromEntries(changes.map((c) => [c.field, c.value]))), headers: { "idempotency-key": ctx.idempotencyKey } }, ctx);
        // Accepted is not applied: read back until the API shows the values, within the unit's time.
        for (;;) {
          user = await call(`/users/${String(user.id)}`, {}, ctx);
          if (holdsAll(user, changes)) break;
          if ((ctx.unitTimeLeft?.() ?? 0) < 100) throw new ConnectorError("accounts-api accepted the correction and has not applied it yet; the task will be retried", "PATCH 202, values not shown within the unit", true, 50);
          await sleep(25);
        }
      }
      return { changed: fields, notHeld: [] };
    },
  };
}

/**
 * A correction of the address through a system that applies it after the connector's unit ended (202,
 * then a queue). Before, the attempt's throw ended its unit as if nothing was written: the retry, finding
 * no one under the old address and told no earlier attempt wrote, reported the address not held, and the
 * request FAILED "Nothing was corrected" while the system held the new address.
 */
describeEachDatabase("a correction a system applies after the connector's unit ended", (db) => {
  let api: AccountsApi;
  let t: TestService | undefined;
  beforeEach(async () => {
    api = await new AccountsApi().start();
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
    await api.stop();
  });

  it("is reported changed once the system holds it, applied once: COMPLETED", async () => {
    // Units last 3/4 of a 1 s lease, less a quarter lease: the read-back gives up after about 0.4 s.
    // The API applies the change 1 s after it was accepted; the retry comes 1.5 s after the first attempt failed.
    api.applyAfterMs = 1000;
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000", DSR_TASK_MAX_ATTEMPTS: "3", DSR_RETRY_BASE_MS: "1500", DSR_RETRY_MAX_MS: "1500" }, [accountsConnector(api)]).start();
    const ticking = setInterval(() => t!.clock.advance(20), 20);
    try {
      const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "email", value: NEW }] });
      const done = await ended(t, SHOW, id, { tickMs: 0, timeoutMs: 30_000 });
      // The system's own record: the address changed, by one application of the change.
      expect(api.users.find((u) => u.id === 7)!.email).to.equal(NEW);
      expect(api.applied.map((a) => a.user)).to.deep.equal([7]);
      const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
      expect(rectify.attempts, rectify.lastError).to.equal(2);
      expect(rectify.outcome).to.deep.equal({ changed: ["email"], notHeld: [] });
      expect(done.status, done.statusReason).to.equal("COMPLETED");
    } finally {
      clearInterval(ticking);
    }
  });

  it("FAILS naming the system that may hold the new value when no attempt saw it applied", async () => {
    api.applyAfterMs = 2500;
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "1000", DSR_TASK_MAX_ATTEMPTS: "1" }, [accountsConnector(api)]).start();
    const ticking = setInterval(() => t!.clock.advance(20), 20);
    try {
      const id = await approved(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "email", value: NEW }] });
      const done = await ended(t, SHOW, id, { tickMs: 0, timeoutMs: 30_000 });
      expect(done.status).to.equal("FAILED");
      expect(done.statusReason).to.contain("Yet accounts-api may hold the new values already (email)");
      // And it does, once its queue ran: the report did not say nothing was written.
      await t.waitFor(async () => (api.applied.length ? true : undefined), "the API applied the change", 10_000);
      expect(api.users.find((u) => u.id === 7)!.email).to.equal(NEW);
    } finally {
      clearInterval(ticking);
    }
  });
});
