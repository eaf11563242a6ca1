import { expect } from "chai";
import pino from "pino";
import type { Connector } from "../../src/connectors/sdk";
import { collectAll } from "../../src/connectors/testing/conformance";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, TestService } from "../support/harness";

const ADA = "ada.lovelace@example.com";
const GRACE = "grace.hopper@example.com";
const DAY = 86_400_000;
const SHOW = `query($id: ID!) { request(id: $id) { status statusReason receivedAt dueAt closedAt
  tasks { connector step status lastError outcome { changed notHeld } }
  auditEvents { action details } } }`;

/** Ada's corrections: three fields the account database can correct, one that no system holds. */
const CHANGES = [
  { field: "name", value: "Augusta Ada King" },
  { field: "phone", value: "+442079469999" },
  { field: "jobTitle", value: "Countess of Lovelace" },
  { field: "favouriteColour", value: "Analytical Teal" },
];

/** Weekdays (UTC) after `from` up to and including `to`. */
function businessDaysBetween(from: Date, to: Date): number {
  let n = 0;
  for (let at = from.getTime() + DAY; at <= to.getTime(); at += DAY) if (![0, 6].includes(new Date(at).getUTCDay())) n += 1;
  return n;
}

/** The request, read with `query` (taking `$id`), once it is COMPLETED or FAILED. */
function endedRequest(t: TestService, query: string, id: string): Promise<any> {
  return t.waitFor(
    async () => {
      const { request } = await t.ok(query, { id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    },
    "correction finished",
    30_000,
  );
}

/** Ada's verified CORRECTION with `corrections`, approved, read with SHOW once it has ended. */
async function correctedAndEnded(t: TestService, corrections: { field: string; value: string }[]): Promise<any> {
  const r = await submit(t, { type: "CORRECTION", subject: { email: ADA }, corrections, identityVerified: true, verificationEvidence: "signed-in session" });
  await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
  return endedRequest(t, SHOW, r.id);
}

describeEachDatabase("correction on the sample workspace", (db) => {
  let ws: SampleWorkspace | undefined;
  let t: TestService | undefined;
  afterEach(async () => {
    await t?.stop();
    await ws?.close();
  });

  /** The sample workspace and the service over its connectors (all, or those `pick` keeps); `userOf` reads a person's user record from the account database itself. */
  const start = async (pick: (c: Connector) => boolean = () => true) => {
    ws = await startSampleWorkspace({ dataDir: tempDir(), logger: pino({ level: "silent" }), authEventsForAda: 50, people: 10 });
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, ws.connectors.filter(pick)).start();
    const accountDb = ws.connectors.find((c) => c.spec.name === "account-db")!;
    return { t, ws, accountDb, userOf: async (email: string) => (await collectAll(accountDb, { email })).find((r) => r.type === "user")!.data };
  };

  it("applies the verified changes through the account database, says what no system holds, audits field names only, and is due in 15 business days", async () => {
    const { t, ws, accountDb, userOf } = await start();
    const before = await userOf(ADA);
    const graceBefore = await userOf(GRACE);

    const done = await correctedAndEnded(t, CHANGES);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // The ticketing system cannot correct data and still holds Ada's old name: the request says so.
    const ticketing = ws.connectors.find((c) => c.spec.name === "ticketing")!;
    // Her Zendesk user is tagged with her user id (accountExternalId): found by address, it is hers only with that id.
    const adaUserId = ws.people.find((p) => p.email === ADA)!.userId;
    expect((await collectAll(ticketing, { email: ADA, userId: adaUserId })).filter((r) => r.type === "user").map((r) => r.data.name)).to.deep.equal(["Ada Lovelace"]);
    expect(done.statusReason).to.equal(
      "Corrected: jobTitle, name, phone. Held by no system that corrected data: favouriteColour. Not corrected in auth-log (auth-log does not support rectification); payments (payments does not support rectification); ticketing (ticketing does not support rectification): these systems may still hold the old values.",
    );

    // The account database is the one system that rectifies: it changed what it holds and named the rest;
    // the systems that cannot rectify say so (SKIPPED) instead of staying silent.
    const rectify = Object.fromEntries(done.tasks.filter((x: any) => x.step === "RECTIFY").map((x: any) => [x.connector, x]));
    expect(Object.keys(rectify).sort()).to.deep.equal(["account-db", "auth-log", "payments", "ticketing"]);
    for (const name of ["auth-log", "payments", "ticketing"]) expect(rectify[name].status, name).to.equal("SKIPPED");
    expect(rectify["account-db"].status).to.equal("SUCCEEDED");
    expect([...rectify["account-db"].outcome.changed].sort()).to.deep.equal(["jobTitle", "name", "phone"]);
    expect(rectify["account-db"].outcome.notHeld).to.deep.equal(["favouriteColour"]);

    // Collecting again shows the new values; nobody else's row moved.
    const after = await userOf(ADA);
    expect(after).to.include({ name: "Augusta Ada King", phone: "+442079469999", job_title: "Countess of Lovelace", company: before.company, email: ADA });
    expect(await userOf(GRACE)).to.deep.equal(graceBefore);

    // The audit trail names the fields but holds neither the old nor the new values.
    const fieldsInTrail = JSON.stringify(done.auditEvents.map((e: any) => e.details));
    for (const field of ["name", "phone", "jobTitle", "favouriteColour"]) expect(fieldsInTrail).to.include(`"${field}"`);
    const succeeded = done.auditEvents.find((e: any) => e.action === "task.succeeded" && e.details.step === "RECTIFY");
    expect(succeeded.details).to.deep.include({ connector: "account-db", notHeld: ["favouriteColour"] });
    const rows = JSON.stringify(await t.ds.query(`SELECT * FROM audit_events`));
    const values = [before.name, before.phone, before.job_title, ...CHANGES.map((c) => c.value)] as string[];
    for (const value of values) expect(rows, `the audit trail holds "${value}"`).not.to.include(value);

    // Received Monday 2 March 2026 10:00 UTC; due 15 weekdays later at the same time of day.
    const receivedAt = new Date(done.receivedAt);
    const dueAt = new Date(done.dueAt);
    expect(businessDaysBetween(receivedAt, dueAt)).to.equal(15);
    expect(businessDaysBetween(receivedAt, new Date(dueAt.getTime() - DAY))).to.equal(14);
    expect(dueAt.toISOString().slice(10)).to.equal(receivedAt.toISOString().slice(10));
    expect(Date.parse(done.closedAt)).to.be.at.most(dueAt.getTime());
  });

  it("fails a correction that no connector could make, with the reason, leaving what the systems hold as it was", async () => {
    // An installation of the sample's payment processor, ticketing system and auth log, none of which
    // corrects data: the account database, the one that does, is not connected.
    const { t, ws } = await start((c) => c.spec.name !== "account-db");
    const connectors = ws.connectors;
    const ticketing = connectors.find((c) => c.spec.name === "ticketing")!;
    const payments = connectors.find((c) => c.spec.name === "payments")!;
    // Read with her user id: her Zendesk user (accountExternalId) and Stripe customer (accountMetadataKey) are tagged with it.
    const ada = { email: ADA, userId: ws.people.find((p) => p.email === ADA)!.userId };
    const held = async () => ({ ticketing: await collectAll(ticketing, ada), payments: await collectAll(payments, ada) });
    const before = await held();
    const named = (records: { type: string; data: Record<string, unknown> }[], type: string) => records.filter((r) => r.type === type).map((r) => r.data.name);
    expect(named(before.ticketing, "user"), "Zendesk holds Ada's name").to.deep.equal(["Ada Lovelace"]);

    const done = await correctedAndEnded(t, [{ field: "name", value: "Augusta Ada King" }]);
    // The systems themselves: nothing changed, so the request does not say it was done.
    expect(await held(), "Stripe and Zendesk hold what they held").to.deep.equal(before);
    expect(done.tasks.filter((x: any) => x.step === "RECTIFY").map((x: any) => [x.connector, x.status]).sort()).to.deep.equal([
      ["auth-log", "SKIPPED"],
      ["payments", "SKIPPED"],
      ["ticketing", "SKIPPED"],
    ]);
    expect(done.status, "nothing was corrected").to.equal("FAILED");
    expect(done.statusReason).to.match(/^No connector could correct the subject's data: auth-log skipped \(.+\); payments skipped \(.+\); ticketing skipped \(.+\)$/);
  });

  it("fails a correction that changed nothing because no system that corrects data holds the person, and says so", async () => {
    const { t, accountDb } = await start();
    const nobody = "nobody@example.com";
    expect(await collectAll(accountDb, { email: nobody }), "the account database holds no one by that address").to.deep.equal([]);
    const r = await submit(t, { type: "CORRECTION", subject: { email: nobody }, corrections: [{ field: "name", value: "Augusta Ada King" }], identityVerified: true, verificationEvidence: "signed-in session" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const done = await endedRequest(t, SHOW, r.id);
    const rectify = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RECTIFY");
    expect(rectify.outcome).to.deep.equal({ changed: [], notHeld: ["name"] });
    // No system changed anything: COMPLETED would say the person's data was corrected.
    expect(done.status, done.statusReason).to.equal("FAILED");
    expect(done.statusReason).to.match(/^Nothing was corrected: no system that corrects data holds these fields for this person\. Held by no system that corrected data: name\. Not corrected in auth-log/);
    expect(done.auditEvents.map((e: any) => e.action)).to.include("request.failed").and.not.include("request.completed");
    expect(await collectAll(accountDb, { email: nobody })).to.deep.equal([]);
  });

  it("refuses a phone number no one can read, written where other systems' phone identity comes from, and changes none of the request's fields", async () => {
    const { t, accountDb, userOf } = await start();
    const before = await userOf(ADA);
    const done = await correctedAndEnded(t, [{ field: "name", value: "Augusta Ada King" }, { field: "phone", value: "call me maybe" }]);
    expect(done.status).to.equal("FAILED");
    const rectify = done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RECTIFY");
    expect(rectify.lastError).to.equal(
      "account-db: the corrected phone is not a phone number this database can read (table users finds people by it as phone); the rectify changed nothing. Submit a correction with the person's own, valid phone, or correct it by hand",
    );
    expect(JSON.stringify(done)).not.to.contain("call me maybe");
    expect(await userOf(ADA), "neither the phone nor the name was written").to.deep.equal(before);
    // A readable phone is corrected as before (received later: the test clock stands still otherwise).
    t.clock.advance(1000);
    const fixed = await correctedAndEnded(t, [{ field: "phone", value: "020 7946 9999" }]);
    expect(fixed.status, fixed.statusReason).to.equal("COMPLETED");
    expect(await userOf(ADA)).to.include({ phone: "020 7946 9999" });
  });

  it("fails a correction of a field the account database holds but cannot correct, rather than report it held by no system, and changes nothing", async () => {
    const { t, accountDb, userOf } = await start();
    const before = await userOf(ADA);
    // users.email holds Ada's address; the sample's configuration does not make it rectifiable.
    const done = await correctedAndEnded(t, [{ field: "name", value: "Augusta Ada King" }, { field: "email", value: "ada@analytical.example" }]);
    expect(done.status, done.statusReason).to.equal("FAILED");
    expect(done.tasks.find((x: any) => x.connector === "account-db" && x.step === "RECTIFY").lastError).to.equal(
      "account-db: it holds email (users.email) but is not configured to correct it (rectifiable); the rectify changed nothing. Correct it by hand, or make it rectifiable, and submit the correction again",
    );
    expect(await userOf(ADA)).to.deep.equal(before);
  });

  it("keeps the systems that may still hold the old values in the reason of a correction of many fields", async () => {
    const { t } = await start();
    // Ada's name, and 40 fields with long names that no system holds: their list alone is over 500 characters.
    const unheld = Array.from({ length: 40 }, (_, i) => ({ field: `preferredCorrespondenceLanguageForRegion${i}`, value: "en" }));
    const done = await correctedAndEnded(t, [{ field: "name", value: "Augusta Ada King" }, ...unheld]);
    expect(done.status).to.equal("COMPLETED");
    expect(done.statusReason.length).to.be.at.most(500);
    expect(done.statusReason).to.match(/^Corrected: name\. Held by no system that corrected data: 40 fields \(named in the RECTIFY tasks' outcomes\)\. Not corrected in auth-log/);
    expect(done.statusReason).to.match(/these systems may still hold the old values\.$/);
  });

  it("makes a second correction of other fields itself, rather than answer it with an earlier open correction's work", async () => {
    const { t, accountDb, userOf } = await start();
    const correction = (corrections: { field: string; value: string }[]) =>
      submit(t!, { type: "CORRECTION", subject: { email: ADA }, corrections, identityVerified: true, verificationEvidence: "signed-in session" });
    // Ada asks for her name to be corrected, and, while that request is open, for her phone.
    const first = await correction([{ field: "name", value: "Augusta Ada King" }]);
    const second = await correction([{ field: "phone", value: "+442079469999" }]);
    for (const r of [first, second]) await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const ended = (id: string) => endedRequest(t!, `query($id: ID!) { request(id: $id) { status statusReason duplicateOf } }`, id);
    expect((await ended(first.id)).status).to.equal("COMPLETED");
    const done = await ended(second.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    // The account database itself holds both corrections: the second request did its own work.
    expect(await userOf(ADA)).to.include({ name: "Augusta Ada King", phone: "+442079469999" });
    expect(done.duplicateOf, "a correction of other fields is no duplicate").to.equal(null);
  });
});
