import { expect } from "chai";
import { createHttpConnector } from "../../src/connectors/http";
import { morePagesMarker } from "../../src/connectors/http/httpConnector";
import { ConnectorConfigError, ConnectorError, SubjectRecord } from "../../src/connectors/sdk";
import { collectAll, describeConnectorConformance, testContext } from "../../src/connectors/testing/conformance";
import { ADA, BJORN, GRACE, REST_TOKEN, restConfig, RestStandIn } from "./support/restStandIn";

const ENV = { REST_TEST_TOKEN: REST_TOKEN };
/** Invoices are anonymised, not deleted: they stay, without the personal fields. */
const anonymisedInvoice = (r: SubjectRecord) => r.type === "invoice" && r.data.billing_name === null && r.data.billing_address === null;

describe("declarative HTTP connector", () => {
  describeConnectorConformance("helpdesk (REST stand-in)", async () => {
    const standIn = await new RestStandIn().start();
    const connector = createHttpConnector(restConfig(standIn), ENV);
    const badConnector = createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: "wrong-token" });
    return {
      connector,
      badConnector,
      subject: ADA,
      otherSubject: GRACE,
      internationalDomainSubject: BJORN,
      expectedRecordCount: 5 + 3,
      kept: anonymisedInvoice,
      injectRetryableFault: async () => {
        standIn.failing = { status: 503, retryAfter: "1" };
        return async () => void (standIn.failing = undefined);
      },
      teardown: async () => {
        await connector.close();
        await badConnector.close();
        await standIn.stop();
      },
    };
  });

  describe("with a stand-in", () => {
    let standIn: RestStandIn;
    beforeEach(async () => {
      standIn = await new RestStandIn().start();
    });
    afterEach(async () => {
      await standIn.stop();
    });

    it("pages by cursor and by page number, and takes only the exact address (ignoring case) for the subject", async () => {
      const connector = createHttpConnector(restConfig(standIn), ENV);
      const records = await collectAll(connector, ADA);
      expect(records.filter((r) => r.type === "note").map((r) => r.id)).to.deep.equal(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5"]);
      expect(records.filter((r) => r.type === "invoice").map((r) => r.id)).to.deep.equal(["in-a1", "in-a2", "in-a3"]);
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/notes")).to.have.length(3);
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/invoices")).to.have.length(2);
      expect(records.some((r) => r.data.text === "someone else")).to.equal(false);
      await connector.close();
    });

    it("collects and erases every account the subject's address has (two users, one address in another case)", async () => {
      standIn.users.push({ id: 5, email: "ADA.LOVELACE@EXAMPLE.COM", name: "Ada (second account)" });
      standIn.notes.push({ id: "n-a6", user: 5, text: "Ada's note on her second account", created_at: "2021-01-01T00:00:00.000Z" });
      const connector = createHttpConnector(restConfig(standIn), ENV);
      const notes = (await collectAll(connector, ADA)).filter((r) => r.type === "note").map((r) => r.id);
      expect(notes).to.deep.equal(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5", "n-a6"]);
      // Under retention first: what both accounts keep is one entry.
      const newest = new Date(standIn.notes.find((n) => n.id === "n-a5")!.created_at);
      const partial = await connector.erase!(ADA, { categories: ["SUPPORT"], keepRecordedSince: { SUPPORT: new Date("2020-12-01T00:00:00.000Z") } }, testContext());
      expect(partial).to.deep.equal({ erased: 1, kept: [{ category: "SUPPORT", type: "note", count: 5, newestRecordedAt: newest }] });
      const outcome = await connector.erase!(ADA, { categories: ["SUPPORT"] }, testContext());
      expect(outcome.erased).to.equal(5);
      // Asked of the stand-in: neither account keeps a note; the near match keeps its own.
      expect(standIn.notes.filter((n) => n.user === 1 || n.user === 5)).to.deep.equal([]);
      expect(standIn.notes.filter((n) => n.user === 3)).to.have.length(1);
      await connector.close();
    });

    it("finds the subject on a later page of the search when subject.pagination is given", async () => {
      // 30 near matches the search lists before her: a first page of 25 does not hold her.
      for (let i = 0; i < 30; i++) standIn.users.unshift({ id: 100 + i, email: `ada.lovelace@example.com.x${i}`, name: `Not Ada ${i}` });
      const paged = createHttpConnector({ ...restConfig(standIn), subject: { ...restConfig(standIn).subject, pagination: { type: "page", pageParam: "page", sizeParam: "per_page", size: 10 } } }, ENV);
      expect((await collectAll(paged, ADA)).filter((r) => r.type === "note")).to.have.length(5);
      await paged.close();
      expect(standIn.calls.filter((c) => c.path === "/api/users")).to.have.length(4);
    });

    it("fails, rather than take the first page for the whole answer, when a listing configured without pagination says more pages follow; erases nothing", async () => {
      // The search answers in pages of 25 with a Link to the next; Ada is on the second, and no subject.pagination is set.
      for (let i = 0; i < 30; i++) standIn.users.unshift({ id: 100 + i, email: `ada.lovelace@example.com.x${i}`, name: `Not Ada ${i}` });
      const connector = createHttpConnector(restConfig(standIn), ENV);
      // Notes answer with meta.next_cursor: configured without pagination, the first page is not all of them.
      const config = restConfig(standIn);
      config.resources[0].pagination = { type: "none" };
      const unpaged = createHttpConnector({ ...config, subject: { ...config.subject, pagination: { type: "page", pageParam: "page", sizeParam: "per_page", size: 25 } } }, ENV);
      const cases = [
        { c: connector, what: "the subject search's results", marker: 'a Link header with rel="next"' },
        { c: unpaged, what: "note records", marker: "meta.next_cursor" },
      ];
      for (const { c, what, marker } of cases) {
        for (const [op, run] of [["collect", () => collectAll(c, ADA)], ["erase", () => c.erase!(ADA, { categories: ["SUPPORT", "PAYMENTS"] }, testContext())]] as const) {
          const error = await (run as () => Promise<unknown>)().then(
            () => null,
            (e: unknown) => e,
          );
          expect(error, `${what} ${op}`).to.be.instanceOf(ConnectorError);
          expect((error as ConnectorError).retryable).to.equal(false);
          expect((error as ConnectorError).userMessage).to.equal(
            `helpdesk: listing ${what} answered that more pages follow (${marker}), but no pagination is configured for it, so the ${op} stopped rather than ${op} only the first page. Set its pagination (see docs/connectors.md)`,
          );
        }
      }
      await connector.close();
      await unpaged.close();
      expect(standIn.calls.filter((c) => c.method !== "GET"), "no write").to.deep.equal([]);
    });

    it("reads the usual signs that more pages follow, and nothing else", () => {
      expect(morePagesMarker({ items: [], has_more: true }, null)).to.equal("has_more: true");
      expect(morePagesMarker({ items: [], meta: { next_cursor: "abc" } }, null)).to.equal("meta.next_cursor");
      expect(morePagesMarker({ items: [], links: { next: "https://x/api?page=2" } }, null)).to.equal("links.next");
      expect(morePagesMarker({ items: [], "@odata.nextLink": "https://x/next" }, null)).to.equal("@odata.nextLink");
      expect(morePagesMarker({ items: [] }, '<https://x/api?page=1>; rel="prev", <https://x/api?page=3>; rel="next"')).to.equal('a Link header with rel="next"');
      // Last pages, and fields that only look alike.
      expect(morePagesMarker({ items: [], has_more: false, next: null, meta: { next_cursor: null }, links: { next: "" } }, '<https://x/api?page=1>; rel="prev"')).to.equal(undefined);
      expect(morePagesMarker({ items: [{ next: "x" }], data: { next: "y" } }, null)).to.equal(undefined);
      expect(morePagesMarker([{ next: "x" }], null)).to.equal(undefined);
    });

    it("fails, naming the resource, rather than end a listing early, when it goes past maxPages; erases nothing of that resource", async () => {
      // Ada's notes take 3 pages (2 a page).
      const capped = createHttpConnector({ ...restConfig(standIn), maxPages: 2 }, ENV);
      for (const run of [() => collectAll(capped, ADA), () => capped.erase!(ADA, { categories: ["SUPPORT"] }, testContext())]) {
        const error = await run().then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(ConnectorError);
        expect((error as ConnectorError).retryable).to.equal(false);
        expect((error as ConnectorError).userMessage).to.match(/^helpdesk: listing note records went past 2 pages, so the (collect|erase) stopped rather than (collect|erase) only some of them/);
      }
      await capped.close();
      expect(standIn.calls.filter((c) => c.method !== "GET")).to.deep.equal([]);
      const enough = createHttpConnector({ ...restConfig(standIn), maxPages: 3 }, ENV);
      expect((await collectAll(enough, ADA)).filter((r) => r.type === "note")).to.have.length(5);
      await enough.close();
    });

    it("passes a Retry-After longer than maxInlineWaitMs on as retryAfterMs, marks 429 and 503 retryable and 401 not, naming the variable", async () => {
      const connector = createHttpConnector(restConfig(standIn), ENV);
      standIn.faults.push({ status: 429, retryAfter: "30" });
      const started = Date.now();
      const limited = (await collectAll(connector, ADA).catch((e: unknown) => e)) as ConnectorError;
      expect(limited).to.be.instanceOf(ConnectorError);
      expect(limited).to.include({ retryable: true, retryAfterMs: 30_000 });
      expect(Date.now() - started, "not waited inline").to.be.below(2000);
      const wrong = createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: "nope" });
      const refused = (await collectAll(wrong, ADA).catch((e: unknown) => e)) as ConnectorError;
      expect(refused.retryable).to.equal(false);
      expect(refused.userMessage).to.equal(`helpdesk: ${new URL(standIn.url).host} refused the credentials (HTTP 401); check REST_TEST_TOKEN`);
      expect((await wrong.check(testContext())).ok).to.equal(false);
      await connector.close();
      await wrong.close();
    });

    it("repeats a read that met a passing fault inline, after its Retry-After and with the lease kept, and never a write", async () => {
      const connector = createHttpConnector(restConfig(standIn), ENV);
      const expected = (await collectAll(connector, ADA)).length;
      standIn.calls.length = 0;
      standIn.faults.push({ status: 503, retryAfter: "1" }, { status: 429 });
      const ctx = testContext();
      const records = await collectAll(connector, ADA, ctx);
      expect(records).to.have.length(expected);
      const [first, second, third] = standIn.calls;
      expect([first.method, second.method, third.method]).to.deep.equal(["GET", "GET", "GET"]);
      expect(second.at - first.at, "after Retry-After").to.be.at.least(1000);
      expect(ctx.heartbeats, "a heartbeat before each wait").to.be.at.least(2);
      // A write that fails is not repeated inline (a DELETE whose answer was lost is re-read by the task's next attempt).
      standIn.calls.length = 0;
      standIn.faults.push({ status: 503, method: "DELETE" });
      const failure = await connector.erase!(ADA, { categories: ["SUPPORT"] }, testContext({ idempotencyKey: "inline" })).catch((e: unknown) => e);
      expect(failure).to.be.instanceOf(ConnectorError);
      expect((failure as ConnectorError).retryable).to.equal(true);
      expect(standIn.calls.filter((c) => c.method === "DELETE").map((c) => c.status)).to.deep.equal([503]);
      await connector.close();
    });

    it("keeps records recorded at or after keepRecordedSince and reports them kept, and sends one idempotency key per record", async () => {
      const connector = createHttpConnector(restConfig(standIn), ENV);
      const since = new Date(Date.UTC(2020, 0, 1) + 600 * 86_400_000);
      const outcome = await connector.erase!(ADA, { categories: ["SUPPORT"], keepRecordedSince: { SUPPORT: since } }, testContext({ idempotencyKey: "task-key" }));
      expect(outcome.erased).to.equal(2);
      expect(outcome.kept).to.deep.equal([{ category: "SUPPORT", type: "note", count: 3, newestRecordedAt: new Date(Date.UTC(2020, 0, 1) + 1000 * 86_400_000) }]);
      expect(standIn.notes.filter((n) => n.user === 1).map((n) => n.id)).to.deep.equal(["n-a3", "n-a4", "n-a5"]);
      expect(standIn.calls.filter((c) => c.method === "DELETE").map((c) => c.idempotencyKey)).to.deep.equal(["task-key:note:n-a1", "task-key:note:n-a2"]);
      await connector.close();
    });

    it("spaces its calls to requestsPerSecond", async () => {
      const connector = createHttpConnector({ ...restConfig(standIn), requestsPerSecond: 20 }, ENV);
      await collectAll(connector, ADA);
      const at = standIn.calls.map((c) => c.at);
      // Calls start at least 50 ms apart; arrival times jitter a little, the span cannot.
      expect(at[at.length - 1] - at[0]).to.be.at.least((at.length - 1) * 50 - 15);
      expect(at.length).to.be.greaterThan(5);
      await connector.close();
    });
  });

  it("lists every problem of a configuration at once, never a secret, and needs the token's variable set", () => {
    const config = { ...restConfig(Object.assign(new RestStandIn(), { url: "ftp://nowhere" })), name: "Help Desk" } as unknown as Record<string, unknown>;
    (config.resources as Record<string, unknown>[])[0].pagination = { type: "cursor" };
    (config.resources as Record<string, unknown>[])[1].erase = { strategy: "ANONYMIZE", method: "POST", path: "/invoices/{record}", fields: {} };
    config.maxPages = 0;
    (config.subject as Record<string, unknown>).pagination = { type: "page", pageParam: "page" };
    let problems: string[] = [];
    try {
      createHttpConnector(config as never, {});
    } catch (error) {
      expect(error).to.be.instanceOf(ConnectorConfigError);
      problems = (error as ConnectorConfigError).problems;
    }
    expect(problems).to.deep.equal([
      `name "Help Desk" must be 2-40 lower-case letters, digits or dashes, starting with a letter`,
      "baseUrl must be an http(s) URL",
      "environment variable REST_TEST_TOKEN (auth.tokenEnv) is not set",
      "subject.pagination needs pageParam and sizeParam",
      "subject.pagination.size must be a whole number from 1 to 1000",
      "resources[0].pagination.cursorParam is required",
      "resources[0].pagination.nextCursor is required (where the next cursor is in a response)",
      "resources[1].erase.method must be PATCH or PUT",
      "resources[1].erase.fields must give the replacement of each personal field",
      "maxPages must be a whole number from 1 to 1000000",
    ]);
  });
});
