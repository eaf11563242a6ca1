import { expect } from "chai";
import { createHttpConnector } from "../../src/connectors/http";
import { normalizeEmail } from "../../src/connectors/sdk";
import { collectAll, testContext } from "../../src/connectors/testing/conformance";
import { REST_TOKEN, restConfig, RestStandIn } from "./support/restStandIn";

const ENV = { REST_TEST_TOKEN: REST_TOKEN };

/**
 * The HTTP connector asks a search that answered an address as it was asked for that address again in
 * other case, to learn whether the search ignores case. A letter whose other case does not lead back
 * to it (`ß` upper-cases to `SS`, the Turkish dotless `ı` to `I`, whose lower case is `i`) made that a
 * question about another address: a search that ignores case (the stand-in's, comparing lower case)
 * answered nothing to `GRETE.STRASSE@…` or `IVAN.PETROV@…` (or another Ivan), and Grete's and Ivan's
 * access and deletion failed with HTTP_SEARCH_MATCHES_CASE, their accounts read by neither. Asked of
 * the stand-in; the other Ivan's account stays.
 */
describe("the HTTP connector's probe of a search's case, for an address with ß or a dotless ı", function () {
  this.timeout(30_000);
  let standIn: RestStandIn;
  beforeEach(async () => {
    standIn = await new RestStandIn().start();
    standIn.users.push({ id: 21, email: "grete.straße@example.com", name: "Grete" }, { id: 22, email: "ıvan.petrov@example.com", name: "Ivan" }, { id: 23, email: "ivan.petrov@example.com", name: "Another Ivan" });
  });
  afterEach(async () => {
    await standIn.stop();
  });

  for (const [address, name, id] of [
    ["grete.straße@example.com", "Grete", 21],
    ["ıvan.petrov@example.com", "Ivan", 22],
  ] as const) {
    it(`collects and erases ${name}'s account through a search that ignores case`, async () => {
      const connector = createHttpConnector(restConfig(standIn), ENV);
      try {
        const records = await collectAll(connector, { email: normalizeEmail(address) });
        expect(records.filter((r) => r.type === "account").map((r) => r.data.name)).to.deep.equal([name]);
        await connector.erase!({ email: normalizeEmail(address) }, { categories: ["ACCOUNT", "SUPPORT"] }, testContext());
        expect(standIn.users.map((u) => u.id)).to.not.include(id);
        expect(standIn.users.map((u) => u.id)).to.include.members([1, 2, 3, 4, 23]);
      } finally {
        await connector.close();
      }
    });
  }
});
