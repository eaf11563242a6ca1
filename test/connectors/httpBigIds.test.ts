import http from "node:http";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { createHttpConnector, HttpConnectorConfig } from "../../src/connectors/http";
import { ConnectorError } from "../../src/connectors/sdk";
import { collectAll, listAll, testContext } from "../../src/connectors/testing/conformance";
import { ADA, REST_TOKEN } from "./support/restStandIn";

/**
 * An API whose ids are 64-bit integers answered as JSON numbers (snowflake ids, a Java `long`): past
 * 2^53 a JSON number cannot be read exactly, and 1234567890123456789 reads as 1234567890123456800,
 * which is another account's id. Taken so, Ada's deletion listed that account's notes as hers and
 * deleted them, and the account with them. Asked of the system's own store.
 */
describe("an HTTP system whose ids are integers past 2^53", () => {
  // Ada's id and Mallory's: Mallory's is what Ada's reads as once rounded to a double.
  const ADA_ID = "1234567890123456789";
  const MALLORY_ID = "1234567890123456800";
  let users: Array<{ id: string; email: string; platform_id?: string }>;
  let notes: Array<{ id: string; user: string; text: string }>;
  let calls: string[];
  let server: http.Server;
  let url: string;

  beforeEach(async () => {
    users = [
      { id: ADA_ID, email: "Ada.Lovelace@example.com" },
      { id: MALLORY_ID, email: "mallory@example.com" },
    ];
    notes = [
      { id: "9007199254740993", user: ADA_ID, text: "Ada's note" },
      { id: "9007199254740992", user: MALLORY_ID, text: "Mallory's note" },
    ];
    calls = [];
    server = http.createServer((req, res) => {
      const at = new URL(req.url ?? "/", "http://x");
      calls.push(`${req.method} ${at.pathname}`);
      // Ids stored as text, answered as bare JSON numbers, as the API's own serializer writes a 64-bit id.
      const send = (status: number, body?: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(body === undefined ? "" : JSON.stringify(body).replace(/"(\d{16,})"/g, "$1"));
      if (req.headers.authorization !== `Bearer ${REST_TOKEN}`) return send(401, { error: "unauthorized" });
      const parts = at.pathname.split("/").filter(Boolean);
      // Without a search, everyone (the roster's listing).
      if (req.method === "GET" && at.pathname === "/api/users" && !at.searchParams.has("email")) return send(200, { users });
      if (req.method === "GET" && at.pathname === "/api/users") {
        const q = (at.searchParams.get("email") ?? "").toLowerCase();
        return send(200, { users: users.filter((u) => u.email.toLowerCase() === q) });
      }
      if (req.method === "GET" && parts[1] === "users" && parts[3] === "notes") return send(200, { notes: notes.filter((n) => n.user === parts[2]) });
      if (req.method === "DELETE" && parts[1] === "notes") {
        const before = notes.length;
        notes = notes.filter((n) => n.id !== parts[2]);
        return send(notes.length < before ? 204 : 404);
      }
      if (req.method === "DELETE" && parts[1] === "users") {
        const before = users.length;
        users = users.filter((u) => u.id !== parts[2]);
        return send(users.length < before ? 204 : 404);
      }
      send(404, { error: "no such route" });
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
    subject: { path: "/users", query: { email: "{email}" }, items: "users", idField: "id", matchField: "email", account: { category: "ACCOUNT", fields: ["email"], erase: { strategy: "DELETE", path: "/users/{subject}" } } },
    resources: [{ recordType: "note", category: "SUPPORT", path: "/users/{subject}/notes", items: "notes", pagination: { type: "none" }, idField: "id", fields: ["text"], erase: { strategy: "DELETE", path: "/notes/{record}" } }],
    requestsPerSecond: 200,
    timeoutMs: 2000,
  });

  it("acts on no other account: collect and erase fail, not retryably, before any call about Mallory, and nothing is written", async () => {
    const connector = createHttpConnector(config(), { REST_TEST_TOKEN: REST_TOKEN });
    for (const run of ["collect", "erase"] as const) {
      const work = run === "collect" ? collectAll(connector, ADA) : connector.erase!(ADA, { categories: ["SUPPORT", "ACCOUNT"] }, testContext());
      const error = await work.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, run).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable, run).to.equal(false);
      expect((error as ConnectorError).userMessage, run).to.match(/an id past 2\^53 as a JSON number/);
    }
    await connector.close();
    expect(calls.filter((c) => c.includes(MALLORY_ID))).to.deep.equal([]);
    expect(calls.filter((c) => !c.startsWith("GET"))).to.deep.equal([]);
    expect(users.map((u) => u.id)).to.deep.equal([ADA_ID, MALLORY_ID]);
    expect(notes.map((n) => n.text)).to.deep.equal(["Ada's note", "Mallory's note"]);
  });

  it("deletes no other record: her note's id 9007199254740993 (read as 9007199254740992, Mallory's note) fails the erase before its DELETE", async () => {
    // Ada's account id fits; her note's id does not, and read rounded it is the id of Mallory's note.
    users[0].id = "7";
    notes[0].user = "7";
    const connector = createHttpConnector(config(), { REST_TEST_TOKEN: REST_TOKEN });
    const error = await connector.erase!(ADA, { categories: ["SUPPORT", "ACCOUNT"] }, testContext()).catch((e: unknown) => e);
    await connector.close();
    expect(error).to.be.instanceOf(ConnectorError);
    expect((error as ConnectorError).userMessage).to.match(/an id past 2\^53 as a JSON number at id/);
    expect(calls.filter((c) => !c.startsWith("GET"))).to.deep.equal([]);
    expect(notes.map((n) => n.text)).to.deep.equal(["Ada's note", "Mallory's note"]);
    expect(users.map((u) => u.id)).to.deep.equal(["7", MALLORY_ID]);
  });

  it("lists no one in a breach roster by an identity past 2^53 read rounded (another person's userId): leaves it out, counted", async () => {
    // The platform's user id, kept in this system as a number: Ada's, read rounded, is Mallory's.
    users[0].platform_id = ADA_ID;
    users[1].platform_id = "1234567890123456900";
    const connector = createHttpConnector(
      { ...config(), roster: { path: "/users", items: "users", pagination: { type: "none" }, identities: { email: "email", userId: "platform_id" } } },
      { REST_TEST_TOKEN: REST_TOKEN },
    );
    const ctx = testContext();
    const entries = await listAll(connector, ctx);
    await connector.close();
    expect(entries.flatMap((e) => (e.identities.userId ? [e.identities.userId] : []))).to.deep.equal([]);
    expect(entries.map((e) => e.identities.email)).to.deep.equal(["ada.lovelace@example.com", "mallory@example.com"]);
    expect(ctx.lines.find((l) => l.msg === "http listing read for a roster")?.obj).to.include({ items: 2, listed: 2, unreadableIdentities: 2 });
  });
});
