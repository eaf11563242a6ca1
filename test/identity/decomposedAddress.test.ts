import { expect } from "chai";
import { describeEachDatabase } from "../support/databases";
import { accountsFile, queryIn, runVerified, sampleSetup } from "./support";

const SHOW = `query($id: ID!) { request(id: $id) { status statusReason subject { emailNormalized }
  tasks { connector step status outcome { records erased identitiesFound } } } }`;
/** Renée's address as she types it (é one character, NFC), and as her account database stored it: e and a combining accent (NFD). */
const TYPED = "ren\u00e9e.sample@example.com";
const STORED = "rene\u0301e.sample@example.com";

/**
 * An address with an accent can be stored in either Unicode form: é as one character (NFC, what the
 * service compares in) or as e and a combining accent (NFD, what some input methods and systems
 * write). They are one address. The connectors asked the systems for the NFC spelling only, so a
 * person whose account database holds the NFD one was found nowhere: the request completed with none
 * of her data, and a deletion erased nothing. Checked against the systems' own data.
 */
describeEachDatabase("a subject whose address a system stored in decomposed Unicode", (db) => {
  const setup = sampleSetup(db, SHOW);

  it("finds her account, and through it everything of hers, for a request typed in the composed form, and erases it", async () => {
    expect(STORED.normalize("NFC")).to.equal(TYPED);
    const renee = setup.ws.people.find((p) => p.index > 3 && p.paymentCustomerId && p.ticketingUserId && p.status === "ACTIVE")!;
    await queryIn(accountsFile(setup.dir), `UPDATE users SET email = ? WHERE id = ?`, [STORED, renee.userId]);
    const ids = { email: TYPED, userId: renee.userId, paymentCustomerId: renee.paymentCustomerId, ticketingUserId: renee.ticketingUserId };
    const held = await setup.heldBy(ids);
    for (const [name, count] of Object.entries(held)) expect(count, `${name} holds records of hers`).to.be.greaterThan(0);

    const access = await runVerified(setup.t, SHOW, "ACCESS", TYPED);
    expect(access.status, access.statusReason).to.equal("COMPLETED");
    expect(access.subject.emailNormalized).to.equal(TYPED);
    const collected = Object.fromEntries(access.tasks.filter((x: any) => x.step === "COLLECT").map((x: any) => [x.connector, x.outcome?.records ?? null]));
    expect(collected, "records found for her").to.deep.equal(held);

    const deletion = await runVerified(setup.t, SHOW, "DELETION", TYPED);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    const after = await setup.heldBy(ids);
    expect(after["account-db"], "her account").to.equal(0);
    expect(after["auth-log"], "her auth log (90 days kept at most)").to.be.lessThan(held["auth-log"]);
  });
});
