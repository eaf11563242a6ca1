import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import type { TestService } from "../support/harness";
import { runVerified } from "../identity/support";
import { archiveTexts, download, exportLink } from "../export/support";
import { ADA, restConfig, RestStandIn } from "./support/restStandIn";
import { dateAda, restServiceHooks } from "./support/restService";

const SHOW = `query($id: ID!) { request(id: $id) { id status statusReason deletionOutcome { category erased kept matchesPlan } } }`;

/**
 * An API whose record fields hold integers past 2^53 as bare JSON numbers (an amount in micro-units, a
 * 64-bit reference): JSON.parse rounds 9007199254740993 to 9007199254740992. Her export showed a value
 * the system does not hold, and an ANONYMIZE by PUT (which sends the record back whole) wrote the rounded
 * value into the amount the bookkeeping keeps. Checked in the downloaded export and the system's store.
 */
describeEachDatabase("the declarative HTTP connector, with integers past 2^53 in record fields", (db) => {
  const hooks = restServiceHooks(db);
  let standIn: RestStandIn;
  let t: TestService;
  const EXACT = "9007199254740993";
  const ROUNDED = "9007199254740992";
  const NEGATIVE = "-12345678901234567891";
  beforeEach(() => {
    standIn = hooks.standIn();
    standIn.bareBigIntegers = true;
    // Held as digits, answered as bare numbers.
    (standIn.invoices[0] as any).amount = EXACT;
    (standIn.invoices[1] as any).amount = NEGATIVE;
  });

  it("hands her the exact digits in the downloaded export", async function () {
    this.timeout(60_000);
    t = await hooks.serviceOver(restConfig(standIn));
    const access = await runVerified(t, SHOW, "ACCESS", ADA.email);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    const { manifest, data } = await archiveTexts((await download((await exportLink(t, access.id)).url)).file!);
    expect(manifest.files.map((f) => f.path)).to.include("data/payments.json");
    expect(data).to.include(`"${EXACT}"`).and.to.include(`"${NEGATIVE}"`);
    expect(data).to.not.include(ROUNDED);
    // The amounts that fit a double stay numbers.
    expect(data).to.match(/"amount":\s*300\b/);
  });

  it("keeps the exact amount in the system when an ANONYMIZE by PUT sends the invoice back whole", async function () {
    this.timeout(60_000);
    dateAda(standIn, "old");
    const config = restConfig(standIn);
    const erase = config.resources[1].erase as any;
    erase.method = "PUT";
    t = await hooks.serviceOver(config);
    const deletion = await runVerified(t, SHOW, "DELETION", ADA.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const hers = standIn.invoices.filter((i) => i.user === 1);
    expect(hers.map((i) => i.billing_name)).to.deep.equal([null, null, null]);
    expect(hers.map((i) => String(i.amount))).to.deep.equal([EXACT, NEGATIVE, "300"]);
  });
});
