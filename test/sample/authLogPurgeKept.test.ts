import path from "node:path";
import { expect } from "chai";
import { DataSource } from "typeorm";
import { eventKey } from "../../src/connectors/authLog/events";
import { insertAuthEvents } from "../../src/sample/authLog";
import { Role } from "../../src/domain/enums";
import { describeEachDatabase } from "../support/databases";
import { runVerified, sampleSetup } from "../identity/support";

const ADA = "ada.lovelace@example.com";
const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason
  tasks { connector step status lastError outcome { erased kept } }
  retentionExceptions { connector category recordType recordCount status retainUntil } } }`;
const PLACE = `mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id } }`;
const DAY = 86_400_000;

/**
 * The auth log's 90 days. A hold on her account keeps her signing in after the deletion; when the
 * period of the events the deletion kept ends, its purge erased them and counted every event she made
 * since as kept by the old request (a new exception, purged 90 days later, and again, for as long as
 * she signs in). Checked in the auth log's own table.
 */
describeEachDatabase("the auth log's purge of what a deletion kept", (db) => {
  const setup = sampleSetup(db, SHOW, 400);

  it("erases the events the deletion kept when their 90 days end, and leaves those she made since, uncounted", async function () {
    this.timeout(120_000);
    const { t, ws, dir } = setup;
    await t.ok(PLACE, { input: { subjectEmail: ADA, categories: ["ACCOUNT"], reason: "dispute", caseReference: "A-1" } }, Role.PRIVACY_OFFICER);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const kept = deletion.retentionExceptions.find((e: any) => e.connector === "auth-log");
    expect(kept.recordCount, "the deletion keeps her last 90 days of events").to.be.greaterThan(0);

    // She goes on signing in: 5 events after the deletion, under the user id her held account keeps.
    const { userId } = await ws.connectors[0].resolve!({ email: ADA }, { logger: { debug() {}, info() {}, warn() {}, error() {} } } as any);
    const log = await new DataSource({ type: "better-sqlite3", database: path.join(dir, "sample", "auth-log.sqlite") }).initialize();
    const table = async () => (await log.query(`SELECT COUNT(*) AS n FROM auth_events WHERE user_id = ?`, [userId]))[0].n as number;
    try {
      const before = await table();
      const since = Array.from({ length: 5 }, (_, i) => {
        const at = new Date(new Date(kept.retainUntil).getTime() - DAY + i * 1000);
        const eventId = `evt_since_${i}`;
        return { userId: String(userId), key: eventKey(at, eventId), eventId, recordedAt: at.toISOString(), event: "login", result: "SUCCESS", factor: "password", device: "Laptop", ip: "203.0.113.9", browser: "Firefox 130", os: "macOS 15" };
      });
      await insertAuthEvents(log, since as any);
      expect(await table()).to.equal(before + 5);

      t.clock.advance(new Date(kept.retainUntil).getTime() - t.clock.now().getTime() + DAY);
      const show = async () => (await t.ok(SHOW, { id: deletion.id })).request;
      await t.waitFor(
        async () => {
          const purge = (await show()).tasks.find((y: any) => y.connector === "auth-log" && y.step === "PURGE");
          return purge && ["SUCCEEDED", "FAILED"].includes(purge.status) ? purge : undefined;
        },
        "auth-log purge ended",
        60_000,
      );
      // Read again once it ended: one read's tasks and exceptions are two queries, and the purge's commit may fall between them.
      const after = await show();
      const purge = after.tasks.find((y: any) => y.connector === "auth-log" && y.step === "PURGE");
      expect([purge.status, purge.lastError]).to.deep.equal(["SUCCEEDED", null]);
      expect(await table(), "only the events she made since are left").to.equal(5);
      expect(purge.outcome.erased, "the events the deletion kept").to.equal(kept.recordCount);
      expect(purge.outcome.kept ?? 0, "her new events are not the old request's").to.equal(0);
      expect(after.retentionExceptions.filter((e: any) => e.connector === "auth-log").map((e: any) => [e.recordCount, e.status])).to.deep.equal([[kept.recordCount, "CLOSED"]]);
    } finally {
      await log.destroy();
    }
  });
});
