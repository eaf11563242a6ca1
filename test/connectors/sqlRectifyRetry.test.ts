import { expect } from "chai";
import { ConnectorError, FieldChange, Identities, TaskContext } from "../../src/connectors/sdk";
import type { SqlConnector } from "../../src/connectors/sql";
import { describeEachDatabase } from "../support/databases";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { step status attempts outcome { changed notHeld } } } }`;

/** The account database, answering its first rectify with a 503 after the UPDATE committed (a crash between the write and the answer). */
function failsAfterWriting(inner: SqlConnector): SqlConnector {
  return {
    ...inner,
    async rectify(ids: Identities, changes: readonly FieldChange[], ctx: TaskContext) {
      const outcome = await inner.rectify(ids, changes, ctx);
      if (ctx.attempt === 1) throw new ConnectorError("account-db answered 503", "503 after commit", true, 10);
      return outcome;
    },
  };
}

describeEachDatabase("a correction retried after its first attempt wrote and then failed", (db) => {
  let service: AccountDbService | undefined;
  afterEach(async () => {
    await service?.stop();
  });

  it("reports on the retry what the database holds: the fields changed, COMPLETED", async () => {
    service = await accountDbService(db(), undefined, undefined, failsAfterWriting);
    const { t } = service;
    // The retry waits for its backoff on the service's clock: move it on while waiting.
    const ticking = setInterval(() => t.clock.advance(60_000), 20);
    const done = await service.run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: "Augusta Ada King" }] }, SHOW).finally(() => clearInterval(ticking));
    const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.attempts).to.equal(2);
    expect(rectify.outcome).to.deep.equal({ changed: ["name"], notHeld: [] });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await service.account.rows(`SELECT name FROM users WHERE id = 1`)).to.deep.equal([{ name: "Augusta Ada King" }]);
  });
  it("reports an address it corrected on the first attempt as changed on the retry, though the old address finds no row", async () => {
    service = await accountDbService(db(), undefined, undefined, failsAfterWriting);
    const { t } = service;
    const ticking = setInterval(() => t.clock.advance(60_000), 20);
    const corrections = [{ field: "email", value: "ada@analytical.example" }, { field: "name", value: "Augusta Ada King" }];
    const done = await service.run({ type: "CORRECTION", subject: { email: ADA.email }, corrections }, SHOW).finally(() => clearInterval(ticking));
    const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.attempts).to.equal(2);
    expect(await service.account.rows(`SELECT email, name FROM users WHERE id = 1`)).to.deep.equal([{ email: "ada@analytical.example", name: "Augusta Ada King" }]);
    expect(rectify.outcome).to.deep.equal({ changed: ["email", "name"], notHeld: [] });
    expect(done.status, done.statusReason).to.equal("COMPLETED");
  });
});
