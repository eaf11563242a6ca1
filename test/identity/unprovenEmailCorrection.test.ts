import { expect } from "chai";
import pino from "pino";
import { createSqlConnector, SqlConnector } from "../../src/connectors/sql";
import { EMAIL_CORRECTION_UNVOUCHED } from "../../src/commands/requestSubmitter";
import { Role } from "../../src/domain/enums";
import { withProcessingLocation } from "../../src/orchestrator/registry";
import { sampleAccountDbConfig } from "../../src/sample/accountDb";
import { startSampleWorkspace, SampleWorkspace } from "../../src/sample/workspace";
import { describeEachDatabase, tempDir } from "../support/databases";
import { submit, SUBMIT, TestService } from "../support/harness";
import { accountsFile, approvedToEnd, queryIn, seedVera, VERA, veraHeld } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason tasks { connector step status outcome { records erased kept changed } } } }`;
const SETTINGS_DELETION = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;

/**
 * The emailed code proves the address a request was submitted under, nothing else. A correction of the
 * email writes the address every later request of the person is looked up by (the settings page sends
 * the account's address): one the person never proved theirs would lead those requests to whoever holds
 * it at Stripe or Zendesk.
 */
describeEachDatabase("a correction of the email to an address the person never proved", (db) => {
  // The sample workspace, its account database configured to correct the email (as the test account database is, and an installation may be).
  const setup = {} as { ws: SampleWorkspace; dir: string; t: TestService; accountDb: SqlConnector };
  beforeEach(async () => {
    setup.dir = tempDir();
    setup.ws = await startSampleWorkspace({ dataDir: setup.dir, logger: pino({ level: "silent" }), authEventsForAda: 5, people: 12, redactionPollMs: 1 });
    const config = sampleAccountDbConfig();
    config.rectifiable = { ...config.rectifiable, email: { table: "users", column: "email" } };
    setup.accountDb = createSqlConnector(config, { url: `sqlite:${accountsFile(setup.dir)}` });
    const connectors = [withProcessingLocation(setup.accountDb, "IN"), ...setup.ws.connectors.filter((c) => c.spec.name !== "account-db")];
    setup.t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "4", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" }, connectors).start();
  });
  afterEach(async () => {
    await setup.t?.stop();
    await setup.accountDb?.close();
    await setup.ws?.close();
  });

  const accountEmail = async (userId: string) => (await queryIn(accountsFile(setup.dir), `SELECT email FROM users WHERE id = ?`, [userId]))[0].email as string;

  /** The correction Mallory asks for under her own address, and its code, as an unvouched caller submits it. */
  async function unvouchedCorrection(t: TestService, email: string, value: string) {
    return t.gql(SUBMIT, { input: { type: "CORRECTION", subject: { email }, corrections: [{ field: "name", value: "Mallory Renamed" }, { field: "email", value }] } }, Role.ADMIN);
  }

  it("is refused at submission (BAD_USER_INPUT on corrections, no value echoed), so her settings deletion never reaches the Stripe customer and Zendesk user that hold it", async () => {
    const t = setup.t;
    // Mallory never paid nor wrote in: nothing of hers at Stripe or Zendesk stands in the way of what her address finds there.
    const mallory = setup.ws.people.find((p) => p.status === "ACTIVE" && !p.paymentCustomerId && !p.ticketingUserId)!;
    const vera = seedVera(setup.ws);
    const before = veraHeld(setup.ws, vera);
    expect(before).to.deep.equal({ customer: { deleted: false, email: VERA }, user: { active: true, email: VERA } });

    const submitted = await unvouchedCorrection(t, mallory.email, VERA);
    if (!submitted.errors) {
      // Before: the code Mallory got at her own address verified the request, and the approved correction wrote Vera's address onto her account row.
      const id = submitted.data!.submitRequest.id;
      await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id, code: t.inbox.code(id) });
      await approvedToEnd(t, SHOW, id);
    }
    // Her settings page sends the account's address, vouched for by her session.
    const address = await accountEmail(mallory.userId);
    const deletion = (await t.ok(SETTINGS_DELETION, { input: { idempotencyKey: "mallory-settings-1", subject: { email: address } } }, Role.SERVICE)).requestAccountDeletion;
    const ended = await setup.t.waitFor(async () => {
      setup.t.clock.advance(1000);
      const { request } = await setup.t.ok(SHOW, { id: deletion.id });
      return ["COMPLETED", "FAILED"].includes(request.status) ? request : undefined;
    }, "deletion ended", 60_000);
    expect(ended.status, ended.statusReason).to.equal("COMPLETED");
    // Before: the account row held Vera's address and the deletion deleted her Zendesk user (active: false) and reached her Stripe customer.
    expect(veraHeld(setup.ws, vera), "Vera's customer and user, as Stripe and Zendesk hold them").to.deep.equal(before);
    const collected = (connector: string) => ended.tasks.filter((x: any) => x.connector === connector && x.step === "COLLECT").reduce((n: number, x: any) => n + x.outcome.records, 0);
    expect({ payments: collected("payments"), ticketing: collected("ticketing") }, "records the deletion found of Mallory's at Stripe and Zendesk").to.deep.equal({ payments: 0, ticketing: 0 });
    expect(address, "the account row keeps the address Mallory proved").to.equal(mallory.email);

    expect(submitted.errors?.map((e) => e.extensions.code)).to.deep.equal(["BAD_USER_INPUT"]);
    expect(submitted.errors![0].extensions.fields).to.deep.equal([
      {
        field: "corrections",
        messages: [
          "a correction of email is taken only with identityVerified: true, from a caller who checked that the new address is the subject's: the code sent to the email proves that address alone, and every later request of the person is looked up by the corrected one; submit the other changes without it, or have the privacy team vouch for the new address",
        ],
      },
    ]);
    expect(JSON.stringify(submitted.errors)).not.to.contain("vera");
  });

  it("is taken when the caller vouches (the privacy team checked the new address), and a code-verified correction of another field still runs", async () => {
    const t = setup.t;
    const [, , mallory, other] = setup.ws.people.filter((p) => p.status === "ACTIVE");
    const name = await submit(t, { type: "CORRECTION", subject: { email: other.email }, corrections: [{ field: "name", value: "Renamed By Code" }] });
    await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id: name.id, code: t.inbox.code(name.id) });
    expect((await approvedToEnd(t, SHOW, name.id)).status).to.equal("COMPLETED");
    expect((await queryIn(accountsFile(setup.dir), `SELECT name FROM users WHERE id = ?`, [other.userId]))[0].name).to.equal("Renamed By Code");

    const moved = "mallory.new@own-mailbox.example";
    const vouched = await submit(t, {
      type: "CORRECTION",
      subject: { email: mallory.email },
      corrections: [{ field: "email", value: moved }],
      identityVerified: true,
      verificationEvidence: "code sent to the new address answered by phone",
    });
    const done = await approvedToEnd(t, SHOW, vouched.id);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await accountEmail(mallory.userId)).to.equal(moved);
    // An unvouched one, the field in other letter case, is refused alike.
    const spelled = await t.gql(SUBMIT, { input: { type: "CORRECTION", subject: { email: other.email }, corrections: [{ field: "EMAIL", value: moved }] } }, Role.ADMIN);
    expect(spelled.errors?.map((e) => e.extensions.code)).to.deep.equal(["BAD_USER_INPUT"]);
  });

  it("is not approved when stored before submissions refused it (verified by the code to the old address), and the account row keeps that address", async () => {
    const t = setup.t;
    const mallory = setup.ws.people.find((p) => p.status === "ACTIVE" && !p.paymentCustomerId && !p.ticketingUserId)!;
    const r = await submit(t, { type: "CORRECTION", subject: { email: mallory.email }, corrections: [{ field: "name", value: "Mallory Renamed" }] });
    await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id: r.id, code: t.inbox.code(r.id) });
    // As a request submitted before this rule was stored: its code proved Mallory's address, its change writes Vera's.
    await t.ds.query(`UPDATE requests SET corrections = ? WHERE id = ?`, [JSON.stringify([{ field: "name", value: "Mallory Renamed" }, { field: "email", value: VERA }]), r.id]);
    const approved = await t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id status } }`, { id: r.id });
    if (!approved.errors) await approvedToEnd(t, SHOW, r.id).catch(() => undefined);
    expect(await accountEmail(mallory.userId), "the account row keeps the address Mallory proved").to.equal(mallory.email);
    expect(approved.errors?.map((e) => [e.extensions.code, e.extensions.fields])).to.deep.equal([["BAD_USER_INPUT", [{ field: "corrections", messages: [EMAIL_CORRECTION_UNVOUCHED] }]]]);
    expect(JSON.stringify(approved.errors)).not.to.contain("vera");
    const { request } = await t.ok(`query($id: ID!) { request(id: $id) { status tasks { id } } }`, { id: r.id });
    expect(request, "still waiting for a decision, nothing planned").to.deep.equal({ status: "PENDING_APPROVAL", tasks: [] });
  });
});
