import http from "node:http";
import { AddressInfo } from "node:net";
import { expect } from "chai";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

const EVENTS = `query($id: ID!) { auditEvents(requestId: $id) { action actor { role } details } }`;

/** The trail of a request whose verification code the mailer refused, then accepted. */
describeEachDatabase("verification code delivery in the audit trail", (db) => {
  let t: TestService;
  let mailer: http.Server;
  let answer = 503;
  let received = 0;
  /** The codes the mailer accepted, by request. */
  const codes = new Map<string, string>();
  before(async () => {
    mailer = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (part: Buffer) => parts.push(part));
      req.on("end", () => {
        received += 1;
        const body = JSON.parse(Buffer.concat(parts).toString("utf8")) as { requestId: string; code: string };
        if (answer < 300) codes.set(body.requestId, body.code);
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => mailer.listen(0, "127.0.0.1", resolve));
    t = await new TestService(db(), { DSR_NOTIFIER_URL: `http://127.0.0.1:${(mailer.address() as AddressInfo).port}/notify` }).start();
  });
  after(async () => {
    await t?.stop();
    await new Promise<void>((resolve) => (mailer.closeAllConnections(), mailer.close(() => resolve())));
  });

  it("follows a code the notifier refused with request.verification_code_undelivered, and a resend that arrived with nothing more", async () => {
    answer = 503;
    const r = await submit(t);
    expect(received).to.equal(1);
    const trail = async () => (await t.ok(EVENTS, { id: r.id })).auditEvents as Array<{ action: string; actor: { role: string }; details: Record<string, unknown> }>;
    const first = await trail();
    expect(first.map((e) => e.action)).to.deep.equal(["request.submitted", "request.verification_code_undelivered"]);
    expect(first[1].actor.role).to.equal("SYSTEM");
    expect(first[1].details).to.deep.equal({ notifier: "webhook", reason: "the notifier did not accept the code (the service log says why); resendVerificationCode sends a new one" });
    answer = 204;
    await t.ok(`mutation($id: ID!) { resendVerificationCode(id: $id) { id } }`, { id: r.id });
    expect(received).to.equal(2);
    expect((await trail()).map((e) => e.action)).to.deep.equal(["request.submitted", "request.verification_code_undelivered", "request.verification_code_sent"]);
  });

  it("answers UNDELIVERED to submitRequest when the notifier refused the code, SENT after a resend it took, and null once verified", async () => {
    answer = 503;
    const DELIVERY = `{ id status verificationCodeDelivery }`;
    const submitted = (await t.ok(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) ${DELIVERY} }`, { input: { type: "ACCESS", subject: { email: "grace.hopper@example.com" } } })).submitRequest;
    expect(submitted.verificationCodeDelivery, "the submission's own answer").to.equal("UNDELIVERED");
    const seen = async () => (await t.ok(`query($id: ID!) { request(id: $id) ${DELIVERY} }`, { id: submitted.id })).request;
    expect((await seen()).verificationCodeDelivery).to.equal("UNDELIVERED");
    answer = 204;
    const resent = (await t.ok(`mutation($id: ID!) { resendVerificationCode(id: $id) ${DELIVERY} }`, { id: submitted.id })).resendVerificationCode;
    expect(resent.verificationCodeDelivery, "the resend's own answer").to.equal("SENT");
    answer = 503;
    expect((await t.ok(`mutation($id: ID!) { resendVerificationCode(id: $id) ${DELIVERY} }`, { id: submitted.id })).resendVerificationCode.verificationCodeDelivery).to.equal("UNDELIVERED");
    answer = 204;
    const delivered = (await t.ok(`mutation($input: SubmitRequestInput!) { submitRequest(input: $input) ${DELIVERY} }`, { input: { type: "ACCESS", subject: { email: "ada.lovelace@example.com" } } })).submitRequest;
    expect(delivered.verificationCodeDelivery).to.equal("SENT");
    const verified = (await t.ok(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) ${DELIVERY} }`, { id: delivered.id, code: codes.get(delivered.id) })).verifyRequest;
    expect(verified).to.include({ status: "PENDING_APPROVAL", verificationCodeDelivery: null });
  });
});
