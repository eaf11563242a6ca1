import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { sealCheckpoint } from "../src/audit/checkpointer";
import { eventHash } from "../src/audit/chain";
import { checkpointName, CHECKPOINT_PREFIX } from "../src/audit/checkpointStore";
import { Role } from "../src/domain/enums";
import { AuditCheckpointRow } from "../src/entities";
import { describeEachDatabase } from "./support/databases";
import { dsrAgainst, insertRaw, rewriteStream, streamEvents } from "./support/auditTools";
import { submitVerified, TestService } from "./support/harness";

const VERIFY = `query($full: Boolean) { verifyAuditTrail(full: $full) { ok full fromCheckpoint latestCheckpoint checkedCheckpoints checkedEvents unsealedEvents problemCount summary firstBrokenSeq problem problems { kind stream seq checkpoint description } } }`;

describeEachDatabase("audit trail tampering", (db) => {
  let t: TestService;
  let request: string;
  beforeEach(async () => {
    t = await new TestService(db()).start();
    request = await history();
    await history();
    const sealed = await sealCheckpoint(t.service.services);
    expect(sealed).to.deep.include({ sealed: true, number: 1, streams: 3, events: 14 });
  });
  afterEach(async () => {
    await t.stop();
  });

  /** A request with five events: submitted, verified, approved, planned, deadline_extended. */
  async function history(): Promise<string> {
    const r = await submitVerified(t);
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id }, Role.PRIVACY_OFFICER);
    await t.ok(`mutation($id: ID!) { extendDeadline(id: $id, days: 10, reason: "waiting on payment processor") { id } }`, { id: r.id });
    return r.id;
  }

  const checkpointFile = (n: number) => path.join(t.service.services.config.dataDir, CHECKPOINT_PREFIX, checkpointName(n));

  /** The tampering must show through GraphQL (as an AUDITOR) and through `dsr audit verify` in its own process. */
  async function expectDetected(kind: string, where: { stream?: string | null; seq?: number | null; checkpoint?: number | null }, words: RegExp): Promise<void> {
    const v = (await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(v.ok, v.summary).to.equal(false);
    expect(v.problems[0]).to.deep.include({ kind, ...where });
    expect(v.problems[0].description).to.match(words);
    expect(v.summary).to.match(/tampered with/);
    const cli = await dsrAgainst(t, ["audit", "verify"]);
    expect(cli.code, cli.stderr).to.equal(1);
    expect(cli.stdout).to.include(`problem ${kind}`);
    expect(cli.stdout).to.match(words);
  }

  it("finds the sealed trail intact, through GraphQL and the CLI, and then checks only what is new", async () => {
    const v = (await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(v).to.deep.include({ ok: true, full: true, latestCheckpoint: 1, checkedCheckpoints: 1, checkedEvents: 14, unsealedEvents: 0, problemCount: 0 });
    await history();
    const cli = await dsrAgainst(t, ["audit", "verify"]);
    expect(cli.code, cli.stderr + cli.stdout).to.equal(0);
    expect(cli.stdout).to.match(/intact: 5 event\(s\) in 1 trail\(s\) checked since checkpoint 1/);
    expect(cli.stdout).to.match(/5 event\(s\) written after the newest checkpoint/);
  });

  it("detects a changed event", async () => {
    await t.ds.query(`UPDATE audit_events SET details = ? WHERE stream = ? AND seq = 3`, ['{"from":"PENDING_APPROVAL","to":"REJECTED"}', request]);
    await expectDetected("EVENT_CHANGED", { stream: request, seq: 3 }, /event 3 \(request.approved\) was changed after it was written/);
  });

  it("detects a changed event whose own hash was recomputed", async () => {
    const [e] = (await streamEvents(t, request)).filter((x) => x.seq === 3);
    const forged = { ...e, actorRole: "AUDITOR" };
    await t.ds.query(`UPDATE audit_events SET actorRole = 'AUDITOR', hash = ? WHERE stream = ? AND seq = 3`, [eventHash(forged), request]);
    await expectDetected("CHAIN_BROKEN", { stream: request, seq: 4 }, /event 4 does not follow event 3/);
  });

  it("detects a deleted event", async () => {
    await t.ds.query(`DELETE FROM audit_events WHERE stream = ? AND seq = 3`, [request]);
    await expectDetected("EVENT_MISSING", { stream: request, seq: 3 }, /event 3 is missing/);
  });

  it("detects sealed events deleted from the end of a trail, head row and all", async () => {
    const [e3] = (await streamEvents(t, request)).filter((x) => x.seq === 3);
    await t.ds.query(`DELETE FROM audit_events WHERE stream = ? AND seq > 3`, [request]);
    await t.ds.query(`UPDATE audit_stream_heads SET seq = 3, hash = ?, sealedSeq = 3, sealedHash = ? WHERE stream = ?`, [e3.hash, e3.hash, request]);
    await expectDetected("EVENT_MISSING", { stream: request, seq: 4, checkpoint: 1 }, /events 4 to 5, sealed by checkpoint 1, are missing/);
  });

  it("detects an inserted event, hashed and chained like a real one", async () => {
    const events = await streamEvents(t, request);
    await t.ds.query(`UPDATE audit_events SET seq = seq + 100 WHERE stream = ? AND seq >= 3`, [request]);
    await t.ds.query(`UPDATE audit_events SET seq = seq - 99 WHERE stream = ? AND seq > 100`, [request]);
    const forged = { ...events[2], action: "request.deadline_extended", details: '{"days":30,"reason":"backdated"}', seq: 3, prevHash: events[1].hash };
    await insertRaw(t, { ...forged, hash: eventHash(forged) });
    await expectDetected("EVENT_INSERTED", { stream: request, seq: 3 }, /event 4 was written as event 3: 1 event\(s\) were inserted before it/);
  });

  it("detects reordered events", async () => {
    await t.ds.query(`UPDATE audit_events SET seq = 100 WHERE stream = ? AND seq = 3`, [request]);
    await t.ds.query(`UPDATE audit_events SET seq = 3 WHERE stream = ? AND seq = 4`, [request]);
    await t.ds.query(`UPDATE audit_events SET seq = 4 WHERE stream = ? AND seq = 100`, [request]);
    await expectDetected("EVENTS_REORDERED", { stream: request, seq: 3 }, /events were reordered: event 3 was written as event 4/);
  });

  it("detects a whole trail recomputed by someone with database access", async () => {
    const events = await streamEvents(t, request);
    events[2].details = '{"from":"PENDING_APPROVAL","to":"REJECTED"}';
    events[2].action = "request.rejected";
    await rewriteStream(t, request, events);
    // In itself the rewritten trail is perfect: only the signed checkpoint shows it.
    await expectDetected("CHAIN_REWRITTEN", { stream: request, seq: 5, checkpoint: 1 }, /no longer end at the hash checkpoint 1 signed: the chain was rewritten/);
  });

  it("detects an altered checkpoint", async () => {
    const file = checkpointFile(1);
    fs.chmodSync(file, 0o600);
    const text = fs.readFileSync(file, "utf8");
    const events = await streamEvents(t, request);
    fs.writeFileSync(file, text.replace(events[4].hash, "f".repeat(64)));
    await expectDetected("CHECKPOINT_ALTERED", { stream: null, checkpoint: 1 }, /checkpoint 1 cannot be trusted: its signature does not match its content/);
  });

  it("detects a checkpoint removed from the middle of the list, and the newest one removed", async () => {
    await history();
    await sealCheckpoint(t.service.services);
    await history();
    expect(await sealCheckpoint(t.service.services)).to.deep.include({ sealed: true, number: 3 });
    fs.rmSync(checkpointFile(2));
    await expectDetected("CHECKPOINT_MISSING", { checkpoint: 2 }, /checkpoint 2 is missing from .*: the list of checkpoints jumps from 1 to a later one/);
    fs.rmSync(checkpointFile(3));
    await expectDetected("CHECKPOINT_MISSING", { checkpoint: 2 }, /checkpoint 2 was written \(the database records it\) but is no longer in/);
  });

  it("detects a checkpoint replaced by another validly signed one", async () => {
    await history();
    await sealCheckpoint(t.service.services);
    await history();
    await sealCheckpoint(t.service.services);
    // Checkpoint 2 swapped for checkpoint 3's file: signed, but not what 3 was linked to, and misnumbered.
    fs.chmodSync(checkpointFile(2), 0o600);
    fs.copyFileSync(checkpointFile(3), checkpointFile(2));
    await expectDetected("CHECKPOINT_ALTERED", { checkpoint: 2 }, /stored as checkpoint 2 but is checkpoint 3/);
  });

  it("sees tampering with long-sealed events only in a full verification, which it then reports", async () => {
    expect((await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail.ok).to.equal(true);
    await t.ds.query(`UPDATE audit_events SET details = '{}' WHERE stream = ? AND seq = 2`, [request]);
    await history();
    await sealCheckpoint(t.service.services);
    const since = (await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(since).to.deep.include({ ok: true, full: false, fromCheckpoint: 1, checkedEvents: 5 });
    const full = (await t.ok(VERIFY, { full: true }, Role.AUDITOR)).verifyAuditTrail;
    expect(full).to.deep.include({ ok: false, full: true, firstBrokenSeq: 2 });
    const cli = await dsrAgainst(t, ["audit", "verify", "--full"]);
    expect(cli.code).to.equal(1);
    expect(cli.stdout).to.include(`problem EVENT_CHANGED stream=${request} seq=2`);
  });

  it("does not start from a mark of an intact verification that someone wrote into the database, and names it", async () => {
    expect((await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail).to.deep.include({ ok: true, latestCheckpoint: 1 });
    const later = await history();
    expect(await sealCheckpoint(t.service.services)).to.deep.include({ sealed: true, number: 2 });
    // An insider edits an event sealed by checkpoint 2, which no verification has seen yet, and marks
    // checkpoint 2 as verified so that the next verification would start after it.
    await t.ds.query(`UPDATE audit_events SET details = '{}' WHERE stream = ? AND seq = 2`, [later]);
    await t.ds.getRepository(AuditCheckpointRow).update({ number: 2 }, { verifiedAt: new Date() });
    await expectDetected("EVENT_CHANGED", { stream: later, seq: 2 }, /event 2 \(request.verified\) was changed after it was written/);
    const v = (await t.ok(VERIFY, {}, Role.AUDITOR)).verifyAuditTrail;
    expect(v).to.deep.include({ ok: false, full: false, fromCheckpoint: 1 });
    expect(v.problems[1]).to.deep.include({ kind: "CHECKPOINT_ALTERED", checkpoint: 2 });
    expect(v.problems[1].description).to.match(/a verification found the trail intact up to checkpoint 2 .* but no verification signed that with key ed25519:[0-9a-f]{16}: it was written by someone with database access/);
  });

  it("refuses a checkpoint signed by another key, and verifies with the published key", async () => {
    const published = await (await fetch(new URL("/.well-known/dsr-audit-key.pem", t.url))).text();
    expect(published).to.match(/^-----BEGIN PUBLIC KEY-----/);
    const keyFile = path.join(t.service.services.config.dataDir, "published.pem");
    fs.writeFileSync(keyFile, published);
    expect((await dsrAgainst(t, ["audit", "verify", "--public-key", keyFile])).code).to.equal(0);
    // The key's URL, or the service's address (the key fetched from its published path), serves as well.
    for (const url of [new URL("/.well-known/dsr-audit-key.pem", t.url).href, t.url]) {
      const fetched = await dsrAgainst(t, ["audit", "verify", "--public-key", url]);
      expect(fetched.code, fetched.stderr).to.equal(0);
      expect(fetched.stdout).to.match(/^The audit trail is intact: 14 event\(s\)/);
    }
    // An address that publishes no key is named, and nothing is verified.
    const nowhere = await dsrAgainst(t, ["audit", "verify", "--public-key", new URL("/healthz", t.url).href]);
    expect(nowhere.code).to.equal(4);
    expect(nowhere.stderr).to.match(/answered HTTP 200 without a PEM public key; give the service's \/\.well-known\/dsr-audit-key\.pem URL/);
    const { generateKeyPairSync } = await import("node:crypto");
    fs.writeFileSync(keyFile, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }));
    const other = await dsrAgainst(t, ["audit", "verify", "--public-key", keyFile]);
    expect(other.code).to.equal(1);
    expect(other.stdout).to.match(/problem CHECKPOINT_ALTERED checkpoint=1: checkpoint 1 cannot be trusted: it is signed by key ed25519:[0-9a-f]{16}, not by the service's key/);
  });
});
