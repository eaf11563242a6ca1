import http from "node:http";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { createHttpConnector, HttpConnectorConfig } from "../../src/connectors/http";
import { ACCOUNT_RECORDS_REMAIN, errorMarker, RECORD_NOT_ERASABLE } from "../../src/connectors/http/httpConnector";
import { morePagesMarker } from "../../src/connectors/http/pagination";
import { withValues } from "../../src/connectors/http/pick";
import { ConnectorConfigError, ConnectorError, normalizeEmail, SubjectRecord } from "../../src/connectors/sdk";
import { collectAll, describeConnectorConformance, listAll, testContext } from "../../src/connectors/testing/conformance";
import { ADA, BJORN, GRACE, REST_TOKEN, restConfig, restRoster, RestStandIn } from "./support/restStandIn";

const ENV = { REST_TEST_TOKEN: REST_TOKEN };

/** The problems createHttpConnector lists for a stand-in's configuration as `change` leaves it (none: it was built). */
function configProblemsOf(change: (config: HttpConnectorConfig) => void): string[] {
  const config = restConfig(Object.assign(new RestStandIn(), { url: "http://127.0.0.1:1/api" }));
  change(config);
  try {
    createHttpConnector(config, ENV);
    return [];
  } catch (error) {
    expect(error).to.be.instanceOf(ConnectorConfigError);
    return (error as ConnectorConfigError).problems;
  }
}

