import { expect } from "chai";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

const RESEND = `mutation($id: ID!) { resendVerificationCode(id: $id) { id } }`;
const VERIFY = `mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id status } }`;
const PER_DAY = 4;
const EMAIL = "ada.lovelace@example.com";

/**
 * A 6-digit code with 5 guesses each is safe only while codes are few: without a cap, resending and
 * guessing at the API's rate limit (50 operations a second) would verify a stranger's address within
 * days and hand over her export. DSR_VERIFICATION_CODES_PER_DAY caps the codes one address is sent in
 * 24 hours, across its requests; checked here against what the mailer received and the rows stored.
 */
describeEachDatabase("verification codes per address and day", (db) => {
  let t: TestService;
  beforeEach(async () => {
    t = await new TestService(db(), { DSR_VERIFICATION_CODES_PER_DAY: String(PER_DAY) }).start();
  });
  afterEach(() => t.stop());

  const requestsOf = async (email: string): Promise<number> => Number((await t.ds.query(`SELECT COUNT(*) AS n FROM requests WHERE subjectEmail = ?`, [email]))[0].n);
  const sentTo = (ids: readonly string[]) => t.inbox.sent.filter((s) => ids.includes(s.requestId)).length;

  it("sends at most the day's codes to one address across resends and new requests, refusing the rest with RATE_LIMITED and changing nothing", async () => {
    // A code a minute: the window frees one at a time.
    const first = await submit(t, { subject: { email: EMAIL } });
    for (let i = 1; i < PER_DAY - 1; i++) {
      t.clock.advance(60_000);
      await t.ok(RESEND, { id: first.id });
    }
    // Another request, the address in other letter case: the same person, the same count.
    t.clock.advance(60_000);
    const second = await submit(t, { type: "DELETION", subject: { email: "Ada.Lovelace@EXAMPLE.com" } });
    expect(sentTo([first.id, second.id]), "codes the mailer received").to.equal(PER_DAY);
    const codeBefore = t.inbox.code(first.id);

    const resent = await t.gql(RESEND, { id: first.id });
    expect(resent.errors?.[0].extensions.code).to.equal("RATE_LIMITED");
    expect(resent.errors?.[0].extensions.reason).to.equal("VERIFICATION_CODE_LIMIT");
    expect(resent.errors?.[0].extensions.retryAfterSeconds).to.be.within(1, 24 * 3600);
    expect(resent.errors?.[0].message).to.not.include("ada");
    const another = await t.gql(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }`, { input: { type: "PORTABILITY", subject: { email: EMAIL } } });
    expect(another.errors?.[0].extensions.code).to.equal("RATE_LIMITED");
    expect(another.errors?.[0].extensions.reason).to.equal("VERIFICATION_CODE_LIMIT");
    expect(another.errors?.[0].message).to.not.include("ada");
    expect(await requestsOf(EMAIL), "the refused submission stored nothing").to.equal(2);
    expect(t.inbox.sent.length, "nothing more reached the mailer").to.equal(PER_DAY);
    // The code already sent still works: the refusal changed nothing of the request.
    expect(t.inbox.code(first.id)).to.equal(codeBefore);
    expect((await t.ok(VERIFY, { id: first.id, code: codeBefore })).verifyRequest.status).to.equal("PENDING_APPROVAL");

    // Other people are not held back, nor is a request a trusted caller vouches for (no code is sent).
    expect((await submit(t, { subject: { email: "grace.hopper@example.com" } })).status).to.equal("PENDING_VERIFICATION");
    expect((await submit(t, { subject: { email: EMAIL }, identityVerified: true, verificationEvidence: "checked her passport at the desk" })).status).to.equal("PENDING_APPROVAL");

    // A day after the oldest code, one more may go.
    const retryAfter = Number(resent.errors![0].extensions.retryAfterSeconds);
    expect(retryAfter, "until the oldest code is a day old").to.be.within(24 * 3600 - 3 * 60 - 5, 24 * 3600 - 3 * 60);
    t.clock.advance(retryAfter * 1000);
    expect((await t.ok(RESEND, { id: second.id })).resendVerificationCode.id).to.equal(second.id);
    expect(sentTo([first.id, second.id])).to.equal(PER_DAY + 1);
    const refused = await t.gql(RESEND, { id: second.id });
    expect(refused.errors?.[0].extensions.code, "the next is refused again").to.equal("RATE_LIMITED");
  });

  it("counts codes resent at once once each: of parallel resends past the cap, none is sent", async () => {
    const r = await submit(t, { subject: { email: EMAIL } });
    const answers = await Promise.all(Array.from({ length: 2 * PER_DAY }, () => t.gql(RESEND, { id: r.id })));
    const sent = sentTo([r.id]);
    const events = (await t.ok(`query($id: ID!) { auditEvents(requestId: $id) { action } }`, { id: r.id })).auditEvents.filter((e: { action: string }) => e.action === "request.verification_code_sent").length;
    expect(sent, "codes the mailer received").to.be.at.most(PER_DAY);
    expect(events + 1, "the trail's codes are the mailer's").to.equal(sent);
    const codes = answers.filter((a) => a.errors).map((a) => a.errors![0].extensions.code);
    expect(codes.every((c) => c === "RATE_LIMITED" || c === "CONFLICT"), codes.join(", ")).to.equal(true);
  });
});
