import { expect } from "chai";
import { ConnectorError } from "../../src/connectors/sdk";
import { testContext } from "../../src/connectors/testing/testContext";
import { createSqliteDatabase, describeEachDatabase, TestDatabase } from "../support/databases";
import { SUBMIT } from "../support/harness";
import { ADA } from "./support/accountDb";
import { accountDbService, AccountDbService } from "./support/accountDbService";

const NEW_ADDRESS = "augusta.king@analytical.example";
const NEW_NAME = "Augusta Ada King";
/** Ada's row as the account database holds it, read by the test's own connection. */
const ADA_ROW = `SELECT email, name, created_at FROM users WHERE id = 1`;

/**
 * The account database corrects `name`, `email` and `fullName` (a second name for users.name), and
 * shows `created_at`. Connectors match correction field names exactly: before, a correction of
 * `Email` beside `name` was COMPLETED, "Held by no system that corrected data: Email", with Ada's
 * address unchanged in users.email; `Name` alone FAILED as "nothing was corrected" though the
 * database holds and corrects her name.
 */
describeEachDatabase("a correction naming a field in another spelling than the connector's", (db) => {
  let serviceDb: TestDatabase;
  let service: AccountDbService | undefined;
  beforeEach(async () => {
    serviceDb = await createSqliteDatabase();
    service = await accountDbService(serviceDb, (config) => (config.rectifiable = { ...config.rectifiable, fullName: { table: "users", column: "name" } }), db());
  });
  afterEach(async () => {
    await service?.stop();
    await serviceDb?.drop();
  });
  const adaRow = async () => (await service!.account.rows(ADA_ROW))[0];

  for (const [spelled, known] of [["Email", "email"], ["EMAIL", "email"], ["e_mail", "email"], ["NAME", "name"], ["full_name", "fullName"], ["FULLNAME", "fullName"]]) {
    it(`is BAD_USER_INPUT at submission naming the connector's spelling, storing nothing and changing nothing (${spelled})`, async () => {
      const { t } = service!;
      const before = [await adaRow(), await t.count("requests"), await t.count("audit_events")];
      const value = known === "email" ? NEW_ADDRESS : "Ada Byron";
      const input = { type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: NEW_NAME }, { field: spelled, value }], identityVerified: true, verificationEvidence: "signed-in session" };
      const res = await t.gql(SUBMIT, { input });
      expect(res.data?.submitRequest ?? null).to.equal(null);
      expect(res.errors!.map((e) => e.extensions.code)).to.deep.equal(["BAD_USER_INPUT"]);
      const fields = res.errors![0].extensions.fields as { field: string; messages: string[] }[];
      expect(fields.map((f) => f.field)).to.deep.equal(["corrections"]);
      // "name" and "NAME" are one field asked twice; every other spelling is named with account-db's own.
      const message = fields[0].messages.join(" | ");
      expect(message).to.satisfy((m: string) => m.includes(`account-db corrects this field as ${known};`) || (known === "name" && m.includes("once per request, in one spelling")), message);
      expect(JSON.stringify(res.errors), "echoes no value").not.to.include(value);
      expect([await adaRow(), await t.count("requests"), await t.count("audit_events")]).to.deep.equal(before);
    });
  }

  it("corrects the field under the connector's own spelling", async () => {
    const done = await service!.run({ type: "CORRECTION", subject: { email: ADA.email }, corrections: [{ field: "name", value: NEW_NAME }, { field: "email", value: NEW_ADDRESS }] }, `query($id: ID!) { request(id: $id) { status statusReason } }`);
    expect(done.status, done.statusReason).to.equal("COMPLETED");
    expect(await adaRow()).to.include({ email: NEW_ADDRESS, name: NEW_NAME });
  });

  // A request stored before the service refused these (or one a caller hands the connector directly):
  // the connector refuses it, not retried, rather than report the field held by no system.
  for (const [spelled, says] of [
    ["Email", "it corrects this field as email (users.email)"],
    ["FULL_NAME", "it corrects this field as fullName (users.name)"],
    ["CreatedAt", "it holds CreatedAt (users.created_at) but is not configured to correct it"],
  ]) {
    it(`is refused by the connector's rectify, not retried, writing nothing (${spelled})`, async () => {
      const before = await adaRow();
      const error = await service!.connector.rectify({ email: ADA.email }, [{ field: "name", value: NEW_NAME }, { field: spelled, value: "2020-01-01" }], testContext()).then(() => null, (e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectorError);
      expect((error as ConnectorError).retryable).to.equal(false);
      expect((error as ConnectorError).userMessage).to.include(says).and.include("the rectify changed nothing");
      expect(await adaRow()).to.deep.equal(before);
    });
  }
});