describe("declarative HTTP connector", () => {
  describeConnectorConformance("helpdesk (REST stand-in)", async () => {
    const standIn = await new RestStandIn().start();
    // With its roster: the roster cases run against the listing of everyone (GET /users in pages).
    const connector = createHttpConnector({ ...restConfig(standIn), roster: restRoster() }, ENV);
    const badConnector = createHttpConnector(restConfig(standIn), { REST_TEST_TOKEN: "wrong-token" });
    return {
      connector,
      badConnector,
      subject: ADA,
      otherSubject: GRACE,
      internationalDomainSubject: BJORN,
      // Ada's 5 notes, 3 invoices and her account.
      expectedRecordCount: 5 + 3 + 1,
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

    /**
     * Collect and erase of Ada (as `runs` says; erase of `categories`) each fail, not retryably, with
     * `message` (or the message for the call); nothing was written. `config`: the connector's, else restConfig's.
     */
    async function refusedWithoutWrites(
      message: string | ((run: "collect" | "erase") => string),
      runs: Array<"collect" | "erase"> = ["collect", "erase"],
      categories = ["SUPPORT", "PAYMENTS"],
      config = restConfig(standIn),
    ): Promise<void> {
      const connector = createHttpConnector(config, ENV);
      for (const run of runs) {
        const work = run === "collect" ? collectAll(connector, ADA) : connector.erase!(ADA, { categories }, testContext());
        const error = await work.then(
          () => null,
          (e: unknown) => e,
        );
        expect(error, run).to.be.instanceOf(ConnectorError);
        expect((error as ConnectorError).retryable, run).to.equal(false);
        expect((error as ConnectorError).userMessage, run).to.equal(typeof message === "string" ? message : message(run));
      }
      expect(standIn.calls.filter((c) => c.method !== "GET")).to.deep.equal([]);
      await connector.close();
    }

    it("pages by cursor and by page number, and takes only the exact address (ignoring case) for the subject", async () => {
      const connector = createHttpConnector(restConfig(standIn), ENV);
      const records = await collectAll(connector, ADA);
      expect(records.filter((r) => r.type === "note").map((r) => r.id)).to.deep.equal(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5"]);
      expect(records.filter((r) => r.type === "invoice").map((r) => r.id)).to.deep.equal(["in-a1", "in-a2", "in-a3"]);
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/notes")).to.have.length(3);
      // Numbered pages, 2 of them, listed twice: once read, once again to show no record moved past them unread.
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/invoices")).to.have.length(4);
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
      expect(partial).to.deep.equal({ erased: 1, erasedIn: { SUPPORT: 1 }, kept: [{ category: "SUPPORT", type: "note", count: 5, newestRecordedAt: newest }] });
      const outcome = await connector.erase!(ADA, { categories: ["SUPPORT"] }, testContext());
      expect(outcome.erased).to.equal(5);
      // Asked of the stand-in: neither account keeps a note; the near match keeps its own.
      expect(standIn.notes.filter((n) => n.user === 1 || n.user === 5)).to.deep.equal([]);
      expect(standIn.notes.filter((n) => n.user === 3)).to.have.length(1);
      await connector.close();
    });

    it("takes for the subject only items of her address in any case, from a search answering near matches and other people", async () => {
      // A search that answers everyone, whatever it is asked (no query): the connector alone decides who she is.
      const everyone = restConfig(standIn);
      everyone.subject = { ...everyone.subject, query: {} };
      const loose = [
        { id: 5, email: "ADA.LOVELACE@Example.COM", name: "Ada (second account)" },
        { id: 6, email: "ada.lovelace@example.com.evil", name: "Not Ada" },
        { id: 7, email: "xada.lovelace@example.com", name: "Not Ada" },
        { id: 8, email: "ada.lovelace@example.co", name: "Not Ada" },
        { id: 9, email: "ada.lovelace+x@example.com", name: "Not Ada" },
        { id: 10, email: null, name: "Nobody" },
      ];
      standIn.users.push(...loose);
      for (const u of loose) standIn.notes.push({ id: `n-u${u.id}`, user: u.id, text: `note of user ${u.id}`, created_at: "2021-01-01T00:00:00.000Z" });
      for (const config of [restConfig(standIn), everyone]) {
        const connector = createHttpConnector(config, ENV);
        const notes = (await collectAll(connector, ADA)).filter((r) => r.type === "note").map((r) => r.id);
        expect(notes).to.deep.equal(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5", "n-u5"]);
        await connector.close();
      }
      const connector = createHttpConnector(everyone, ENV);
      await connector.erase!(ADA, { categories: ["SUPPORT"] }, testContext());
      expect(standIn.notes.filter((n) => n.user === 1 || n.user === 5)).to.deep.equal([]);
      expect(standIn.notes.map((n) => n.id)).to.have.members(["n-g1", "n-g2", "n-x1", "n-b1", "n-u6", "n-u7", "n-u8", "n-u9", "n-u10"]);
      await connector.close();
    });

    it("fails, rather than find nothing of hers, when the search answers an item of her address without an id at idField", async () => {
      standIn.users.push({ id: undefined as unknown as number, email: "ada.lovelace@example.com", name: "Ada, id left out" });
      await refusedWithoutWrites("helpdesk: the subject search answered an item of the person's address without an id at id (a string or a number); check subject.idField");
    });

    it("fails, rather than export or erase it as \"undefined\", when a listing answers a record of hers without an id", async () => {
      standIn.invoices.push({ id: undefined as unknown as string, user: 1, billing_name: "Ada Lovelace", billing_address: "12 St James's Square", amount: 1, issued_at: "2021-01-01T00:00:00.000Z" });
      await refusedWithoutWrites("helpdesk: listing invoice records answered one without an id at id (a string or a number); check the resource's idField", ["collect", "erase"], ["PAYMENTS"]);
    });

    it("fails, rather than pass her account by, when the search answers an item whose matchField holds several addresses (an array) or an object", async () => {
      for (const held of [["ada@work.example", "Ada.Lovelace@example.com"], { primary: "ada.lovelace@example.com" }]) {
        standIn.users.splice(0, 1, { id: 1, email: held as unknown as string, name: "Ada" });
        await refusedWithoutWrites("helpdesk: the subject search answered an item whose email is not one address (a list or an object), so whose it is cannot be told; point subject.matchField at a field holding one address");
      }
    });

    it("refuses an id of . or .. from the system before any write, which would lead a call elsewhere (a PATCH of /invoices/.. is one of /)", async () => {
      // Listed after her other invoices (which are listed in the order they were made).
      standIn.invoices.push({ id: "..", user: 1, billing_name: "Ada Lovelace", billing_address: "12 St James's Square", amount: 1, issued_at: "2021-01-01T00:00:00.000Z" });
      // Refused while listing, before any write: none of her invoices is patched, and nothing else is.
      await refusedWithoutWrites('helpdesk: the system answered an id ".." for {record}, which would lead the call elsewhere in its API; refused', ["erase"], ["PAYMENTS"]);
    });

    it("finds the subject on a later page of the search when subject.pagination is given", async () => {
      // 30 near matches the search lists before her: a first page of 25 does not hold her.
      for (let i = 0; i < 30; i++) standIn.users.unshift({ id: 100 + i, email: `ada.lovelace@example.com.x${i}`, name: `Not Ada ${i}` });
      const paged = createHttpConnector({ ...restConfig(standIn), subject: { ...restConfig(standIn).subject, pagination: { type: "page", pageParam: "page", sizeParam: "per_page", size: 10 } } }, ENV);
      expect((await collectAll(paged, ADA)).filter((r) => r.type === "note")).to.have.length(5);
      await paged.close();
      // Four pages, and once for a made-up address (the search answered others: does it read its query?).
      expect(standIn.calls.filter((c) => c.path === "/api/users")).to.have.length(4 + 1);
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

    it("reads on past a page shorter than its size when the answer says more follow (an API capping its page size), and erases every one", async () => {
      // Asked for 5 a page, the system answers 2 (its cap) with a Link to the next page: Ada has 3 invoices.
      standIn.invoicePageCap = 2;
      const config = restConfig(standIn);
      config.resources[1].pagination = { type: "page", pageParam: "page", sizeParam: "per_page", size: 5 };
      const connector = createHttpConnector(config, ENV);
      expect((await collectAll(connector, ADA)).filter((r) => r.type === "invoice").map((r) => r.id)).to.deep.equal(["in-a1", "in-a2", "in-a3"]);
      expect(await connector.erase!(ADA, { categories: ["PAYMENTS"] }, testContext())).to.deep.equal({ erased: 3, erasedIn: { PAYMENTS: 3 }, redacted: 3, redactedIn: { PAYMENTS: 3 } });
      // The system's own rows: no invoice of hers still names her.
      expect(standIn.invoices.filter((i) => i.user === 1).map((i) => i.billing_name)).to.deep.equal([null, null, null]);
      await connector.close();
    });

    it("takes a listing that answers 200 with an error beside an empty list for a failure, not for nobody: repeated, then retried", async () => {
      const connector = createHttpConnector({ ...restConfig(standIn), readRetries: 0 }, ENV);
      // The search answers no user beside an error: read as an answer, Ada had nothing here (collect 0, erase 0, her 5 notes left).
      standIn.faults.push({ status: 200, method: "GET", body: { users: [], errors: [{ message: "search index unavailable" }] } });
      const error = await collectAll(connector, ADA).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(true);
      expect((error as ConnectorError).userMessage).to.equal("helpdesk: 127.0.0.1:" + new URL(standIn.url).port + " answered HTTP 200 with an error (errors), so the collect stopped rather than take the answer for the records; the task will be retried");
      standIn.faults.push({ status: 200, method: "GET", body: { users: [], ok: false, error: "search index unavailable" } });
      expect(await connector.erase!(ADA, { categories: ["SUPPORT"] }, testContext()).catch((e: ConnectorError) => e.retryable)).to.equal(true);
      expect(standIn.notes.filter((n) => n.user === 1)).to.have.length(5);
      // Once the system answers, the retry finds and erases her notes.
      expect((await connector.erase!(ADA, { categories: ["SUPPORT"] }, testContext())).erased).to.equal(5);
      await connector.close();
    });

    it("reads the signs of an error in a successful answer, and nothing else", () => {
      expect(errorMarker({ users: [], errors: [{ message: "x" }] })).to.equal("errors");
      expect(errorMarker({ users: [], error: "x" })).to.equal("error");
      expect(errorMarker({ error: { code: 5 } })).to.equal("error");
      expect(errorMarker({ ok: false })).to.equal("ok: false");
      expect(errorMarker({ success: false, data: [] })).to.equal("success: false");
      expect(errorMarker({ users: [], errors: [], error: null, ok: true })).to.equal(undefined);
      expect(errorMarker({ users: [{ error: "x" }], data: { errors: ["y"] } })).to.equal(undefined);
      expect(errorMarker([{ error: "x" }])).to.equal(undefined);
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

    it("fails at once, naming the resource, when a cursor leads back to a page it read (a cursorParam the API does not read); erases nothing", async () => {
      // The stand-in reads `cursor`: sent as `after`, it answers the first page and the same next cursor every time.
      const config = restConfig(standIn);
      config.resources[0].pagination = { type: "cursor", cursorParam: "after", nextCursor: "meta.next_cursor", sizeParam: "limit", size: 2 };
      await refusedWithoutWrites(
        (op) => `helpdesk: listing note records answered, on page 2, a next page it had answered before (a cursor or link that loops), so the ${op} stopped rather than ${op} the same records again. Check the pagination`,
        ["collect", "erase"],
        ["SUPPORT"],
        config,
      );
      // Two pages read for each run, not maxPages (10,000).
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/notes")).to.have.length(4);
    });

    it("follows a next link relative to the page it came on, as a browser would", async () => {
      // links.next is "invoices?page=2&per_page=2": from /api/users/1/invoices, that is /api/users/1/invoices?page=2.
      const config = restConfig(standIn);
      config.resources[1].pagination = { type: "link", next: "links.next" };
      const connector = createHttpConnector(config, ENV);
      expect((await collectAll(connector, ADA)).filter((r) => r.type === "invoice").map((r) => r.id)).to.deep.equal(["in-a1", "in-a2", "in-a3"]);
      await connector.close();
    });

    it("refuses a next link to another host before calling it: no call there, no credentials, nothing of hers patched", async () => {
      const arrivals: string[] = [];
      const elsewhere = http.createServer((req, res) => (arrivals.push(`${req.method} ${req.url} ${req.headers.authorization}`), res.writeHead(200, { "content-type": "application/json" }).end('{"data":{"invoices":[]}}')));
      await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
      try {
        standIn.invoiceNextAt = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
        const config = restConfig(standIn);
        config.resources[1].pagination = { type: "link", next: "links.next" };
        await refusedWithoutWrites(`helpdesk: a next-page link leads away from ${new URL(standIn.url).host}; refused`, ["collect", "erase"], ["PAYMENTS"], config);
        expect(arrivals).to.deep.equal([]);
        expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name === "Ada Lovelace")).to.have.length(3);
      } finally {
        await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
      }
    });

    it("reads a record date without a zone as UTC, whatever the process's zone", async () => {
      standIn.notes.find((n) => n.id === "n-a5")!.created_at = "2024-06-01 12:00:00";
      const connector = createHttpConnector(restConfig(standIn), ENV);
      const zone = process.env.TZ;
      process.env.TZ = "Asia/Kolkata";
      try {
        const note = (await collectAll(connector, ADA)).find((r) => r.id === "n-a5")!;
        expect(note.recordedAt!.toISOString()).to.equal("2024-06-01T12:00:00.000Z");
      } finally {
        if (zone === undefined) delete process.env.TZ;
        else process.env.TZ = zone;
        await connector.close();
      }
    });

    it("stops reading an answer past maxResponseBytes and fails, rather than hold it all in memory", async () => {
      // 48 MiB in one answer of the subject search (a runaway page, or an API answering a file): the default cap is 32 MiB.
      standIn.faults.push({ status: 200, method: "GET", body: { users: [], pad: "x".repeat(48 * 1024 * 1024) } });
      // The stand-in serialises 48 MiB in this process: on a loaded machine that outlasts the stand-in
      // config's 2 s timeout, which would fail the collect for another reason than the one under test.
      const connector = createHttpConnector({ ...restConfig(standIn), timeoutMs: 60_000 }, ENV);
      const error = await collectAll(connector, ADA).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect((error as ConnectorError).userMessage).to.equal(
        `helpdesk: ${new URL(standIn.url).host} answered the collect with more than 33554432 bytes, so it was not read on; lower the page size, or raise maxResponseBytes`,
      );
      await connector.close();
      const small = createHttpConnector({ ...restConfig(standIn), maxResponseBytes: 1024 }, ENV);
      expect((await collectAll(small, GRACE)).length).to.equal(4);
      await small.close();
    });

    it("fails at once, naming the resource, when a numbered page answers the records of the page before (a pageParam the API does not read); erases nothing", async () => {
      // The stand-in reads `page`: sent as `p`, it answers the first page (full, 2 of Ada's 3 invoices) every time.
      const config = restConfig(standIn);
      config.resources[1].pagination = { type: "page", pageParam: "p", sizeParam: "per_page", size: 2 };
      config.maxPages = 50;
      await refusedWithoutWrites(
        (op) => `helpdesk: listing invoice records answered, on page 2, the same records as on page 1 (a pageParam the API does not read?), so the ${op} stopped rather than ${op} the same records again. Check the pagination`,
        ["collect", "erase"],
        ["PAYMENTS"],
        config,
      );
      // Two pages read for each run, not maxPages.
      expect(standIn.calls.filter((c) => c.path === "/api/users/1/invoices")).to.have.length(4);
    });

    it("fails, before any write, when a listing confirmed by subjectField answers another account's record (a filter the API ignores)", async () => {
      // GET /notes reads user_id, not user: asked for user=1 it answers everyone's notes.
      const config = restConfig(standIn);
      config.resources[0] = { ...config.resources[0], path: "/notes?user={subject}", pagination: { type: "none" }, subjectField: "user" };
      await refusedWithoutWrites(
        (op) => `helpdesk: listing note records of one account answered a record of another account (or of none) at user, so the ${op} stopped rather than ${op} other people's records. Check the resource's path (a filter the API does not read?)`,
        ["collect", "erase"],
        ["SUPPORT"],
        config,
      );
      expect(standIn.notes).to.have.length(9);
      // With the filter the API reads, every record is hers and confirmed as hers.
      config.resources[0].path = "/notes?user_id={subject}";
      const filtered = createHttpConnector(config, ENV);
      expect((await collectAll(filtered, ADA)).filter((r) => r.type === "note").map((r) => r.id)).to.deep.equal(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5"]);
      expect((await filtered.erase!(ADA, { categories: ["SUPPORT"] }, testContext())).erased).to.equal(5);
      expect(standIn.notes.map((n) => n.user)).to.deep.equal([2, 2, 3, 4]);
      await filtered.close();
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

    it("takes an invoice holding every replacement for nobody's: neither collected, nor patched, kept or counted by erase", async () => {
      // One of Ada's invoices never carried a billing name or address (as an anonymised one holds).
      standIn.invoices.push({ id: "in-a4", user: 1, billing_name: null, billing_address: null, amount: 5, issued_at: "2021-01-01T00:00:00.000Z" });
      const connector = createHttpConnector(restConfig(standIn), ENV);
      expect((await collectAll(connector, ADA)).filter((r) => r.type === "invoice").map((r) => r.id)).to.deep.equal(["in-a1", "in-a2", "in-a3"]);
      const outcome = await connector.erase!(ADA, { categories: ["SUPPORT", "PAYMENTS"], keepRecordedSince: { PAYMENTS: new Date("2020-01-01T00:00:00.000Z") } }, testContext());
      expect(outcome).to.deep.equal({ erased: 5, erasedIn: { SUPPORT: 5 }, kept: [{ category: "PAYMENTS", type: "invoice", count: 3, newestRecordedAt: new Date(standIn.invoices.find((i) => i.id === "in-a3")!.issued_at) }] });
      const all = await connector.erase!(ADA, { categories: ["SUPPORT", "PAYMENTS", "ACCOUNT"] }, testContext());
      // The three invoices anonymised, then her account deleted: nothing under it is kept any more.
      expect(all).to.deep.equal({ erased: 4, erasedIn: { PAYMENTS: 3, ACCOUNT: 1 }, redacted: 3, redactedIn: { PAYMENTS: 3 } });
      expect(standIn.calls.filter((c) => c.method === "PATCH").map((c) => c.path)).to.deep.equal(["/api/invoices/in-a1", "/api/invoices/in-a2", "/api/invoices/in-a3"]);
      expect(standIn.users.map((u) => u.id)).to.deep.equal([2, 3, 4]);
      // What an access request collects now: nothing of hers (the invoices hold only their amounts and dates, and the account is gone).
      expect(await collectAll(connector, ADA)).to.deep.equal([]);
      expect(standIn.invoices.filter((i) => i.user === 1).map((i) => [i.billing_name, i.billing_address, i.amount])).to.deep.equal([[null, null, 100], [null, null, 200], [null, null, 300], [null, null, 5]]);
      await connector.close();
    });

    it("deletes the account last, and never while records under it are still there (kept, or access only), which would hide them", async () => {
      const all = { categories: ["SUPPORT", "PAYMENTS", "ACCOUNT"] };
      // Notes without erase (access only): they stay, so the account stays, named residual with why.
      const accessOnlyNotes = restConfig(standIn);
      delete accessOnlyNotes.resources[0].erase;
      const partly = createHttpConnector(accessOnlyNotes, ENV);
      const outcome = await partly.erase!(ADA, all, testContext());
      expect(outcome).to.deep.equal({
        erased: 3,
        erasedIn: { PAYMENTS: 3 },
        redacted: 3,
        redactedIn: { PAYMENTS: 3 },
        residual: [
          // The notes themselves, which nothing erases, as the plan counted them (residualOnErasure).
          { category: "SUPPORT", type: "note", count: 5, fields: ["text", "created_at"], reason: RECORD_NOT_ERASABLE },
          { category: "ACCOUNT", type: "account", count: 1, fields: ["email", "name", "phone"], reason: ACCOUNT_RECORDS_REMAIN },
        ],
      });
      expect(standIn.users.some((u) => u.id === 1)).to.equal(true);
      expect((await collectAll(partly, ADA)).map((r) => r.type)).to.deep.equal(["note", "note", "note", "note", "note", "account"]);
      await partly.close();
      // With erase: the notes go, then the account; Grace's stays.
      const whole = createHttpConnector(restConfig(standIn), ENV);
      expect(await whole.erase!(ADA, all, testContext())).to.deep.equal({ erased: 6, erasedIn: { SUPPORT: 5, ACCOUNT: 1 } });
      expect(standIn.users.map((u) => u.id)).to.deep.equal([2, 3, 4]);
      expect(standIn.calls.filter((c) => c.method === "DELETE").map((c) => c.path).slice(-1)).to.deep.equal(["/api/users/1"]);
      await whole.close();
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

    describe("breach roster (listSubjects)", () => {
      const listable = (overrides: Partial<ReturnType<typeof restRoster>> = {}) => createHttpConnector({ ...restConfig(standIn), roster: { ...restRoster(), ...overrides } }, ENV);
      const failureOf = (work: Promise<unknown>) =>
        work.then(
          () => {
            throw new Error("expected the listing to fail");
          },
          (e: unknown) => e as ConnectorError,
        );

      it("lists everyone across pages, once each, by email and phone in matching form, with their record counts", async () => {
        // One person known by phone alone, on the third page.
        standIn.users.push({ id: 5, email: null, name: "Kiosk", phone: "+33 1 23 45 67 89" });
        standIn.notes.push({ id: "n-k1", user: 5, text: "kiosk note", created_at: "2021-01-01T00:00:00.000Z" });
        const connector = listable();
        const ctx = testContext();
        const entries = await listAll(connector, ctx);
        expect(entries).to.deep.equal([
          // Stored as Ada.Lovelace@example.com and "+44 20 7946 0958".
          // The API's count of notes and invoices, and the account itself.
          { identities: { email: "ada.lovelace@example.com", phone: "+442079460958" }, records: 9 },
          { identities: { email: "grace.hopper@example.com", phone: "+12025550143" }, records: 4 },
          { identities: { email: "ada.lovelace@example.com.au" }, records: 2 },
          // Stored as bjorn@xn--bcher-kva.de: the domain in Unicode, as normalizeEmail gives it.
          { identities: { email: "bjorn@bücher.de" }, records: 2 },
          { identities: { phone: "+33123456789" }, records: 2 },
        ]);
        // Pages of 2: three, the last one short; a heartbeat after each.
        expect(standIn.calls.filter((c) => c.path === "/api/users")).to.have.length(3);
        expect(ctx.heartbeats).to.equal(3);
        expect(entries[3].identities.email).to.equal(normalizeEmail("bjorn@xn--bcher-kva.de"));
        expect(entries[0].records).to.equal((await collectAll(connector, ADA)).length);
        await connector.close();
      });

      it("leaves out items holding no identity it can read, counting them in the log without a value", async () => {
        standIn.users.push({ id: 6, email: null, name: "Service account", phone: null }, { id: 7, email: " ", name: "Blank" }, { id: 8, email: "not an address", name: "Typo", phone: "call me" });
        const connector = listable();
        const ctx = testContext();
        const entries = await listAll(connector, ctx);
        expect(entries.map((e) => e.identities.email)).to.deep.equal(["ada.lovelace@example.com", "grace.hopper@example.com", "ada.lovelace@example.com.au", "bjorn@bücher.de"]);
        const tally = ctx.lines.find((l) => l.msg === "http listing read for a roster");
        expect(tally?.obj).to.include({ connector: "helpdesk", items: 7, listed: 4, withoutIdentity: 3, unreadableIdentities: 2 });
        const logged = JSON.stringify(ctx.lines);
        for (const value of ["@", "not an address", "call me", "7946", "Service account"]) expect(logged).not.to.include(value);
        await connector.close();
      });

      it("lists a person two accounts hold once (one address in another case), a second account's new phone on its own, and warns that counts are short", async () => {
        standIn.users.push({ id: 5, email: "ADA.LOVELACE@EXAMPLE.COM", name: "Ada again", phone: "+44 20 7946 0999" }, { id: 6, email: "ada.lovelace@Example.com", name: "Ada thrice" });
        standIn.notes.push({ id: "n-a6", user: 5, text: "Ada's second account", created_at: "2021-01-01T00:00:00.000Z" });
        const connector = listable();
        const ctx = testContext();
        const entries = await listAll(connector, ctx);
        expect(entries.filter((e) => e.identities.email === "ada.lovelace@example.com")).to.deep.equal([{ identities: { email: "ada.lovelace@example.com", phone: "+442079460958" }, records: 9 }]);
        // Listed twice rather than have the phone missed; the count belongs to the entry handed over already.
        expect(entries[entries.length - 1]).to.deep.equal({ identities: { phone: "+442079460999" } });
        expect(entries).to.have.length(5);
        expect(ctx.lines.find((l) => l.msg === "http listing read for a roster")?.obj).to.include({ items: 6, listed: 5, repeated: 2 });
        expect(ctx.lines.some((l) => l.level === "warn" && l.obj.repeated === 2)).to.equal(true);
        await connector.close();
      });

      it("leaves out a person whose record count is 0 (collect finds nothing of them) and gives no count it cannot read", async () => {
        standIn.notes = standIn.notes.filter((n) => n.user !== 3);
        // With subject.account, collect finds the account of a person with no notes or invoices: listed, with that one record.
        const connector = listable({ recordsField: "stats.records" });
        const entries = await listAll(connector);
        expect(entries.map((e) => [e.identities.email, e.records])).to.deep.equal([
          ["ada.lovelace@example.com", 9],
          ["grace.hopper@example.com", 4],
          ["ada.lovelace@example.com.au", 1],
          ["bjorn@bücher.de", 2],
        ]);
        expect((await collectAll(connector, { email: "ada.lovelace@example.com.au" })).map((r) => r.type)).to.deep.equal(["account"]);
        await connector.close();
        // Without it (access only: no resource erases), collect finds nothing of them, and the roster leaves them out.
        const accessOnly = restConfig(standIn);
        delete accessOnly.subject.account;
        for (const r of accessOnly.resources) delete r.erase;
        const recordsOnly = createHttpConnector({ ...accessOnly, roster: { ...restRoster(), recordsField: "stats.records" } }, ENV);
        expect((await listAll(recordsOnly)).map((e) => e.identities.email)).to.deep.equal(["ada.lovelace@example.com", "grace.hopper@example.com", "bjorn@bücher.de"]);
        await recordsOnly.close();
        const uncounted = listable({ recordsField: "stats.none" });
        expect((await listAll(uncounted)).map((e) => e.records)).to.deep.equal([undefined, undefined, undefined, undefined]);
        await uncounted.close();
      });

      it("fails retryably, passing Retry-After on, when a page answers 429", async () => {
        const connector = listable();
        const iterator = connector.listSubjects!({ ...testContext() })[Symbol.asyncIterator]();
        expect((await iterator.next()).value.identities.email).to.equal("ada.lovelace@example.com");
        expect((await iterator.next()).done).to.equal(false);
        // The second page's read meets the fault (longer than maxInlineWaitMs: not waited out inline).
        standIn.faults.push({ status: 429, retryAfter: "30" });
        const error = await failureOf(iterator.next());
        expect(error).to.be.instanceOf(ConnectorError);
        expect(error).to.include({ retryable: true, retryAfterMs: 30_000 });
        expect(standIn.calls.filter((c) => c.path === "/api/users").map((c) => c.status)).to.deep.equal([200, 429]);
        await connector.close();
      });

      it("fails, rather than list part of everyone or no one: pagination none while the answer says more follow, past roster.maxPages, a path that answers 404", async () => {
        // More than the 25 a page holds unless per_page says otherwise: the answer carries a Link to the next page.
        for (let i = 0; i < 30; i++) standIn.users.push({ id: 100 + i, email: `person${i}@example.com`, name: `Person ${i}` });
        const unpaged = listable({ pagination: { type: "none" } });
        const error = await failureOf(listAll(unpaged));
        expect(error.retryable).to.equal(false);
        expect(error.userMessage).to.equal(
          'helpdesk: listing everyone (roster) answered that more pages follow (a Link header with rel="next"), but no pagination is configured for it, so the roster stopped rather than list only the first page. Set its pagination (see docs/connectors.md)',
        );
        await unpaged.close();
        const capped = listable({ maxPages: 2 });
        expect((await failureOf(listAll(capped))).userMessage).to.match(/^helpdesk: listing everyone \(roster\) went past 2 pages, so the roster stopped rather than list only some of them\. .* raise roster\.maxPages$/);
        await capped.close();
        // A listing that is not there is not an empty system.
        const lost = listable({ path: "/people" });
        const missing = await failureOf(listAll(lost));
        expect(missing).to.include({ retryable: false, userMessage: `helpdesk: ${new URL(standIn.url).host} has no /api/people (HTTP 404); check roster.path` });
        await lost.close();
      });

      it("stops when the roster job's signal aborts", async () => {
        const connector = listable();
        const ctx = testContext();
        const iterator = connector.listSubjects!(ctx)[Symbol.asyncIterator]();
        await iterator.next();
        ctx.abort();
        await iterator.next();
        const error = await failureOf(iterator.next());
        expect(error).to.include({ retryable: true, internalMessage: "aborted" });
        expect(standIn.calls.filter((c) => c.path === "/api/users")).to.have.length(1);
        await connector.close();
      });

      it("has no listSubjects without roster, so rosters name it NOT_LISTABLE", async () => {
        const connector = createHttpConnector(restConfig(standIn), ENV);
        expect(connector.listSubjects).to.equal(undefined);
        await connector.close();
      });
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

  it("refuses plain http to a host that is not loopback unless DSR_PLAINTEXT_HOSTS lists it: the person's identities and records would cross the network in clear", () => {
    const at = (baseUrl: string, env: NodeJS.ProcessEnv = ENV) => {
      const config = restConfig(Object.assign(new RestStandIn(), { url: baseUrl }));
      try {
        createHttpConnector(config, env);
        return [];
      } catch (error) {
        return (error as ConnectorConfigError).problems;
      }
    };
    expect(at("http://crm.example.com/api")).to.deep.equal([
      "baseUrl uses plain http to crm.example.com: the subject's identities, their records and the API's credentials would cross the network unencrypted. Use https, or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there (a service mesh's mutual TLS)",
    ]);
    expect(at("https://crm.example.com/api")).to.deep.equal([]);
    expect(at("http://crm.mesh/api", { ...ENV, DSR_PLAINTEXT_HOSTS: "crm.mesh" })).to.deep.equal([]);
  });

  it("needs every identity kind its subject search fills in, and refuses a placeholder that is no identity kind", () => {
    const specOf = (query: Record<string, string>) => createHttpConnector({ ...restConfig(new RestStandIn()), baseUrl: "http://127.0.0.1:1/api", subject: { ...restConfig(new RestStandIn()).subject, query } }, ENV).spec;
    expect(specOf({ email: "{email}" }).needs).to.deep.equal(["email"]);
    expect(specOf({ user_id: "{userId}", q: "{email}" }).needs).to.deep.equal(["email", "userId"]);
    expect(configProblemsOf((config) => (config.subject.query = { email: "{e-mail}" }))).to.deep.equal([
      `subject.query.email: {e-mail} is not a placeholder of an identity kind: "e-mail" is not an identity kind (letters, digits and _, e.g. userId), nor external:<system> for an external id`,
    ]);
  });

  it("refuses a placeholder in a path that is never filled in there, which would send its own text to the API", () => {
    expect(
      configProblemsOf((config) => {
        config.subject.path = "/users/by-email/{email}";
        config.subject.account!.erase!.path = "/users/{subject}?tenant={tenant}";
        config.resources[0].path = "/users/{subject}/notes?since={recordedSince}";
        config.resources[0].erase = { strategy: "DELETE", path: "/users/{user}/notes/{record}" };
      }),
    ).to.deep.equal([
      "subject.path holds {email}, which is never filled in: nothing is filled in there (identities go in subject.query)",
      "subject.account.erase.path holds {tenant}, which is never filled in: only {subject} is filled in there",
      "resources[0].path holds {recordedSince}, which is never filled in: only {subject} is filled in there",
      "resources[0].erase.path holds {user}, which is never filled in: only {subject} and {record} are filled in there",
    ]);
  });

  it("refuses a connector that erases without saying what becomes of the account its search finds, and a malformed subject.account", () => {
    // Without it, a deletion completed with the account (her address, name and phone) in the API and nothing reported.
    const without = configProblemsOf((config) => delete config.subject.account);
    expect(without).to.have.length(1);
    expect(without[0]).to.match(/^subject\.account is required when a resource erases: /);
    const accessOnly = configProblemsOf((config) => {
      delete config.subject.account;
      for (const r of config.resources) delete r.erase;
    });
    expect(accessOnly).to.deep.equal([]);
    const problemsOf = (account: unknown) => configProblemsOf((config) => ((config.subject as Record<string, unknown>).account = account));
    expect(problemsOf({ category: "ACCOUNT", fields: ["email"], erase: { strategy: "DELETE", path: "/users?id={subject}" } })).to.deep.equal([
      "subject.account.erase.path is required and must hold {subject} in its path, the account's id",
    ]);
    expect(problemsOf({ category: "", fields: [], erase: { strategy: "ANONYMIZE", path: "/users/{subject}" }, typo: 1 })).to.deep.equal([
      'subject.account: unknown field "typo" (allowed: category, recordType, fields, erase)',
      "subject.account.category is required",
      "subject.account.fields must list the fields of the search's item the person receives",
      'subject.account.erase must be {"strategy": "DELETE", "path": "..."}',
    ]);
    expect(problemsOf({ category: "ACCOUNT", fields: ["email"] })).to.deep.equal([]);
  });

  it("refuses an unknown recordedAtFormat, or one without recordedAtField, naming the resource and not echoing the value", () => {
    expect(configProblemsOf((config) => ((config.resources[0] as unknown as Record<string, unknown>).recordedAtFormat = "unix-ish"))).to.deep.equal([
      "resources[0].recordedAtFormat (note records) must be one of datetime, epochSeconds, epochMilliseconds, epochMicroseconds, epochNanoseconds, julianDay, yyyymmdd (how recordedAtField writes its dates)",
    ]);
    expect(
      configProblemsOf((config) => {
        delete config.resources[1].recordedAtField;
        config.resources[1].recordedAtFormat = "epochSeconds";
      }),
    ).to.deep.equal(["resources[1].recordedAtFormat (invoice records) is given without recordedAtField, whose dates it describes"]);
    expect(configProblemsOf((config) => (config.resources[0].recordedAtFormat = "julianDay"))).to.deep.equal([]);
  });

  it("refuses a resource path without {subject}, and one with it only in the query unless subjectField confirms each record", () => {
    // GET /notes answers everyone's notes: as one person's, all 4 of the others' were exported to Ada and erased with hers.
    const problemsOf = (path: string, subjectField?: string) =>
      configProblemsOf((config) => (config.resources[0] = { ...config.resources[0], path, ...(subjectField === undefined ? {} : { subjectField }) }));
    expect(problemsOf("/notes")).to.deep.equal(["resources[0].path must hold {subject}, the person's id: a path without it lists everyone's records, each of which would be exported to the person and erased with her"]);
    expect(problemsOf("/notes?user={subject}")).to.deep.equal([
      "resources[0].path holds {subject} only in its query, a filter the API may ignore and answer everyone's records: give subjectField, the field of a record holding its account's id, so each record is confirmed",
    ]);
    expect(problemsOf("/notes?user={subject}", "")).to.deep.equal(["resources[0].subjectField must be the dotted field of a record holding its account's id"]);
    expect(problemsOf("/notes?user={subject}", "user")).to.deep.equal([]);
    expect(problemsOf("/users/{subject}/notes")).to.deep.equal([]);
  });

  it("refuses an ANONYMIZE that would leave a received field of the person's as it is, naming each field", () => {
    const problemsOf = (erase: unknown) => configProblemsOf((config) => ((config.resources[1] as unknown as Record<string, unknown>).erase = erase));
    const anonymize = { strategy: "ANONYMIZE", method: "PATCH", path: "/invoices/{record}" };
    // The billing address left as it is: every anonymised invoice would still hold it, counted as erased.
    expect(problemsOf({ ...anonymize, fields: { billing_name: null } })).to.deep.equal([
      `resources[1]: ANONYMIZE leaves the received fields "billing_address", "amount", "issued_at" as they are: overwrite them in erase.fields, or list them in erase.keep if they identify nobody once the rest is overwritten (an amount, a date)`,
    ]);
    expect(problemsOf({ ...anonymize, fields: { billing_name: null }, keep: ["amount", "issued_at"] })).to.deep.equal([
      `resources[1]: ANONYMIZE leaves the received field "billing_address" as it is: overwrite it in erase.fields, or list it in erase.keep if it identifies nobody once the rest is overwritten (an amount, a date)`,
    ]);
    expect(problemsOf({ ...anonymize, fields: { id: "x", billing_name: null, billing_address: { street: null } }, keep: ["amount", "issued_at", "billing_name", "user"], kept: [] })).to.deep.equal([
      'resources[1].erase: unknown field "kept" (allowed: strategy, method, path, fields, keep)',
      "resources[1].erase.fields.billing_address must be a string, number, boolean or null",
      "resources[1].erase.fields cannot overwrite the idField id",
      'resources[1].erase.keep lists "billing_name", which erase.fields overwrites: name each field in one of them',
      'resources[1].erase.keep lists "user", which the person does not receive (not in fields)',
    ]);
    // An address as a replacement: a search for its owner would find every anonymised account.
    expect(problemsOf({ ...anonymize, fields: { billing_name: "deleted@example.com", billing_address: "" }, keep: ["amount", "issued_at"] })).to.deep.equal([
      'resources[1].erase.fields.billing_name is an email address: every anonymised record would hold it and be found as whoever\'s address it is; use null or ""',
    ]);
    expect(problemsOf({ ...anonymize, fields: { billing_name: "Deleted user", billing_address: "" }, keep: ["amount", "issued_at"] })).to.deep.equal([]);
  });

  it("lists every problem of a roster section at once, with the rest of the configuration's", () => {
    const config = { ...restConfig(Object.assign(new RestStandIn(), { url: "http://127.0.0.1:1/api" })), maxPages: 0 } as unknown as Record<string, unknown>;
    config.roster = { path: "/users/{subject}", pagination: { type: "pages" }, identities: { email: "email", Email: "contact.email", "external:crm": "crm_id", helpdeskUserId: "" }, recordField: "n", query: { active: true } };
    const problems = (() => {
      try {
        createHttpConnector(config as never, ENV);
      } catch (error) {
        expect(error).to.be.instanceOf(ConnectorConfigError);
        return (error as ConnectorConfigError).problems;
      }
      return [];
    })();
    expect(problems).to.deep.equal([
      'roster: unknown field "recordField" (allowed: path, query, items, pagination, identities, recordsField, maxPages)',
      "roster.items is required",
      "roster.path cannot hold a placeholder: the listing is everyone's, nobody's in particular",
      "roster.query must map query parameters to fixed strings",
      "roster.pagination.type must be none, cursor, page or link",
      'roster.identities: "Email" would be a second spelling of email: write email',
      'roster.identities: "external:crm" is not an identity kind (letters, digits and _, e.g. userId), nor external:<system> for an external id',
      "roster.identities.helpdeskUserId must be the dotted field holding it",
      "maxPages must be a whole number from 1 to 1000000",
    ]);
    const without = (roster: unknown) => {
      try {
        createHttpConnector({ ...restConfig(Object.assign(new RestStandIn(), { url: "http://127.0.0.1:1/api" })), roster } as never, ENV);
        return [];
      } catch (error) {
        return (error as ConnectorConfigError).problems;
      }
    };
    expect(without({ path: "/users", items: "users", identities: {} })).to.deep.equal([
      'roster.pagination is required: {"type": "none" | "cursor" | "page" | "link", ...}',
      'roster.identities must map at least one identity kind to the field holding it, e.g. {"email": "email"}',
    ]);
  });
});

describe("the body of an HTTP ANONYMIZE (withValues)", () => {
  it("nests dotted replacements, keeps the rest of a record for PUT, and changes nothing it was given", () => {
    const item = { id: "in-1", amount: 100, billing: { name: "Ada Lovelace", city: "London" }, tags: ["a"] };
    const replacements = { "billing.name": null, "contact.email": "" };
    // PATCH: only the replacements, as the API reads them.
    expect(withValues({}, replacements)).to.deep.equal({ billing: { name: null }, contact: { email: "" } });
    // PUT: the whole record, the replacements set.
    expect(withValues(item, replacements)).to.deep.equal({ id: "in-1", amount: 100, billing: { name: null, city: "London" }, tags: ["a"], contact: { email: "" } });
    expect(item.billing.name).to.equal("Ada Lovelace");
  });
});
