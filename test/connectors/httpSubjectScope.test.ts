import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { download, exportLink } from "../export/support";
import type { HttpConnectorConfig } from "../../src/connectors/http";
import { ZipReader } from "../../src/export/zipReader";
import { ADA, restConfig, restRoster, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  notSearched { connector category recordType reason }
  tasks { connector step status lastError } } }`;

/** The note ids in a request's export, as the person downloads it. */
async function exportedNotes(t: TestService, requestId: string): Promise<string[]> {
  const zip = ZipReader.open((await download((await exportLink(t, requestId)).url)).file!);
  try {
    return (JSON.parse(await zip.text("data/support.json")) as { type: string; id: string }[]).filter((r) => r.type === "note").map((r) => r.id);
  } finally {
    zip.close();
  }
}

/**
 * Whether a request reaches exactly its subject in an HTTP system whose API misbehaves as real ones do:
 * a listing scoped only by its path (`/users/{subject}/notes`, no subjectField) that answers everyone's
 * notes, and a search that compares addresses case exactly. Asked of the stand-in's own store.
 */
describeEachDatabase("exactly the subject in an HTTP system: the listing's scope and the search's case", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const notesOf = (user: number) => standIn.notes.filter((n) => n.user === user).map((n) => n.id);

  /** Her access and her deletion over `config`, each FAILED saying `reason`; in the stand-in, her notes all there and nothing written. */
  const bothFailWithoutWrites = async (config: HttpConnectorConfig, ...reason: string[]) => {
    t = await hooks.serviceOver(config);
    for (const type of ["ACCESS", "DELETION"]) {
      const request = await runVerified(t, SHOW, type, ADA.email);
      expect(request.status, type).to.equal("FAILED");
      for (const words of reason) expect(request.statusReason, type).to.include(words);
    }
    expect(notesOf(1)).to.have.length(5);
    expect(standIn.calls.filter((c) => c.method !== "GET")).to.deep.equal([]);
  };

  it("exports and erases only her notes when the path scopes the listing (a made-up account answers none)", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const access = await runVerified(t, SHOW, "ACCESS", ADA.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(await exportedNotes(t, access.id)).to.have.members(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5"]).and.have.length(5);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(notesOf(1)).to.deep.equal([]);
    expect(notesOf(2)).to.deep.equal(["n-g1", "n-g2"]);
  });

  it("fails with HTTP_SCOPE_IGNORED, exporting and erasing nobody's notes, when a listing scoped only by its path answers everyone's", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    // GET /users/1/notes answers every user's notes (its first page: 2), and nothing in a note says whose (no subjectField).
    standIn.notesScopeIgnored = true;
    await bothFailWithoutWrites(restConfig(standIn), "[HTTP_SCOPE_IGNORED]", "listing note records of an account nobody holds answered 2 record(s)");
    // The API's own store: Grace's notes, and everyone else's, as they were.
    expect(notesOf(2)).to.deep.equal(["n-g1", "n-g2"]);
    expect(notesOf(3)).to.deep.equal(["n-x1"]);
  });

  it("fails with HTTP_SCOPE_IGNORED when such a listing refuses an id of another shape than its own (400 for a made-up id that is not a number)", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    standIn.notesScopeIgnored = "for numbers";
    await bothFailWithoutWrites(restConfig(standIn), "[HTTP_SCOPE_IGNORED]", "listing note records of an account nobody holds answered 2 record(s)");
    expect(notesOf(2)).to.deep.equal(["n-g1", "n-g2"]);
  });

  it("fails with HTTP_SEARCH_MATCHES_CASE, never COMPLETED with nothing of hers, when the search compares case and she is stored as Ada.Lovelace@", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    standIn.searchMatchesCase = true;
    await bothFailWithoutWrites(restConfig(standIn), "[HTTP_SEARCH_MATCHES_CASE]");
    // Stored as Ada.Lovelace@example.com: her account is there, untouched.
    expect(standIn.users.find((u) => u.id === 1)?.email).to.equal("Ada.Lovelace@example.com");
  });

  it("names what it could not search for, when the search answered no one to show that it ignores case", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    standIn.searchMatchesCase = true;
    // No near match: the search answers nothing at all for her lower-case address.
    standIn.users.splice(standIn.users.findIndex((u) => u.id === 3), 1);
    t = await hooks.serviceOver(restConfig(standIn));
    for (const type of ["ACCESS", "DELETION"]) {
      const request = await runVerified(t, SHOW, type, ADA.email);
      expect(request.status, `${type}: ${request.statusReason}`).to.equal("COMPLETED");
      expect(request.notSearched.map((n: any) => `${n.connector} ${n.category} ${n.recordType}`).sort(), type).to.deep.equal(["helpdesk ACCOUNT account", "helpdesk PAYMENTS invoice", "helpdesk SUPPORT note"]);
      for (const n of request.notSearched) expect(n.reason).to.include("case").and.not.include(ADA.email);
    }
    // What the report says is left unsearched is there: her notes, under her account as stored.
    expect(notesOf(1)).to.have.length(5);
  });

  it("asks the search, in other case, for an address the roster lists when it answered no one: fails with HTTP_SEARCH_MATCHES_CASE when it compares case", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    standIn.searchMatchesCase = true;
    standIn.users.splice(standIn.users.findIndex((u) => u.id === 3), 1);
    await bothFailWithoutWrites({ ...restConfig(standIn), roster: restRoster() }, "[HTTP_SEARCH_MATCHES_CASE]");
  });

  it("completes with nothing unsearched for someone the system does not hold, when an address the roster lists shows the search ignores case", async function () {
    this.timeout(60_000);
    t = await hooks.serviceOver({ ...restConfig(standIn), roster: restRoster() });
    const access = await runVerified(t, SHOW, "ACCESS", "nobody.here@example.net");
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.notSearched).to.deep.equal([]);
    // Asked for the roster's first address with its case swapped, the search answered it again.
    const asked = standIn.calls.filter((c) => c.path === "/api/users");
    expect(asked.length).to.be.greaterThan(1);
  });
});
