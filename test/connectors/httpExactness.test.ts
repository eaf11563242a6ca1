import { expect } from "chai";
import { ZipReader } from "../../src/export/zipReader";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { download, exportLink } from "../export/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  deletionOutcome { connector category plannedToErase erased kept residual matchesPlan }
  tasks { connector step status attempts lastError } } }`;

/** The record ids of each type in a request's export, as the person downloads it. */
async function exportedIds(t: TestService, requestId: string): Promise<Record<string, string[]>> {
  const got = await download((await exportLink(t, requestId)).url);
  const zip = ZipReader.open(got.file!);
  const ids: Record<string, string[]> = {};
  try {
    const manifest = JSON.parse(await zip.text("manifest.json")) as { files: { path: string; category: string | null; format: string }[] };
    for (const f of manifest.files.filter((x) => x.category !== null && x.format === "json")) {
      for (const r of JSON.parse(await zip.text(f.path)) as { type: string; id: string }[]) (ids[r.type] ??= []).push(r.id);
    }
  } finally {
    zip.close();
  }
  return ids;
}

/**
 * Whether what the service says of Ada in an HTTP system (her access export, her deletion) is what the
 * API holds, when the API behaves as real ones do: a search that does not read a misnamed parameter and
 * lists everyone, a next cursor under another name than configured, pages that move while they are
 * read, a DELETE answering 410 Gone for a record deleted meanwhile. Asked of the stand-in's own store.
 */
describeEachDatabase("exactly her records in an HTTP system, as the API holds them", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  beforeEach(() => (standIn = hooks.standIn()));
  const adas = () => standIn.notes.filter((n) => n.user === 1).map((n) => n.id);

  it("fails, never COMPLETED with nothing of hers, when the subject search does not read its parameter and lists everyone without a sign of more pages", async function () {
    this.timeout(60_000);
    // 30 people listed before her, newest first, and no Link or other sign that a second page follows.
    for (let i = 0; i < 30; i++) standIn.users.push({ id: 100 + i, email: `person${i}@example.org`, name: `Person ${i}` });
    standIn.usersLinks = false;
    standIn.usersOrder = "newest";
    dateAda(standIn, "old");
    const config = restConfig(standIn);
    // The API searches by email=; mail= it does not know, and ignores.
    config.subject.query = { mail: "{email}" };
    t = await hooks.serviceOver(config);
    for (const type of ["ACCESS", "DELETION"]) {
      const request = await runVerified(t, SHOW, type, ADA.email);
      expect(request.status, type).to.equal("FAILED");
      expect(request.statusReason, type).to.include("helpdesk: the subject search answered 25 people when asked for a made-up address nobody holds, so it does not search by subject.query");
    }
    // The API's own store: everything of hers is there, as the failed deletion says.
    expect(adas()).to.deep.equal(["n-a1", "n-a2", "n-a3", "n-a4", "n-a5"]);
    expect(standIn.users.some((u) => u.id === 1)).to.equal(true);
    expect(standIn.calls.filter((c) => c.method !== "GET")).to.deep.equal([]);
  });

  it("fails the access, never COMPLETED with her first page of notes, when the answer names its next cursor elsewhere than pagination.nextCursor", async function () {
    this.timeout(60_000);
    const config = restConfig(standIn);
    // The API answers meta.next_cursor; the configuration says meta.nextCursor.
    config.resources[0].pagination = { type: "cursor", cursorParam: "cursor", nextCursor: "meta.nextCursor", sizeParam: "limit", size: 2 };
    t = await hooks.serviceOver(config);
    const access = await runVerified(t, SHOW, "ACCESS", ADA.email);
    expect(access.status).to.equal("FAILED");
    expect(access.statusReason).to.include("helpdesk: listing note records answered that more pages follow (meta.next_cursor), but pagination.nextCursor (meta.nextCursor) holds no next page");
  });

  it("exports each of her invoices once, every one, when a new invoice arrives between two pages (offset paging answers one again)", async function () {
    this.timeout(60_000);
    // A renewal invoice arrives after the first page of the first listing: listed newest first, it
    // shifts her others down a place, and page 2 answers the last of page 1 again.
    let arrived = false;
    standIn.afterAnswer = (c) => {
      if (arrived || c.path !== "/api/users/1/invoices" || c.query.get("page") !== "1") return;
      arrived = true;
      standIn.invoices.unshift({ id: "in-a0", user: 1, billing_name: "Ada Lovelace", billing_address: "12 St James's Square", amount: 40, issued_at: "2024-01-01T00:00:00.000Z" });
    };
    t = await hooks.serviceOver(restConfig(standIn));
    const access = await runVerified(t, SHOW, "ACCESS", ADA.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect((await exportedIds(t, access.id)).invoice).to.have.members(standIn.invoices.filter((i) => i.user === 1).map((i) => i.id)).and.have.length(4);
    const collect = access.tasks.find((x: any) => x.connector === "helpdesk" && x.step === "COLLECT");
    expect(collect.attempts).to.equal(2);
  });

  it("completes a deletion with a note deleted meanwhile (its DELETE answering 410 Gone) not counted erased, and nothing of hers left", async function () {
    this.timeout(60_000);
    standIn.goneStatus = 410;
    dateAda(standIn, "old");
    // Someone deletes n-a2 in the system after the erasure listed it.
    standIn.afterAnswer = (c) => {
      if (c.method === "DELETE" && c.path === "/api/notes/n-a1") standIn.notes = standIn.notes.filter((n) => n.id !== "n-a2");
    };
    t = await hooks.serviceOver(restConfig(standIn));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path === "/api/notes/n-a2").map((c) => c.status)).to.deep.equal([410]);
    expect(adas()).to.deep.equal([]);
    expect(standIn.users.some((u) => u.id === 1)).to.equal(false);
    const support = deletion.deletionOutcome.find((l: any) => l.category === "SUPPORT");
    expect(support).to.include({ plannedToErase: 5, erased: 4, residual: 0 });
  });

  it("counts each note and invoice it erased, and completes, when the API answers its writes in plain text (200 OK), not JSON", async function () {
    this.timeout(60_000);
    // A write's answer is not read (the check after erasing is), so text there is no failure: taken for
    // one (\"not JSON\"), the first DELETE had erased a note and the task failed counting nothing.
    standIn.writeText = { ok: 200, text: "OK" };
    dateAda(standIn, "old");
    t = await hooks.serviceOver(restConfig(standIn));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(adas()).to.deep.equal([]);
    expect(standIn.invoices.filter((i) => i.user === 1).map((i) => i.billing_name)).to.deep.equal([null, null, null]);
    expect(standIn.users.some((u) => u.id === 1), "Ada's account").to.equal(false);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const line = (category: string) => deletion.deletionOutcome.find((l: any) => l.category === category);
    expect(line("SUPPORT")).to.include({ plannedToErase: 5, erased: 5, residual: 0, matchesPlan: true });
    expect(line("PAYMENTS")).to.include({ plannedToErase: 3, erased: 3, residual: 0, matchesPlan: true });
    expect(line("ACCOUNT")).to.include({ plannedToErase: 1, erased: 1, matchesPlan: true });
  });

  it("takes a DELETE answering 404 with an HTML page for a note gone meanwhile, not for a failure, and counts it not erased", async function () {
    this.timeout(60_000);
    standIn.writeText = { ok: 204, gone: 404, text: "<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>", contentType: "text/html" };
    dateAda(standIn, "old");
    standIn.afterAnswer = (c) => {
      if (c.method === "DELETE" && c.path === "/api/notes/n-a1") standIn.notes = standIn.notes.filter((n) => n.id !== "n-a2");
    };
    t = await hooks.serviceOver(restConfig(standIn));
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(standIn.calls.filter((c) => c.method === "DELETE" && c.path === "/api/notes/n-a2").map((c) => c.status)).to.deep.equal([404]);
    expect(adas()).to.deep.equal([]);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.deletionOutcome.find((l: any) => l.category === "SUPPORT")).to.include({ plannedToErase: 5, erased: 4, residual: 0 });
  });

  it("fails, never COMPLETED with nothing of hers, when subject.matchField names a field the search's items do not hold", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    const config = restConfig(standIn);
    // The API's users hold email; the configuration says email_address.
    config.subject.matchField = "email_address";
    t = await hooks.serviceOver(config);
    for (const type of ["ACCESS", "DELETION"]) {
      const request = await runVerified(t, SHOW, type, ADA.email);
      expect(request.status, type).to.equal("FAILED");
      expect(request.statusReason, type).to.include("none holding email_address, so whose each is cannot be told");
    }
    expect(adas()).to.have.length(5);
    expect(standIn.calls.filter((c) => c.method !== "GET")).to.deep.equal([]);
  });

  it("fails before any write, never erasing invoices the tax rule keeps, when recordedAtField names a field her invoices do not hold", async function () {
    this.timeout(60_000);
    // Her invoices, 90 days old, are inside the 7 years PAYMENTS are kept.
    dateAda(standIn, "recent");
    const config = restConfig(standIn);
    config.resources[1].recordedAtField = "issued";
    t = await hooks.serviceOver(config);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("FAILED");
    expect(deletion.statusReason).to.include("listing invoice records answered 3, none holding issued, so none could be dated for retention");
    // The API's own invoices: hers as they were.
    expect(standIn.invoices.filter((i) => i.user === 1 && i.billing_name === "Ada Lovelace")).to.have.length(3);
  });
});
