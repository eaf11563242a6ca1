import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { SubjectRecord } from "../../src/connectors/sdk";
import { ExportRow } from "../../src/entities";
import { describeEachDatabase } from "../support/databases";
import { TestService } from "../support/harness";
import { ScriptedConnector } from "../support/scriptedConnector";
import { ADA_EMAIL, completedRequest, download, exportLink, FAST } from "./support";

/** Records of random text: the export does not compress, so it is megabytes that cannot sit in a socket's buffers at once. */
function bulkyConnector(): ScriptedConnector {
  const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] });
  const records: SubjectRecord[] = Array.from({ length: 800 }, (_, i) => ({ category: "ACCOUNT", type: "note", id: `n-${i}`, recordedAt: new Date(Date.UTC(2024, 0, 1)), data: { text: randomBytes(6_000).toString("base64") } }));
  account.data.set(ADA_EMAIL, records);
  return account;
}

/** GETs `url`, takes the first chunk of the body, then closes the connection: a download given up midway. */
function abandonAfterFirstChunk(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => res.once("data", (chunk: Buffer) => (req.destroy(), resolve(chunk.length))));
    req.once("error", (error) => ((error as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(error)));
  });
}

describeEachDatabase("export download audit", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db(), FAST, [bulkyConnector()]).start();
  });
  after(async () => {
    await t?.stop();
  });

  const linkEvents = async (id: string): Promise<string[]> =>
    (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id })).auditEvents.map((e: { action: string }) => e.action).filter((a: string) => a.startsWith("export.download"));

  it("answers HEAD with GET's status and headers, sends nothing, and audits no download", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const { url } = await exportLink(t, id);
    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).to.equal(200);
    expect(head.headers.get("content-type")).to.equal("application/zip");
    expect((await head.arrayBuffer()).byteLength).to.equal(0);
    expect(await linkEvents(id)).to.deep.equal([]);
    expect((await fetch(url.replace(/signature=([0-9a-f])/, (_, c) => `signature=${c === "0" ? "1" : "0"}`), { method: "HEAD" })).status).to.equal(403);
    const got = await download(url);
    expect(got.status).to.equal(200);
    expect(got.body.length).to.be.greaterThan(4_000_000);
    expect(await linkEvents(id)).to.deep.equal(["export.downloaded"]);
  });

  it("answers 503 with Retry-After when the storage cannot be read, 404 only when the file is gone, and audits neither", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const { url } = await exportLink(t, id);
    const row = await t.ds.getRepository(ExportRow).findOneByOrFail({ requestId: id });
    const file = path.join(t.service.services.config.dataDir, "exports", row.objectKey);
    const kept = `${file}.kept`;
    fs.renameSync(file, kept);
    fs.symlinkSync(path.basename(file), file); // a link to itself: opening it fails (ELOOP), as a storage fault would
    const fault = await fetch(url);
    expect([fault.status, fault.headers.get("retry-after"), ((await fault.json()) as { error: { code: string } }).error.code]).to.deep.equal([503, "60", "INTERNAL_SERVER_ERROR"]);
    fs.rmSync(file);
    const gone = await fetch(url);
    expect([gone.status, ((await gone.json()) as { error: { code: string } }).error.code]).to.deep.equal([404, "NOT_FOUND"]);
    expect(await linkEvents(id)).to.deep.equal([]);
    fs.renameSync(kept, file);
    expect((await download(url)).status).to.equal(200);
  });

  it("follows a download the client gave up midway with export.download_interrupted", async function () {
    this.timeout(60_000);
    const id = await completedRequest(t);
    const { url } = await exportLink(t, id);
    expect(await abandonAfterFirstChunk(url)).to.be.greaterThan(0);
    const events = await t.waitFor(async () => {
      const actions = await linkEvents(id);
      return actions.length === 2 ? actions : undefined;
    }, "the interruption's audit event");
    expect(events).to.deep.equal(["export.downloaded", "export.download_interrupted"]);
    const [interrupted] = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action details } }`, { id })).auditEvents.filter((e: { action: string }) => e.action === "export.download_interrupted");
    expect(interrupted.details.reason).to.match(/connection closed before the whole file was sent/);
    expect((await download(url)).status).to.equal(200);
    expect(await linkEvents(id)).to.deep.equal(["export.downloaded", "export.download_interrupted", "export.downloaded"]);
  });
});
