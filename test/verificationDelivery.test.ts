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
  before(async () => {
    mailer = http.createServer((req, res) => {
      req.resume().on("end", () => ((received += 1), res.writeHead(answer).end()));
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
});
