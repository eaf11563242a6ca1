import { expect } from "chai";
import { verifyDocument } from "../src/certificates/signing";
import { Role } from "../src/domain/enums";
import { Manifest } from "../src/export/format";
import { purgeExpiredExports } from "../src/export/purge";
import { ZipReader } from "../src/export/zipReader";
import { followersQuery } from "../src/orchestrator/requestSettler";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { download, exportLink } from "./export/support";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_TASK_MAX_ATTEMPTS: "2" };
const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason duplicateOf tasks { connector step } export { id records } } }`;
const LINK = `mutation($id: ID!) { createExportLink(requestId: $id) { url export { id records } } }`;

/** The manifest of a downloaded archive. */
async function manifestOf(file: string): Promise<Manifest> {
  const zip = ZipReader.open(file);
  try {
    return JSON.parse(await zip.text("manifest.json")) as Manifest;
  } finally {
    zip.close();
  }
}

describeEachDatabase("duplicate requests", (db) => {
  let t: TestService;
  let account: ScriptedConnector;
  let tickets: ScriptedConnector;
  beforeEach(async () => {
    account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] }).seed(ADA, 3);
    tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seed(ADA, 4);
    t = await new TestService(db(), FAST, [account, tickets]).start();
  });
  afterEach(async () => {
    await t?.stop();
  });

  const show = async (id: string) => (await t.ok(SHOW, { id })).request;
  const approve = (id: string) => t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id duplicateOf } }`, { id });
  const until = (id: string, status: string) => t.waitFor(async () => ((await show(id)).status === status ? show(id) : undefined), `${id} ${status}`, 30_000);
  const request = (type: string) => submit(t, { type, identityVerified: true, verificationEvidence: "test" });

  it("serves an ACCESS duplicate the original's export: the same archive, with what the systems hold", async () => {
    tickets.delayMs = 300;
    const first = await request("ACCESS");
    await approve(first.id);
    const second = await request("ACCESS");
    expect((await approve(second.id)).approveRequest.duplicateOf).to.equal(first.id);
    const original = await until(first.id, "COMPLETED");
    const follower = await until(second.id, "COMPLETED");
    expect(follower.tasks).to.deep.equal([]);
    expect(follower.statusReason).to.equal(`answered together with request ${first.id}`);
    expect(follower.export).to.deep.equal(original.export);
    expect(original.export.records).to.equal(7);

    const link = (await t.ok(LINK, { id: second.id })).createExportLink;
    expect(link.export).to.deep.equal(original.export);
    const got = await download(link.url);
    expect(got.status).to.equal(200);
    const manifest = await manifestOf(got.file!);
    expect(manifest.request.id).to.equal(first.id);
    const counted = Object.fromEntries(manifest.categories.map((c) => [c.category, c.records]));
    expect(counted).to.deep.equal({ ACCOUNT: account.data.get(ADA)!.length, SUPPORT: tickets.data.get(ADA)!.length });
    expect(tickets.callsOf("collect")).to.have.length(1);
    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: second.id })).auditEvents;
    expect(events.find((e: any) => e.action === "export.link_created").details).to.include({ answeredWith: first.id, exportId: original.export.id });
  });

  it("answers CONFLICT for a request without an export with a message that agrees with its type and status", async () => {
    tickets.script("collect", { kind: "hang" });
    const running = await request("ACCESS");
    await approve(running.id);
    const deletion = await request("DELETION");
    const pending = await request("PORTABILITY");
    const messages = async (id: string) => (await t.gql(LINK, { id })).errors!.map((e) => [e.extensions.code, e.message]);
    expect(await messages(running.id)).to.deep.equal([["CONFLICT", `Request ${running.id} is IN_PROGRESS; its export is written when the request completes`]]);
    expect(await messages(deletion.id)).to.deep.equal([["CONFLICT", `Request ${deletion.id} is a DELETION request; only ACCESS and PORTABILITY requests have an export`]]);
    expect(await messages(pending.id)).to.deep.equal([["CONFLICT", `Request ${pending.id} is PENDING_APPROVAL; its export is written when the request completes`]]);
  });

  it("says a completed request's export is no longer kept once its retention ended, for it and its duplicate alike", async () => {
    tickets.delayMs = 300;
    const first = await request("ACCESS");
    await approve(first.id);
    const second = await request("ACCESS");
    await approve(second.id);
    await until(second.id, "COMPLETED");
    t.clock.advance(31 * 86_400_000);
    expect((await purgeExpiredExports(t.service.services)).exports).to.equal(1);
    for (const id of [first.id, second.id]) {
      const res = await t.gql(LINK, { id });
      expect(res.errors!.map((e) => [e.extensions.code, e.message])).to.deep.equal([
        ["CONFLICT", `The export of request ${id} is no longer kept (exports are removed 30 days after they are written); submit a new request for a fresh copy`],
      ]);
      expect((await show(id)).export).to.equal(null);
    }
  });

  it("lets a duplicate whose original already ended do its own work, with its own export", async () => {
    const first = await request("ACCESS");
    const second = await request("ACCESS");
    expect((await show(second.id)).duplicateOf).to.equal(first.id);
    await approve(first.id);
    const original = await until(first.id, "COMPLETED");
    const approved = (await approve(second.id)).approveRequest;
    expect(approved.duplicateOf).to.equal(null);
    const own = await until(second.id, "COMPLETED");
    expect(own.tasks.map((x: any) => `${x.connector}:${x.step}`).sort()).to.deep.equal(["account-db:COLLECT", "export:EXPORT", "tickets:COLLECT"]);
    expect(own.export.id).not.to.equal(original.export.id);
    const manifest = await manifestOf((await download((await exportLink(t, second.id)).url)).file!);
    expect(manifest.request.id).to.equal(second.id);
    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id: second.id })).auditEvents;
    expect(events.find((e: any) => e.action === "request.duplicate_unlinked").details).to.deep.equal({ wasDuplicateOf: first.id, originalStatus: "COMPLETED" });
  });

  it("gives a DELETION duplicate the original's certificate: what the original erased, signed for the duplicate", async () => {
    tickets.delayMs = 300;
    const first = await request("DELETION");
    await approve(first.id);
    const second = await request("DELETION");
    expect((await approve(second.id)).approveRequest.duplicateOf).to.equal(first.id);
    await until(first.id, "COMPLETED");
    await until(second.id, "COMPLETED");
    expect(account.data.has(ADA) || tickets.data.has(ADA), "the systems still hold Ada's records").to.equal(false);
    const CERT = `query($id: ID!) { deletionCertificate(requestId: $id) { requestId answeredWith signed erased { connector status records kept } kept { connector } } }`;
    const original = (await t.ok(CERT, { id: first.id }, Role.AUDITOR)).deletionCertificate;
    const follower = (await t.ok(CERT, { id: second.id }, Role.AUDITOR)).deletionCertificate;
    expect(follower).to.deep.include({ requestId: second.id, answeredWith: first.id });
    expect(follower.erased).to.deep.equal(original.erased);
    expect(follower.erased).to.deep.equal([
      { connector: "account-db", status: "SUCCEEDED", records: 3, kept: 0 },
      { connector: "tickets", status: "SUCCEEDED", records: 4, kept: 0 },
    ]);
    const { pem } = (await t.ok(`{ certificatePublicKey { pem } }`)).certificatePublicKey;
    expect(verifyDocument(follower.signed, pem).ok).to.equal(true);
    expect(tickets.callsOf("erase")).to.have.length(1);
  });

  it("does not answer a DELETION naming an id the open one lacks with that one's work: the system found by it is erased too", async () => {
    // A newsletter system finds people only by its own id: the first request does not name it.
    await t.stop();
    const newsletter = new ScriptedConnector({ name: "newsletter", categories: ["SUPPORT"], needs: ["external:newsletter"] }).seed(ADA, 2);
    t = await new TestService(db(), FAST, [account, tickets, newsletter]).start();
    tickets.delayMs = 300;
    const first = await request("DELETION");
    await approve(first.id);
    const second = await submit(t, { type: "DELETION", subject: { email: ADA, externalIds: [{ system: "newsletter", id: "NL-1" }] }, identityVerified: true, verificationEvidence: "test" });
    await approve(second.id);
    await until(first.id, "COMPLETED");
    const done = await t.waitFor(async () => {
      const now = await show(second.id);
      return ["COMPLETED", "FAILED"].includes(now.status) ? now : undefined;
    }, "second deletion ended", 30_000);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // The newsletter system itself: what only the second request could reach is gone.
    expect(newsletter.data.has(ADA), "the newsletter system still holds Ada's records").to.equal(false);
    expect(done.duplicateOf).to.equal(null);
  });

  it("does not let a minor's DELETION follow an open one that is not about a minor (which keeps more), and lets the other way round follow", async () => {
    tickets.delayMs = 300;
    const adult = await request("DELETION");
    await approve(adult.id);
    const minor = await submit(t, { type: "DELETION", concernsMinor: true, identityVerified: true, verificationEvidence: "test" });
    expect((await show(minor.id)).duplicateOf, "linked at submission").to.equal(null);
    expect((await approve(minor.id)).approveRequest.duplicateOf, "linked at approval").to.equal(null);
    await until(adult.id, "COMPLETED");
    expect((await until(minor.id, "COMPLETED")).tasks.length, "the minor's deletion did its own work").to.be.greaterThan(0);

    account.seed(ADA, 3);
    tickets.seed(ADA, 4);
    const first = await submit(t, { type: "DELETION", concernsMinor: true, identityVerified: true, verificationEvidence: "test" });
    await approve(first.id);
    const second = await request("DELETION");
    expect((await approve(second.id)).approveRequest.duplicateOf, "a deletion not about a minor asks no more than a minor's").to.equal(first.id);
    await until(first.id, "COMPLETED");
    expect((await until(second.id, "COMPLETED")).tasks).to.deep.equal([]);
  });

  it("finds a request's waiting duplicates by index when it ends, not by reading every request [MariaDB]", async function () {
    if (db().kind !== "mariadb") this.skip();
    const plan = await t.ds.transaction(async (em) => {
      const [sql, params] = followersQuery(em, "3f0c1a9e-0000-4000-8000-000000000000").getQueryAndParameters();
      return em.query(`EXPLAIN ${sql}`, params);
    });
    expect(plan, JSON.stringify(plan)).to.have.length(1);
    // Before the index: type ALL (every request examined, inside the transaction that ends the request).
    expect(plan[0]).to.include({ key: "idx_requests_duplicate_of", type: "ref" });
  });
});
