import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { submit, submitVerified } from "../support/harness";
import { ADA } from "../connectors/support/accountDb";
import { accountDbService, AccountDbService } from "../connectors/support/accountDbService";
import { approvedToEnd } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status outcome { records erased } } } }`;

/**
 * A connector reads the login sessions and MFA factors by user id, and no connector provides user ids
 * (none ties them to an address, so none can confirm one). Mallory, who holds no account, verified her
 * own address with the emailed code and named Ada's user id beside it: the code proves the email alone.
 */
describeEachDatabase("a user id given with a request verified only by the code sent to its email, where no connector can confirm it", (db) => {
  let service: AccountDbService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });
  const adaHolds = async () => ({
    sessions: await service!.account.count("sessions", "user_id = ?", [Number(ADA.userId)]),
    mfa: await service!.account.count("mfa_factors", "user_id = ?", [Number(ADA.userId)]),
  });

  it("is refused before anything is stored, so none of Ada's sessions is read or erased; a caller that vouched for it still reaches them", async () => {
    service = await accountDbService(db(), (config) => {
      config.provides = config.provides!.filter((p) => p.kind !== "userId");
    });
    const before = await adaHolds();
    expect(before.sessions).to.be.greaterThan(0);
    const subject = { email: "mallory@example.org", userId: ADA.userId };

    const refused = await service.t.gql(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, { input: { type: "DELETION", subject } });
    expect(refused.errors?.map((e) => e.extensions.code), JSON.stringify(refused.errors)).to.deep.equal(["BAD_USER_INPUT"]);
    expect((refused.errors?.[0].extensions.fields as { field: string }[]).map((f) => f.field)).to.deep.equal(["subject.userId"]);
    expect(Number((await service.t.ds.query(`SELECT COUNT(*) AS n FROM requests`))[0].n), "no request stored").to.equal(0);

    // Her own address verified by its code still serves her, without the id: nothing of Ada's is touched.
    const own = await submitVerified(service.t, { type: "DELETION", subject: { email: "mallory@example.org" } });
    const done = await approvedToEnd(service.t, SHOW, own.id);
    expect(["COMPLETED", "FAILED"]).to.include(done.status);
    expect(await adaHolds(), "Ada's sessions and factors").to.deep.equal(before);

    // A privacy officer who checked the id vouches for it (identityVerified): it is followed.
    const vouched = await service.run({ type: "ACCESS", subject: { email: ADA.email, userId: ADA.userId } }, SHOW);
    expect(vouched.status, vouched.statusReason).to.equal("COMPLETED");
    expect(vouched.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.be.greaterThanOrEqual(before.sessions);
  });

  it("is refused at approval when it was taken before (the connectors changed since, or it was stored before this check): nothing of Ada's is erased", async () => {
    service = await accountDbService(db(), (config) => {
      config.provides = config.provides!.filter((p) => p.kind !== "userId");
    });
    const before = await adaHolds();
    // Stored as an older service (or one whose connectors then confirmed user ids) took it: with the code, and the id.
    const r = await submit(service.t, { type: "DELETION", subject: { email: "mallory@example.org" } });
    await service.t.ds.query(`UPDATE requests SET subjectUserId = ? WHERE id = ?`, [ADA.userId, r.id]);
    await service.t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id } }`, { id: r.id, code: service.t.inbox.code(r.id) });
    const approve = await service.t.gql(`mutation($id: ID!) { approveRequest(id: $id) { id status } }`, { id: r.id });
    expect(approve.errors?.map((e) => e.extensions.code), JSON.stringify(approve.errors)).to.deep.equal(["BAD_USER_INPUT"]);
    const [{ status }] = await service.t.ds.query(`SELECT status FROM requests WHERE id = ?`, [r.id]);
    expect(status).to.equal("PENDING_APPROVAL");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await adaHolds()).to.deep.equal(before);
  });
});
