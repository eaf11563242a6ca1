import { expect } from "chai";
import { Role } from "../src/domain/enums";
import { CALLBACK_SECRET, CallbackReceiver } from "./support/callbackReceiver";
import { TestDatabase } from "./support/databases";
import { TestService } from "./support/harness";
import { ScriptedConnector } from "./support/scriptedConnector";
import { mariadbOrSkip } from "./support/workerProcesses";

const DELETE = `mutation($input: RequestAccountDeletionInput!) { requestAccountDeletion(input: $input) { id } }`;
const ENV = { DSR_CALLBACK_SECRET: CALLBACK_SECRET, DSR_CALLBACK_POLL_MS: "10", DSR_CALLBACK_RETRY_BASE_MS: "1000", DSR_CALLBACK_RETRY_MAX_MS: "8000", DSR_WORKER_POLL_MS: "10", DSR_TASK_LEASE_MS: "5000" };

describe("status callbacks with two service instances on one database [mariadb]", function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let receiver: CallbackReceiver;
  const services: TestService[] = [];
  before(async function () {
    db = await mariadbOrSkip(this);
  });
  after(async () => {
    for (const s of services) await s.stop();
    await receiver?.stop();
    await db?.drop();
  });

  it("delivers every status change once, in order per request, while both instances' dispatchers poll the outbox", async () => {
    const people = Array.from({ length: 12 }, (_, i) => `leaver${i}@example.com`);
    const account = new ScriptedConnector({ name: "account-db", categories: ["ACCOUNT"] });
    for (const p of people) account.seed(p, 2);
    receiver = new CallbackReceiver(() => new Date(services[0].clock.now().getTime()));
    await receiver.start();
    // Both instances start on the same clock reading; the second's start empties the shared tables, so its tokens serve both.
    const a = await new TestService(db, { ...ENV, DSR_CALLBACK_URL: receiver.url, DSR_WORKER_CONCURRENCY: "4" }, [account]).start();
    services.push(a);
    const b = await new TestService(db, { ...ENV, DSR_CALLBACK_URL: receiver.url, DSR_WORKER_CONCURRENCY: "4" }, [account]).start();
    services.push(b);
    Object.assign(a.tokens, b.tokens);
    const ids = await Promise.all(people.map(async (email, i) => (await (i % 2 ? a : b).ok(DELETE, { input: { idempotencyKey: `settings-${i}-key`, subject: { email } } }, Role.SERVICE)).requestAccountDeletion.id as string));
    await a.waitFor(async () => {
      const [{ n }] = await a.ds.query(`SELECT COUNT(*) AS n FROM requests WHERE status IN ('COMPLETED', 'FAILED')`);
      return Number(n) === ids.length ? true : undefined;
    }, "every deletion ended", 60_000);
    const [{ n: expected }] = await a.ds.query(`SELECT COUNT(*) AS n FROM status_callbacks`);
    await a.waitFor(async () => (receiver.accepted.length >= Number(expected) ? true : undefined), "every callback delivered", 30_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const byId = new Map<string, number>();
    for (const e of receiver.accepted) byId.set(e.id, (byId.get(e.id) ?? 0) + 1);
    expect([...byId.values()].filter((n) => n > 1), "callbacks delivered twice").to.deep.equal([]);
    expect(receiver.accepted).to.have.length(Number(expected));
    for (const id of ids) {
      const seen = receiver.accepted.filter((e) => e.requestId === id).map((e) => `${e.previousStatus}->${e.status}`);
      expect(seen, id).to.deep.equal(["PENDING_APPROVAL->IN_PROGRESS", "IN_PROGRESS->COMPLETED"]);
    }
    const [{ n: undelivered }] = await a.ds.query(`SELECT COUNT(*) AS n FROM status_callbacks WHERE status <> 'DELIVERED'`);
    expect(Number(undelivered)).to.equal(0);
  });
});
