import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError outcome { changed notHeld } } } }`;

/** Two correctable fields stored in one column (`fullName`, a second name for `name`): the column holds one value. */
describeEachDatabase("a correction of two fields stored in one column", (db) => {
  let service: AccountDbService | undefined;
  beforeEach(async () => {
    service = await accountDbService(db(), (config) => (config.rectifiable = { ...config.rectifiable, fullName: { table: "users", column: "name" } }));
  });
  afterEach(async () => {
    await service?.stop();
  });
  const run = (corrections: { field: string; value: string }[]) => service!.run({ type: "CORRECTION", subject: { email: ADA.email }, corrections }, SHOW);
  const name = async () => (await service!.account.rows(`SELECT name FROM users WHERE id = 1`))[0].name;

  it("fails, changing nothing, when the correction gives them different values, rather than report both changed with one kept", async () => {
    const done = await run([{ field: "name", value: "Augusta Ada King" }, { field: "fullName", value: "Augusta Ada Byron" }]);
    expect(done.status, done.statusReason).to.equal("FAILED");
    expect(done.tasks[0].lastError).to.equal(
      "account-db: fields name and fullName are both stored in users.name, and the correction gives them different values; the rectify changed nothing. Submit a correction with one value for them",
    );
    expect(await name()).to.equal("Ada Lovelace");
  });

  it("corrects both when they agree", async () => {
    const done = await run([{ field: "name", value: "Augusta Ada King" }, { field: "fullName", value: "Augusta Ada King" }]);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(done.tasks[0].outcome).to.deep.equal({ changed: ["name", "fullName"], notHeld: [] });
    expect(await name()).to.equal("Augusta Ada King");
  });
});
