import { expect } from "chai";
import { closeUnverifiedRequests, UNVERIFIED_REASON } from "../src/orchestrator/unverifiedRequests";
import { seededRandom } from "../src/sample/people";
import { describeEachDatabase } from "./support/databases";
import { submit, TestService } from "./support/harness";

const MINUTE = 60_000;
/** `DSR_TEST_UNVERIFIED_SEED=<n>` replays one seed. */
const SEED = Number(process.env.DSR_TEST_UNVERIFIED_SEED ?? Date.now() % 1_000_000);

/**
 * The subject answers the code in the very moment the sweep closes the request as unverified (its due
 * date just passed): exactly one of them wins, and the request and its audit trail say which. Done for
 * real, both at once (on MariaDB on two connections), with seeded random delays between them.
 */
describeEachDatabase("a code answered while the request is being closed unverified", (db) => {
  let t: TestService;
  before(async () => {
    // No worker: the test runs the sweep's function itself, at the moment it chooses.
    t = await new TestService(db(), { DSR_WORKER_CONCURRENCY: "0" }).start();
  });
  after(async () => {
    await t?.stop();
  });

  it(`has one winner each time, and says which (seed ${SEED})`, async function () {
    this.timeout(60_000);
    const random = seededRandom(SEED);
    const outcomes = { verified: 0, closed: 0 };
    for (let i = 0; i < 12; i += 1) {
      const request = await submit(t, { type: "ACCESS", subject: { email: `race${i}@example.com` } });
      // A fresh code a minute before the due date, answered a minute after it.
      t.clock.set(new Date(Date.parse(request.dueAt) - MINUTE));
      await t.ok(`mutation($id: ID!) { resendVerificationCode(id: $id) { status } }`, { id: request.id });
      t.clock.set(new Date(Date.parse(request.dueAt) + MINUTE));
      // The answer comes over HTTP (a few ms), the sweep in this process: delays that let either go first.
      const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.floor(random() * ms)));
      const [verify, closed] = await Promise.all([
        pause(2).then(() => t.gql(`mutation($id: ID!, $code: String!) { verifyRequest(id: $id, code: $code) { status } }`, { id: request.id, code: t.inbox.code(request.id) })),
        pause(16).then(() => closeUnverifiedRequests(t.service.services, t.clock.now())),
      ]);
      const { request: now } = await t.ok(`query($id: ID!) { request(id: $id) { status statusReason } }`, { id: request.id });
      const actions: string[] = (await t.ds.query(`SELECT action FROM audit_events WHERE requestId = ? ORDER BY seq`, [request.id])).map((r: { action: string }) => r.action);
      if (verify.errors) {
        expect([verify.errors[0].extensions?.code, closed, now.status, now.statusReason], `seed ${SEED}, round ${i}`).to.deep.equal(["CONFLICT", 1, "REJECTED", UNVERIFIED_REASON]);
        expect(actions, `seed ${SEED}, round ${i}`).to.include("request.rejected").and.not.include("request.verified");
        outcomes.closed += 1;
      } else {
        expect([verify.data.verifyRequest.status, closed, now.status], `seed ${SEED}, round ${i}`).to.deep.equal(["PENDING_APPROVAL", 0, "PENDING_APPROVAL"]);
        expect(actions, `seed ${SEED}, round ${i}`).to.include("request.verified").and.not.include("request.rejected");
        outcomes.verified += 1;
      }
    }
    console.log(`      seed ${SEED}: verified first ${outcomes.verified} times, closed first ${outcomes.closed}`);
  });
});
