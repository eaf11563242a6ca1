import { expect } from "chai";
import { createManualConnector } from "../src/connectors/manual";
import { ConnectorConfigError } from "../src/connectors/sdk";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { Role } from "../src/domain/enums";
import { ScriptedConnector } from "./support/scriptedConnector";

const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" };
const ARCHIVE = {
  name: "paper-archive",
  categories: ["SUPPORT"],
  supports: ["access", "erasure"] as ("access" | "erasure")[],
  instructions: { collect: "Search the archive boxes by the subject's name and scan what you find.", erase: "Shred the subject's files and note the box numbers." },
};

describeEachDatabase("manual connector", (db) => {
  let t: TestService;
  before(async () => {
    t = await new TestService(db(), FAST, [new ScriptedConnector({ name: "crm" }), createManualConnector(ARCHIVE)]).start();
  });
  after(async () => {
    await t?.stop();
  });

  /** The note on the archive's task of `step` once it waits for a person, and the request's subject as shown. */
  async function waiting(type: string, step: string, email = "ada.lovelace@example.com"): Promise<{ note: string; subject: { email: string; emailSpellings: string[] } }> {
    const r = await submit(t, { type, subject: { email }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return t.waitFor(async () => {
      const { request } = await t.ok(`query($id: ID!) { request(id: $id) { subject { email emailSpellings } tasks { connector step status note } } }`, { id: r.id });
      const task = request.tasks.find((x: any) => x.connector === "paper-archive" && x.step === step);
      return task?.status === "AWAITING_INPUT" ? { note: task.note, subject: request.subject } : undefined;
    }, `${type} ${step} awaiting input`, 20_000);
  }

  it("shows each task the instructions of its step: collect on an access request, erase on a deletion", async () => {
    const access = await waiting("ACCESS", "COLLECT");
    expect(access.note).to.equal(ARCHIVE.instructions.collect);
    expect(access.subject.emailSpellings).to.deep.equal(["ada.lovelace@example.com"]);
    expect((await waiting("DELETION", "ERASE")).note).to.equal(ARCHIVE.instructions.erase);
  });

  it("tells the person to search each spelling of an internationalised domain and an accented local part, which the request lists, and names no address in the note", async () => {
    // A system searched by hand may hold either spelling, as the connectors' look-ups know.
    // And either form of ë (one character, or e and a combining diaeresis) before the @.
    const spellings = ["zoë@bücher.de", "zoë@xn--bcher-kva.de", "zoe\u0308@bücher.de", "zoe\u0308@xn--bcher-kva.de"];
    const hint = " The subject's address has 4 spellings (an internationalised domain or accented letters are stored more than one way): search for each of the request's subject.emailSpellings.";
    for (const [type, step, typed] of [["ACCESS", "COLLECT", "Zoë@Bücher.DE"], ["DELETION", "ERASE", "ZOË@XN--BCHER-KVA.DE"]]) {
      const shown = await waiting(type, step, typed);
      expect(shown.note, `${type} ${step}`).to.equal(ARCHIVE.instructions[step === "COLLECT" ? "collect" : "erase"] + hint);
      expect(shown.subject).to.deep.equal({ email: typed, emailSpellings: spellings });
      for (const spelling of spellings) expect(shown.note.toLowerCase()).not.to.include(spelling.split("@")[1]);
    }
  });

  it("tells no one to erase what a legal hold keeps, and records no erasure of it by hand", async () => {
    const GRACE = "grace.hopper@example.com";
    const { placeLegalHold: hold } = await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "Grace.Hopper@Example.com", categories: ["SUPPORT"], reason: "Litigation", caseReference: "CASE-7" }) { id } }`);
    try {
      const r = await submit(t, { type: "DELETION", subject: { email: GRACE }, identityVerified: true, verificationEvidence: "test" });
      await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
      const SHOW = `query($id: ID!) { request(id: $id) { status tasks { id connector step status note outcome { erased } } } }`;
      const archive = (x: any) => x.tasks.find((task: any) => task.connector === "paper-archive" && task.step === "ERASE");
      const task = await t.waitFor(async () => {
        const found = archive((await t.ok(SHOW, { id: r.id })).request);
        return found?.status === "AWAITING_INPUT" ? found : undefined;
      }, "the archive's erasure awaits a person", 20_000);
      // Everything the archive holds is SUPPORT, which the hold keeps: the person is told to erase nothing.
      expect(task.note).not.to.include(ARCHIVE.instructions.erase);
      expect(task.note).to.include("CASE-7");
      const COMPLETE = `mutation($id: ID!, $n: Int!) { completeManualTask(input: { taskId: $id, erasedCount: $n }) { status } }`;
      const refused = await t.gql(COMPLETE, { id: task.id, n: 4 }, Role.PRIVACY_OFFICER);
      expect(refused.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
      expect(refused.errors?.[0]?.message).to.include("CASE-7");
      expect(archive((await t.ok(SHOW, { id: r.id })).request), "changed nothing").to.deep.include({ status: "AWAITING_INPUT", outcome: null });
      await t.ok(COMPLETE, { id: task.id, n: 0 }, Role.PRIVACY_OFFICER);
      const done = await t.waitFor(async () => {
        const x = (await t.ok(SHOW, { id: r.id })).request;
        return x.status === "COMPLETED" ? x : undefined;
      }, "deletion COMPLETED");
      expect(archive(done).outcome).to.deep.equal({ erased: 0 });
    } finally {
      await t.ok(`mutation($id: ID!) { releaseLegalHold(id: $id, reason: "test over") { id } }`, { id: hold.id });
    }
  });

  it("takes found records only under the categories the connector declares, so the export says truly what the system holds", async () => {
    const r = await submit(t, { type: "ACCESS", subject: { email: "katherine.johnson@example.com" }, identityVerified: true, verificationEvidence: "test" });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    const SHOW = `query($id: ID!) { request(id: $id) { status tasks { id connector step status outcome { records } } } }`;
    const task = await t.waitFor(async () => (await t.ok(SHOW, { id: r.id })).request.tasks.find((x: any) => x.connector === "paper-archive" && x.status === "AWAITING_INPUT"), "the archive's collect awaits a person", 20_000);
    const COMPLETE = `mutation($id: ID!, $records: [ManualRecordInput!]) { completeManualTask(input: { taskId: $id, records: $records }) { status } }`;
    const record = (category: string) => ({ category, type: "letter", id: "box-7", data: { text: "hello" } });
    const refused = await t.gql(COMPLETE, { id: task.id, records: [record("SUPPORT"), record("PAYMENTS")] }, Role.PRIVACY_OFFICER);
    expect(refused.errors?.map((e) => e.extensions.code)).to.deep.equal(["BAD_USER_INPUT"]);
    expect((await t.ok(SHOW, { id: r.id })).request.tasks.find((x: any) => x.id === task.id)).to.include({ status: "AWAITING_INPUT", outcome: null });
    const [{ n }] = await t.ds.query(`SELECT COUNT(*) AS n FROM staged_batches WHERE taskId = ?`, [task.id]);
    expect(Number(n), "nothing staged").to.equal(0);
    await t.ok(COMPLETE, { id: task.id, records: [record("SUPPORT")] }, Role.PRIVACY_OFFICER);
  });

  it("reports its health under its own name", async () => {
    const { connectors } = await t.ok(`{ connectors { name manual health { ok message } } }`);
    const archive = connectors.find((c: any) => c.name === "paper-archive");
    expect(archive).to.deep.include({ manual: true });
    expect(archive.health).to.deep.equal({ ok: true, message: "paper-archive: done by hand (a privacy officer completes each task with completeManualTask); nothing to reach" });
  });
});

describe("manual connector configuration", () => {
  const problems = (instructions: unknown, supports: string[] = ["access", "erasure"]) => {
    try {
      createManualConnector({ ...ARCHIVE, supports: supports as never, instructions: instructions as never });
      return [];
    } catch (error) {
      expect(error).to.be.instanceOf(ConnectorConfigError);
      return (error as ConnectorConfigError).problems;
    }
  };

  it("refuses one text for several steps, a missing or unknown step, and empty text, naming each", () => {
    expect(problems("Shred what you find.")).to.deep.equal([`instructions: with access and erasure, give them per step, e.g. {"collect": "...", "erase": "..."}, so each task shows what to do in it`]);
    expect(problems({ collect: "Search." })).to.deep.equal(["instructions.erase is missing: what the person does in its erase tasks"]);
    expect(problems({ collect: "Search.", erase: "Shred.", rectify: "Fix." })).to.deep.equal(["instructions.rectify: not a step of this connector (its steps: collect, erase)"]);
    expect(problems({ collect: " ", erase: "Shred." })).to.deep.equal(["instructions.collect must say what the person does"]);
    expect(problems("Search the boxes.", ["access"])).to.deep.equal([]);
  });
});

/** A CRM that corrects only the fields it has a column for, and says nothing of the others (a connector's bug). */
class SilentCrm extends ScriptedConnector {
  override async rectify(_ids: unknown, changes: readonly { field: string; value: string }[]) {
    return { changed: changes.map((c) => c.field).filter((f) => f === "jobTitle"), notHeld: [] };
  }
}

describeEachDatabase("manual and connector corrections", (db) => {
  let t: TestService;
  afterEach(async () => {
    await t?.stop();
  });
  const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { id connector step status lastError outcome { changed notHeld } } } }`;
  const correction = async () => {
    const r = await submit(t, {
      type: "CORRECTION",
      subject: { email: "ada.lovelace@example.com" },
      corrections: [{ field: "jobTitle", value: "Analyst" }, { field: "phone", value: "+44 20 7946 0000" }],
      identityVerified: true,
      verificationEvidence: "test",
    });
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id });
    return r.id as string;
  };
  const ended = (id: string) =>
    t.waitFor(async () => {
      const r = (await t.ok(SHOW, { id })).request;
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "correction ended", 20_000);

  it("takes from a person the fields they changed, each one the correction asks for, and names the others not held", async () => {
    const archive = createManualConnector({ name: "paper-archive", categories: ["ACCOUNT"], supports: ["rectification"], instructions: "Correct the subject's paper file." });
    t = await new TestService(db(), FAST, [archive]).start();
    const id = await correction();
    const task = await t.waitFor(async () => (await t.ok(SHOW, { id })).request.tasks.find((x: any) => x.step === "RECTIFY" && x.status === "AWAITING_INPUT"), "the archive's correction awaits a person", 20_000);
    const COMPLETE = `mutation($id: ID!, $fields: [String!]) { completeManualTask(input: { taskId: $id, changedFields: $fields }) { status } }`;
    // Nothing said about the fields, or a field the correction does not ask for: refused, nothing recorded.
    for (const fields of [null, ["jobTitle", "secretField"]]) {
      const refused = await t.gql(COMPLETE, { id: task.id, fields }, Role.PRIVACY_OFFICER);
      expect(refused.errors?.map((e) => e.extensions.code), JSON.stringify(fields)).to.deep.equal(["BAD_USER_INPUT"]);
      expect(JSON.stringify(refused.errors), "echoes nothing").not.to.include("secretField");
    }
    expect((await t.ok(SHOW, { id })).request.tasks[0]).to.include({ status: "AWAITING_INPUT", outcome: null });
    await t.ok(COMPLETE, { id: task.id, fields: ["jobTitle"] }, Role.PRIVACY_OFFICER);
    const done = await ended(id);
    expect(done.status).to.equal("COMPLETED");
    expect(done.tasks[0].outcome).to.deep.equal({ changed: ["jobTitle"], notHeld: ["phone"] });
    const [event] = await t.ds.query(`SELECT details FROM audit_events WHERE action = 'task.completed_by_hand'`);
    expect(JSON.parse(typeof event.details === "string" ? event.details : JSON.stringify(event.details))).to.deep.include({ changed: ["jobTitle"], notHeld: ["phone"] });
  });

  it("tells the person a legal hold keeps the system's data, records no change of it by hand, and the request names the hold", async () => {
    const archive = createManualConnector({ name: "paper-archive", categories: ["ACCOUNT"], supports: ["rectification"], instructions: "Correct the subject's paper file." });
    t = await new TestService(db(), FAST, [archive]).start();
    await t.ok(`mutation { placeLegalHold(input: { subjectEmail: "ada.lovelace@example.com", categories: ["ACCOUNT"], reason: "Litigation", caseReference: "CASE-9" }) { id } }`);
    const id = await correction();
    const SHOWN = `query($id: ID!) { request(id: $id) { status statusReason tasks { id step status note outcome { changed notHeld keptByHold holdCases } } } }`;
    const task = await t.waitFor(async () => (await t.ok(SHOWN, { id })).request.tasks.find((x: any) => x.step === "RECTIFY" && x.status === "AWAITING_INPUT"), "the archive's correction awaits a person", 20_000);
    // Before: the note said only "Correct the subject's paper file.", and the person's change was recorded (COMPLETED, "Corrected: jobTitle").
    expect(task.note).to.equal(
      "Correct the subject's paper file. Legal hold CASE-9 keeps ACCOUNT of the subject in paper-archive: change nothing of it (held data is evidence), and complete this task with changedFields [].",
    );
    const COMPLETE = `mutation($id: ID!, $fields: [String!]) { completeManualTask(input: { taskId: $id, changedFields: $fields }) { status } }`;
    const refused = await t.gql(COMPLETE, { id: task.id, fields: ["jobTitle"] }, Role.PRIVACY_OFFICER);
    expect(refused.errors?.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
    expect((await t.ok(SHOWN, { id })).request.tasks[0]).to.include({ status: "AWAITING_INPUT", outcome: null });
    await t.ok(COMPLETE, { id: task.id, fields: [] }, Role.PRIVACY_OFFICER);
    const done = await ended(id);
    expect(done.status).to.equal("FAILED");
    expect((await t.ok(SHOWN, { id })).request.tasks[0].outcome).to.deep.equal({ changed: [], notHeld: [], keptByHold: ["jobTitle", "phone"], holdCases: ["CASE-9"] });
    expect(done.statusReason).to.equal(
      "Nothing was corrected: a legal hold keeps the data that holds these fields. Kept as they were under legal hold: paper-archive (jobTitle, phone; hold CASE-9 on ACCOUNT), until the hold is released.",
    );
  });

  it("fails a correction whose connector neither changed a field it was asked to nor said it does not hold it", async () => {
    t = await new TestService(db(), { ...FAST, DSR_TASK_MAX_ATTEMPTS: "1" }, [new SilentCrm({ name: "crm", supports: ["rectification"] })]).start();
    const done = await ended(await correction());
    expect(done.status).to.equal("FAILED");
    expect(done.tasks[0]).to.include({ status: "FAILED" });
    expect(done.tasks[0].lastError).to.include("phone");
  });
});
