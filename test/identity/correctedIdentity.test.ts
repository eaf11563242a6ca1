import { expect } from "chai";
import { collectAll } from "../../src/connectors/testing/conformance";
import { describeEachDatabase } from "../support/databases";
import { ADA, GRACE } from "../connectors/support/accountDb";
import { accountDbService, AccountDbService } from "../connectors/support/accountDbService";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason tasks { connector step status lastError outcome { records changed notHeld } } } }`;

/**
 * The account database finds people by email and lets a correction write it (rectifiable email). A
 * corrected address decides whose rows are whose from then on: one another person's row holds makes two
 * people one, one that is no address cuts the person off from every later request.
 */
describeEachDatabase("a correction of a column people are found by", (db) => {
  let service: AccountDbService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
  });
  const start = async () => (service = await accountDbService(db()));
  const run = (input: Record<string, unknown>) => service!.run(input, SHOW);
  const users = () => service!.account.rows(`SELECT id, email, name FROM users WHERE id IN (1, 2) ORDER BY id`);

  it("refuses an address another person's row holds (in any letter case), changing nothing, so the other person's access request gets only their own row", async () => {
    await start();
    const before = await users();
    // The unique index of SQLite compares letter case, so the database itself lets it in; to every request it is Grace's address.
    const done = await run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: "Augusta Ada King" }, { field: "email", value: "GRACE.HOPPER@example.com" }] });
    expect(done.status, done.statusReason).to.equal("FAILED");
    const rectify = done.tasks.find((x: any) => x.step === "RECTIFY");
    expect(rectify.status).to.equal("FAILED");
    expect(rectify.lastError).to.equal(
      "account-db: the corrected email is held by another person's row already (table users finds people by it as email); the rectify changed nothing. Submit a correction with the person's own, valid email, or correct it by hand",
    );
    expect(JSON.stringify(done)).not.to.match(/grace\\.hopper/i);
    expect(await users(), "neither Ada's address nor her name was written").to.deep.equal(before);
    const grace = await run({ type: "ACCESS", subject: { email: GRACE.email } });
    expect(grace.status).to.equal("COMPLETED");
    const hers = await collectAll(service!.connector, { email: GRACE.email });
    expect(hers.filter((r) => r.type === "user").map((r) => r.data.name), "Grace's user row alone").to.deep.equal(["Grace Hopper"]);
    expect(grace.tasks.find((x: any) => x.step === "COLLECT").outcome.records).to.equal(hers.length);
  });

  it("refuses a value that is no address, changing nothing, and still corrects an address to the person's own in other letter case", async () => {
    await start();
    const before = await users();
    const bad = await run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: "Augusta Ada King" }, { field: "email", value: "ada at home" }] });
    expect(bad.status).to.equal("FAILED");
    expect(bad.tasks.find((x: any) => x.step === "RECTIFY").lastError).to.match(/^account-db: the corrected email is not an email address \(table users finds people by it as email\); the rectify changed nothing/);
    expect(JSON.stringify(bad)).not.to.contain("ada at home");
    expect(await users()).to.deep.equal(before);

    const own = await run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "email", value: "Ada.Lovelace@Example.com" }] });
    expect(own.status, own.statusReason).to.equal("COMPLETED");
    expect((await users())[0]).to.include({ email: "Ada.Lovelace@Example.com" });
  });
});
