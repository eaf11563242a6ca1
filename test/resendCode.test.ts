import { expect } from "chai";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

const RESEND = `mutation($id: ID!) { resendVerificationCode(id: $id) { id verification { attemptsLeft } } }`;
const VERIFY = `mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { id status } }`;
const EVENTS = `query($id: ID!) { auditEvents(requestId: $id) { action } }`;
const AT_ONCE = 4;
const ROUNDS = 10;

/**
 * resendVerificationCode called several times at once: each call sends a code (one audit event, one
 * delivery), answers with another's outcome (ok, nothing more sent) or is refused with CONFLICT, changing
 * nothing; of all the codes delivered only the last to arrive verifies.
 */
describeEachDatabase("resendVerificationCode called at once", (db) => {
  let t: TestService;
  beforeEach(async () => {
    t = await new TestService(db()).start();
  });
  afterEach(() => t.stop());

  it("sends a code per resend that went through, refuses the others with CONFLICT or shares one's outcome, and only the newest code delivered verifies", async function () {
    this.timeout(120_000);
    const seen: string[] = [];
    /** Rounds where a code delivered before the last one verified (the subject's newest mail held a dead code). */
    let wrongCode = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await submit(t);
      const before = t.inbox.sent.filter((s) => s.requestId === r.id).length;
      const answers = await Promise.all(Array.from({ length: AT_ONCE }, () => t.gql(RESEND, { id: r.id })));
      const ok = answers.filter((a) => !a.errors).length;
      const codes = answers.filter((a) => a.errors).map((a) => a.errors![0].extensions.code);
      expect(ok, "at least one resend goes through").to.be.at.least(1);
      expect(codes.every((c) => c === "CONFLICT"), `refused with CONFLICT only: ${codes.join(", ")}`).to.equal(true);
      const delivered = t.inbox.sent.filter((s) => s.requestId === r.id).slice(before).map((s) => s.code);
      const events = (await t.ok(EVENTS, { id: r.id })).auditEvents.filter((e: any) => e.action === "request.verification_code_sent").length;
      seen.push(`${db().kind} round ${round}: ${ok} ok, ${codes.length} CONFLICT, ${delivered.length} delivered, ${events} audit events`);
      expect(delivered.length, "a code delivered for each resend that went through (at most one per ok answer)").to.be.within(1, ok);
      expect(events, "one audit event per code sent").to.equal(delivered.length);
      // Every code but the last delivered is refused; the last one verifies.
      const last = delivered[delivered.length - 1];
      let olderVerified = false;
      for (const code of new Set(delivered.slice(0, -1).filter((c) => c !== last))) {
        const res = await t.gql(VERIFY, { id: r.id, code });
        if (!res.errors) olderVerified = true;
        else expect(res.errors[0].extensions.code, "an older code is refused as wrong").to.equal("BAD_USER_INPUT");
        if (olderVerified) break;
      }
      if (olderVerified) wrongCode += 1;
      else expect((await t.ok(VERIFY, { id: r.id, code: last })).verifyRequest.status, "the newest code verifies").to.equal("PENDING_APPROVAL");
    }
    console.log(seen.map((s) => `      ${s}`).join("\n"));
    expect(wrongCode, `rounds of ${ROUNDS} where an older delivered code verified and the newest did not`).to.equal(0);
  });
});
