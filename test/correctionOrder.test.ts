import { expect } from "chai";
import { Identities, TaskContext } from "../src/connectors/sdk";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";

const ADA = "ada.lovelace@example.com";
const ENV = { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "10000", DSR_TASK_MAX_ATTEMPTS: "1" };
const SHOW = `query($id: ID!) { request(id: $id) { status tasks { id step status } } }`;

/** A gate a test opens once. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** An account system that really holds each person's fields; its first rectify call waits at a gate the test opens. */
class Profiles extends ScriptedConnector {
  readonly fields = new Map<string, string>();
  readonly firstEntered = gate();
  readonly firstGate = gate();
  private rectifies = 0;

  override async rectify(ids: Identities, changes: readonly { field: string; value: string }[], ctx: TaskContext) {
    await this.act("rectify", ctx);
    if (++this.rectifies === 1) {
      this.firstEntered.open();
      await this.firstGate.opened;
    }
    for (const c of changes) this.fields.set(`${ids.email}:${c.field}`, c.value);
    return { changed: changes.map((c) => c.field), notHeld: [] };
  }
}

describeEachDatabase("corrections of one field", (db) => {
  let t: TestService;
  let profiles: Profiles;
  beforeEach(async () => {
    profiles = new Profiles({ name: "profiles", categories: ["ACCOUNT"], supports: ["rectification"] });
    t = await new TestService(db(), ENV, [profiles]).start();
  });
  afterEach(async () => {
    await t?.stop();
  });

  /** Submits one, a millisecond after the one before: the order received is the order of receivedAt (ties go by id). */
  const correction = async (field: string, value: string) => {
    t.clock.advance(1);
    return (await submit(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field, value }], identityVerified: true, verificationEvidence: "signed-in session" })).id as string;
  };
  const approve = (id: string) => t.gql(`mutation($id: ID!) { approveRequest(id: $id) { status } }`, { id });
  const ended = (id: string) =>
    t.waitFor(async () => {
      const r = (await t.ok(SHOW, { id })).request;
      return ["COMPLETED", "FAILED"].includes(r.status) ? r : undefined;
    }, "correction ended");
  const events = async (id: string) => ((await t.ds.query(`SELECT action FROM audit_events WHERE requestId = ? ORDER BY occurredAt, seq`, [id])) as Array<{ action: string }>).map((e) => e.action);

  it("take effect in the order received: a later one is refused with CONFLICT while the earlier is undecided or at work, and the system ends with the later value", async function () {
    this.timeout(60_000);
    const first = await correction("phone", "+441110000001");
    const second = await correction("phone", "+441110000002");
    const other = await correction("name", "Augusta Ada King");

    // The later one first, while the earlier awaits its decision: refused, naming the earlier.
    const early = await approve(second);
    expect(early.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(early.errors?.[0]?.message).to.equal(
      `Correction ${first}, received earlier for the same person, also changes phone and is PENDING_APPROVAL: corrections of a field take effect in the order they were received, so decide that one (approve, reject or cancel) and let it end before approving this one`,
    );
    expect(early.errors?.[0]?.message).not.to.contain("+44");

    expect((await approve(first)).errors).to.equal(undefined);
    await profiles.firstEntered.opened;
    // The earlier is writing: the later is refused again, and changes nothing.
    const during = await approve(second);
    expect(during.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(during.errors?.[0]?.message).to.match(/is IN_PROGRESS: corrections of a field take effect in the order they were received/);
    expect((await t.ok(SHOW, { id: second })).request).to.deep.equal({ status: "PENDING_APPROVAL", tasks: [] });
    expect(await events(second)).to.deep.equal(["request.submitted"]);
    // Another field is no conflict.
    expect((await approve(other)).errors).to.equal(undefined);
    expect((await ended(other)).status).to.equal("COMPLETED");

    profiles.firstGate.open();
    expect((await ended(first)).status).to.equal("COMPLETED");
    expect((await approve(second)).errors).to.equal(undefined);
    expect((await ended(second)).status).to.equal("COMPLETED");
    // The system itself: the value of the later request, which is what the person last asked for.
    expect(profiles.fields.get(`${ADA}:phone`)).to.equal("+441110000002");
    expect(profiles.fields.get(`${ADA}:name`)).to.equal("Augusta Ada King");
  });

  it("refuse retrying an earlier failed correction once a later one of its field was approved, which keeps its value", async function () {
    this.timeout(60_000);
    profiles.firstGate.open();
    profiles.script("rectify", { kind: "fatal" });
    const first = await correction("phone", "+441110000001");
    expect((await approve(first)).errors).to.equal(undefined);
    const failed = await ended(first);
    expect(failed.status).to.equal("FAILED");
    const second = await correction("phone", "+441110000002");
    expect((await approve(second)).errors, "the earlier has ended").to.equal(undefined);
    expect((await ended(second)).status).to.equal("COMPLETED");

    const task = failed.tasks.find((x: any) => x.step === "RECTIFY");
    const before = await events(first);
    const retried = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { status } }`, { id: task.id });
    expect(retried.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(retried.errors?.[0]?.message).to.equal(
      `Correction ${second}, received later for the same person, also changes phone and was approved since: retrying this one would write the older value over it; submit a new correction if this value is still wanted`,
    );
    expect((await t.ok(SHOW, { id: first })).request.status).to.equal("FAILED");
    expect(await events(first)).to.deep.equal(before);
    expect(profiles.fields.get(`${ADA}:phone`)).to.equal("+441110000002");
  });

  it("and a legal hold take turns: a hold placed while a correction writes waits for the write, and the next correction leaves the held data as it was", async function () {
    this.timeout(60_000);
    const id = await correction("name", "Augusta Ada King");
    expect((await approve(id)).errors).to.equal(undefined);
    await profiles.firstEntered.opened;
    const HOLD = `mutation { placeLegalHold(input: { subjectEmail: "${ADA}", categories: ["ACCOUNT"], reason: "Litigation", caseReference: "LIT-3" }) { id } }`;
    // A correction that does not end within the hold's wait (5 s): the hold is refused, saying what it met, and nothing is placed.
    const refused = await t.gql(HOLD);
    expect(refused.errors?.map((e) => e.extensions.code)).to.deep.equal(["CONFLICT"]);
    expect(refused.errors![0].message).to.include(`records of this subject are being corrected right now (ACCOUNT through connector profiles for correction request ${id})`);
    expect((await t.ok(`{ legalHolds { id } }`)).legalHolds).to.deep.equal([]);
    // The hold is placed while the system is being corrected: what it answers must already be what the system holds.
    const placing = t.ok(HOLD).then(() => new Map(profiles.fields));
    await new Promise((r) => setTimeout(r, 300));
    profiles.firstGate.open();
    const heldAt = await placing;
    // Before: the hold was placed at once, and the correction wrote the name into the held account after it.
    expect(heldAt.get(`${ADA}:name`), "the name the system held when the hold was answered").to.equal("Augusta Ada King");
    expect((await ended(id)).status).to.equal("COMPLETED");
    const next = await correction("name", "Ada King");
    expect((await approve(next)).errors).to.equal(undefined);
    expect((await ended(next)).status).to.equal("FAILED");
    expect(profiles.fields.get(`${ADA}:name`), "the held name stays").to.equal("Augusta Ada King");
  });

  it("are not held back by an earlier one still waiting for its code; verified after the later was approved, it is refused and the later value stays", async function () {
    this.timeout(60_000);
    profiles.firstGate.open();
    // Someone asks in Ada's name; the code goes to Ada, who does not pass it on.
    t.clock.advance(1);
    const claimed = (await submit(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "phone", value: "+449990000666" }] })).id as string;
    expect((await t.ok(SHOW, { id: claimed })).request.status).to.equal("PENDING_VERIFICATION");
    // Her own correction, made later from her signed-in session: approved, and it runs.
    const own = await correction("phone", "+441110000002");
    expect((await approve(own)).errors).to.equal(undefined);
    expect((await ended(own)).status).to.equal("COMPLETED");
    expect(profiles.fields.get(`${ADA}:phone`)).to.equal("+441110000002");

    // The earlier one is verified after all: approving it now would write its older value over hers.
    await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { status } }`, { id: claimed, code: t.inbox.code(claimed) });
    const before = await events(claimed);
    const refused = await approve(claimed);
    expect(refused.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(refused.errors?.[0]?.message).to.equal(
      `Correction ${own}, received later for the same person, also changes phone and was approved: approving this one would write the older value over it; reject it, and submit a new correction if this value is still wanted`,
    );
    expect(refused.errors?.[0]?.message).not.to.contain("+44");
    expect((await t.ok(SHOW, { id: claimed })).request).to.deep.equal({ status: "PENDING_APPROVAL", tasks: [] });
    expect(await events(claimed)).to.deep.equal(before);
    expect(profiles.callsOf("rectify")).to.have.length(1);
    expect(profiles.fields.get(`${ADA}:phone`)).to.equal("+441110000002");
  });
  it("keep the order received for a correction that repeats one at work: it cannot jump a correction of its field received between them", async function () {
    this.timeout(60_000);
    const a = await correction("phone", "+441110000001");
    expect((await approve(a)).errors).to.equal(undefined);
    await profiles.firstEntered.opened;
    // Received while A writes: C changes the phone to another number, then B asks again for A's number.
    const c = await correction("phone", "+441110000002");
    const b = await correction("phone", "+441110000001");
    expect((await t.ok(`query($id: ID!) { request(id: $id) { duplicateOf } }`, { id: b })).request.duplicateOf, "B repeats A").to.equal(a);

    // B, received after C, cannot go ahead of C by following A: C must be decided first.
    const jump = await approve(b);
    expect(jump.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(jump.errors?.[0]?.message).to.match(new RegExp(`^Correction ${c}, received earlier for the same person, also changes phone and is PENDING_APPROVAL`));
    profiles.firstGate.open();
    expect((await ended(a)).status).to.equal("COMPLETED");
    expect((await approve(c)).errors).to.equal(undefined);
    expect((await ended(c)).status).to.equal("COMPLETED");
    expect((await approve(b)).errors).to.equal(undefined);
    expect((await ended(b)).status).to.equal("COMPLETED");
    // The system ends with the value of the last correction received, B's.
    expect(profiles.fields.get(`${ADA}:phone`)).to.equal("+441110000001");
  });

  it("refuse a correction once a later repeat of an earlier one, following it, was approved: its value would land over the later one", async function () {
    this.timeout(60_000);
    const a = await correction("phone", "+441110000001");
    expect((await approve(a)).errors).to.equal(undefined);
    await profiles.firstEntered.opened;
    // C waits for its code (holding nothing back) while B, received after it, repeats A and follows it.
    t.clock.advance(1);
    const c = (await submit(t, { type: "CORRECTION", subject: { email: ADA }, corrections: [{ field: "phone", value: "+441110000002" }] })).id as string;
    const b = await correction("phone", "+441110000001");
    expect((await approve(b)).errors).to.equal(undefined);
    expect((await t.ok(`query($id: ID!) { request(id: $id) { duplicateOf } }`, { id: b })).request.duplicateOf).to.equal(a);
    await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { status } }`, { id: c, code: t.inbox.code(c) });
    profiles.firstGate.open();
    expect((await ended(a)).status).to.equal("COMPLETED");
    const late = await approve(c);
    expect(late.errors?.[0]?.extensions?.code).to.equal("CONFLICT");
    expect(late.errors?.[0]?.message).to.match(new RegExp(`^Correction ${b}, received later for the same person, also changes phone and was approved`));
    expect((await ended(b)).status).to.equal("COMPLETED");
    expect(profiles.fields.get(`${ADA}:phone`)).to.equal("+441110000001");
  });
});
