import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { verifyCertificateWithKey } from "../src/certificates/verifyFile";
import { createManualConnector } from "../src/connectors/manual";
import { Role } from "../src/domain/enums";
import { CALLBACK_SECRET, CallbackReceiver } from "./support/callbackReceiver";
import { describeEachDatabase } from "./support/databases";
import { TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const { ADMIN, SERVICE } = Role;
const HOLDER = "account.holder@example.com";
const FAST = { DSR_WORKER_CONCURRENCY: "2", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000", DSR_CALLBACK_SECRET: CALLBACK_SECRET, DSR_CALLBACK_POLL_MS: "20" };
// What a legal hold is, that the subject's side must never learn: its case reference, its reason, its id.
const CASE_BEFORE = "CASE-7731";
const REASON_BEFORE = "Whistleblower complaint against the account holder";
const CASE_AFTER = "FRAUD-8802";
const REASON_AFTER = "Fraud investigation by the police";
const HOLD = `mutation($email: String!, $categories: [String!], $case: String!, $reason: String!) { placeLegalHold(input: { subjectEmail: $email, categories: $categories, reason: $reason, caseReference: $case }) { id } }`;
/** Everything a request answers that could speak of a hold. */
const EVERYTHING = `query($id: ID!) { request(id: $id) {
  id status statusReason
  tasks { id connector step status note lastError outcome { records erased changed notHeld keptByHold holdCases kept remaining redacted residual confirmation attestedBy } }
  retentionExceptions { id connector category recordType recordCount legalBasis redactedFields retainUntil holdId extendedByHoldId status }
  deletionPlan { connector category found toErase toKeep toLeaveResidual keptBy legalBasis holdId residualReason retainUntil }
  deletionOutcome { connector category erased kept residual matchesPlan differences { kind records reason } }
  residualRecords { connector category recordType records fields reason }
  erasedResidue { connector category recordType records reason }
  notSearched { connector category recordType reason }
} }`;
const CERT = `query($id: ID!) { deletionCertificate(requestId: $id) {
  requestId signed keyId
  erased { connector status records kept redacted residual note confirmation }
  kept { connector category recordType records legalBasis retainUntil holdId extendedByHoldId status }
  residual { connector category recordType records fields reason }
} certificatePublicKey { pem } }`;

/** The hold's words or ids anywhere in an answer, searched in its raw JSON. */
function holdTraces(answer: unknown, holdIds: string[]): string[] {
  const raw = JSON.stringify(answer);
  return [CASE_BEFORE, REASON_BEFORE, CASE_AFTER, REASON_AFTER, ...holdIds, "legal hold", "Legal hold", '"HOLD"', "HELD_SINCE_PLAN", "RELEASED_SINCE_PLAN"].filter((s) => raw.includes(s));
}

describeEachDatabase("what a SERVICE token learns of legal holds", (db) => {
  let t: TestService;
  let receiver: CallbackReceiver;
  let crm: ScriptedConnector;
  let tickets: ScriptedConnector;
  let newsletter: ScriptedConnector;
  afterEach(async () => {
    await t?.stop();
    await receiver?.stop();
  });

  async function start() {
    crm = new ScriptedConnector({ name: "crm", categories: ["ACCOUNT"] }).seed(HOLDER, 2);
    tickets = new ScriptedConnector({ name: "tickets", categories: ["SUPPORT"] }).seed(HOLDER, 3);
    newsletter = new ScriptedConnector({ name: "newsletter", categories: ["MARKETING"] }).seed(HOLDER, 4);
    const archive = createManualConnector({ name: "paper-archive", categories: ["ACCOUNT"], supports: ["erasure"], instructions: "Shred the subject's files." });
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    t = await new TestService(db(), { ...FAST, DSR_CALLBACK_URL: receiver.url }, [crm, tickets, newsletter, archive]).start();
  }
  const place = async (categories: string[], kase: string, reason: string) =>
    (await t.ok(HOLD, { email: HOLDER, categories, case: kase, reason }, ADMIN)).placeLegalHold.id as string;

  it("a settings deletion under holds: the SERVICE answers, certificate and callbacks name no hold, case or reason; counts equal what the systems keep; ADMIN sees the holds", async () => {
    await start();
    const before = await place(["ACCOUNT"], CASE_BEFORE, REASON_BEFORE);
    // The support system's first erasure fails retryably: a second hold is placed after the plan, before it erases.
    tickets.script("erase", { kind: "retryable", retryAfterMs: 60_000 });
    const { requestAccountDeletion: own } = await t.ok(`mutation { requestAccountDeletion(input: { idempotencyKey: "hold-privacy-0001", subject: { email: "${HOLDER}" } }) { id } }`, {}, SERVICE);
    const SHOW = `query($id: ID!) { request(id: $id) { status tasks { id connector step status attempts } } }`;
    const manual = await t.waitFor(async () => (await t.ok(SHOW, { id: own.id })).request.tasks.find((x: any) => x.connector === "paper-archive" && x.step === "ERASE" && x.status === "AWAITING_INPUT"), "the archive's erasure awaits a person", 20_000);
    await t.waitFor(async () => ((await t.ok(SHOW, { id: own.id })).request.tasks.find((x: any) => x.connector === "tickets" && x.step === "ERASE" && x.attempts >= 1 && x.status === "PENDING") ? true : undefined), "the tickets erasure waits to retry", 20_000);
    const after = await place(["SUPPORT"], CASE_AFTER, REASON_AFTER);
    const holdIds = [before, after];

    // While the archive's erasure waits for a person, its note tells the person which hold keeps what; the SERVICE token is told no hold.
    const waiting = (await t.ok(EVERYTHING, { id: own.id }, SERVICE)).request;
    expect(holdTraces(waiting, holdIds), JSON.stringify(waiting.tasks.map((x: any) => x.note))).to.deep.equal([]);
    expect(waiting.tasks.find((x: any) => x.id === manual.id).note).to.include("kept for legal reasons");
    expect((await t.ok(EVERYTHING, { id: own.id }, ADMIN)).request.tasks.find((x: any) => x.id === manual.id).note).to.include(`Legal hold ${CASE_BEFORE}`);

    await t.ok(`mutation($id: ID!) { completeManualTask(input: { taskId: $id, erasedCount: 0 }) { status } }`, { id: manual.id }, ADMIN);
    t.clock.advance(120_000);
    await t.waitFor(async () => ((await t.ok(SHOW, { id: own.id }, SERVICE)).request.status === "COMPLETED" ? true : undefined), "the deletion COMPLETED", 30_000);

    const asService = (await t.ok(EVERYTHING, { id: own.id }, SERVICE)).request;
    const certService = await t.ok(CERT, { id: own.id }, SERVICE);
    expect(holdTraces(asService, holdIds), JSON.stringify(asService)).to.deep.equal([]);
    expect(holdTraces(certService, holdIds), certService.deletionCertificate.signed).to.deep.equal([]);

    // The systems keep what the holds keep, and the counts the SERVICE token gets say exactly that.
    expect(crm.data.get(HOLDER), "the crm keeps its 2 records").to.have.length(2);
    expect(tickets.data.get(HOLDER), "the support system keeps its 3 tickets").to.have.length(3);
    expect(newsletter.data.get(HOLDER) ?? [], "the newsletter's are erased").to.have.length(0);
    const keptIn = (sets: any[], connector: string, count: string) => sets.filter((e) => e.connector === connector && e.status === "OPEN").reduce((n, e) => n + e[count], 0);
    expect(keptIn(asService.retentionExceptions, "crm", "recordCount")).to.equal(2);
    expect(keptIn(asService.retentionExceptions, "tickets", "recordCount")).to.equal(3);
    expect(keptIn(certService.deletionCertificate.kept, "crm", "records")).to.equal(2);
    expect(keptIn(certService.deletionCertificate.kept, "tickets", "records")).to.equal(3);
    for (const e of asService.retentionExceptions) expect(e).to.include({ legalBasis: "kept for legal reasons", holdId: null, extendedByHoldId: null });
    const ticketsLine = asService.deletionOutcome.find((l: any) => l.connector === "tickets");
    expect(ticketsLine).to.include({ kept: 3, matchesPlan: false });
    expect(ticketsLine.differences.map((d: any) => [d.kind, d.records])).to.deep.equal([["KEPT_FOR_LEGAL_REASONS_SINCE_PLAN", 3]]);
    expect(asService.deletionPlan.find((l: any) => l.connector === "crm")).to.include({ toKeep: 2, keptBy: "LEGAL_REASONS", holdId: null });

    // The certificate it gets is signed as it reads, and verifies offline.
    const signedFile = JSON.parse(certService.deletionCertificate.signed).certificate;
    expect(signedFile.kept.map((k: any) => [k.connector, k.records, k.legalBasis, k.holdId])).to.deep.equal(certService.deletionCertificate.kept.map((k: any) => [k.connector, k.records, k.legalBasis, k.holdId]));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hold-privacy-"));
    try {
      const file = path.join(dir, "certificate.json");
      fs.writeFileSync(file, certService.deletionCertificate.signed);
      const verified = verifyCertificateWithKey(file, certService.certificatePublicKey.pem);
      expect(verified.ok, JSON.stringify(verified)).to.equal(true);
      const keptTotal = certService.deletionCertificate.kept.reduce((n: number, k: any) => n + k.records, 0);
      expect(keptTotal, "at least what crm and tickets keep").to.be.at.least(5);
      expect((verified as { line: string }).line).to.include(` ${keptTotal} kept`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }

    // Its status callbacks name no hold either, and count what is kept.
    const done = await t.waitFor(async () => receiver.accepted.find((e) => e.requestId === own.id && e.status === "COMPLETED"), "the COMPLETED callback delivered", 20_000);
    const callbacks = receiver.accepted.filter((e) => e.requestId === own.id);
    expect(holdTraces(callbacks, holdIds)).to.deep.equal([]);
    expect(done.keptRecords).to.equal(crm.data.get(HOLDER)!.length + tickets.data.get(HOLDER)!.length + keptIn(asService.retentionExceptions, "paper-archive", "recordCount"));

    // ADMIN sees the holds as they are.
    const asAdmin = (await t.ok(EVERYTHING, { id: own.id }, ADMIN)).request;
    expect(asAdmin.retentionExceptions.find((e: any) => e.connector === "crm")).to.include({ legalBasis: `legal hold ${CASE_BEFORE}`, holdId: before, recordCount: 2 });
    expect(asAdmin.retentionExceptions.find((e: any) => e.connector === "tickets")).to.include({ legalBasis: `legal hold ${CASE_AFTER}`, holdId: after, recordCount: 3 });
    expect(asAdmin.deletionOutcome.find((l: any) => l.connector === "tickets").differences.map((d: any) => d.kind)).to.deep.equal(["HELD_SINCE_PLAN"]);
    expect(asAdmin.deletionPlan.find((l: any) => l.connector === "crm")).to.include({ keptBy: "HOLD", holdId: before });
    const certAdmin = (await t.ok(CERT, { id: own.id }, ADMIN)).deletionCertificate;
    expect(certAdmin.kept.filter((k: any) => k.connector !== "paper-archive").map((k: any) => [k.connector, k.holdId])).to.deep.equal([["crm", before], ["tickets", after]]);
    expect(certAdmin.signed).to.include(CASE_BEFORE);
  });

  it("a SERVICE token's correction a hold keeps: statusReason and outcomes say kept for legal reasons, naming no case; ADMIN's name the hold", async () => {
    await start();
    const hold = await place(["ACCOUNT"], CASE_BEFORE, REASON_BEFORE);
    const { submitRequest: r } = await t.ok(
      `mutation { submitRequest(input: { type: CORRECTION, subject: { email: "${HOLDER}" }, identityVerified: true, verificationEvidence: "settings session", corrections: [{ field: "nickname", value: "Ace" }] }) { id } }`,
      {},
      SERVICE,
    );
    await t.ok(`mutation($id: ID!) { approveRequest(id: $id) { id } }`, { id: r.id }, ADMIN);
    const ended = await t.waitFor(async () => {
      const { request } = await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: r.id }, SERVICE);
      return ["COMPLETED", "FAILED"].includes(request.status) ? request.status : undefined;
    }, "the correction ended", 20_000);
    const asAdmin = (await t.ok(EVERYTHING, { id: r.id }, ADMIN)).request;
    expect(asAdmin.statusReason, "ADMIN is told which hold").to.include(CASE_BEFORE);
    expect(asAdmin.tasks.find((x: any) => x.connector === "crm" && x.step === "RECTIFY").outcome).to.deep.include({ holdCases: [CASE_BEFORE] });
    const asService = (await t.ok(EVERYTHING, { id: r.id }, SERVICE)).request;
    expect(asService.status).to.equal(ended);
    expect(holdTraces(asService, [hold]), JSON.stringify(asService)).to.deep.equal([]);
    expect(asService.statusReason).to.include("Kept as they were for legal reasons: crm (nickname).");
    expect(asService.tasks.find((x: any) => x.connector === "crm" && x.step === "RECTIFY").outcome).to.deep.include({ changed: [], keptByHold: null, holdCases: null });
  });

  it("a set a retention rule keeps that a hold placed since extends: the SERVICE token is told no hold and no date the hold overrides; ADMIN sees the hold", async () => {
    const DAY = 86_400_000;
    const payments = new ScriptedConnector({ name: "payments", categories: ["PAYMENTS"] });
    receiver = new CallbackReceiver(() => t.clock.now());
    await receiver.start();
    t = await new TestService(db(), { ...FAST, DSR_CALLBACK_URL: receiver.url }, [payments]).start();
    const now = t.clock.now().getTime();
    payments.seedDated(HOLDER, [new Date(now - DAY), new Date(now - 2 * DAY)]);
    const { requestAccountDeletion: own } = await t.ok(`mutation { requestAccountDeletion(input: { idempotencyKey: "hold-privacy-0002", subject: { email: "${HOLDER}" } }) { id } }`, {}, SERVICE);
    await t.waitFor(async () => ((await t.ok(`query($id: ID!) { request(id: $id) { status } }`, { id: own.id }, SERVICE)).request.status === "COMPLETED" ? true : undefined), "the deletion COMPLETED", 20_000);
    const rule = (await t.ok(EVERYTHING, { id: own.id }, SERVICE)).request.retentionExceptions;
    expect(rule.map((e: any) => [e.connector, e.recordCount, e.holdId, e.extendedByHoldId, e.retainUntil === null])).to.deep.equal([["payments", 2, null, null, false]]);
    const hold = await place(["PAYMENTS"], CASE_AFTER, REASON_AFTER);

    const asService = (await t.ok(EVERYTHING, { id: own.id }, SERVICE)).request;
    const certService = await t.ok(CERT, { id: own.id }, SERVICE);
    expect(holdTraces(asService, [hold]), JSON.stringify(asService.retentionExceptions)).to.deep.equal([]);
    expect(holdTraces(certService, [hold]), certService.deletionCertificate.signed).to.deep.equal([]);
    // Kept past the rule's date while the hold lasts: no date is promised, the count is what the system keeps.
    expect(asService.retentionExceptions.map((e: any) => [e.recordCount, e.legalBasis, e.retainUntil, e.extendedByHoldId])).to.deep.equal([[2, rule[0].legalBasis, null, null]]);
    expect(certService.deletionCertificate.kept.map((k: any) => [k.records, k.retainUntil, k.extendedByHoldId])).to.deep.equal([[2, null, null]]);
    expect(payments.data.get(HOLDER)).to.have.length(2);
    const asAdmin = (await t.ok(EVERYTHING, { id: own.id }, ADMIN)).request;
    expect(asAdmin.retentionExceptions.map((e: any) => [e.recordCount, e.retainUntil, e.extendedByHoldId])).to.deep.equal([[2, rule[0].retainUntil, hold]]);
  });
});
