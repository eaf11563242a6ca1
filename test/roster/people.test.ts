import { expect } from "chai";
import { PeopleIndex } from "../../src/roster/people";
import { rosterRow } from "../../src/roster/rosterFile";

const rows = (index: PeopleIndex) => [...index.breachedPeople()].map(rosterRow);

describe("breach roster: joining systems' entries into people", () => {
  it("joins entries that share an identity, across systems, and counts each system's records once per person", () => {
    const index = new PeopleIndex();
    index.add("auth-log", { identities: { userId: "7" }, records: 40 }, true);
    index.add("payments", { identities: { paymentCustomerId: "cus_1", email: "ada@example.com" }, records: 4 }, true);
    index.add("account-db", { identities: { email: "ada@example.com", userId: "7", paymentCustomerId: "cus_1" }, records: 5 }, false);
    index.add("auth-log", { identities: { userId: "8" }, records: 2 }, true);
    expect(rows(index)).to.have.deep.members([
      ["ada@example.com", "", "paymentCustomerId=cus_1; userId=7", "auth-log; payments", "44"],
      ["", "", "userId=8", "auth-log", "2"],
    ]);
  });

  it("merges two people a later entry shows to be one, keeping both systems' counts", () => {
    const index = new PeopleIndex();
    index.add("auth-log", { identities: { userId: "7" }, records: 40 }, true);
    index.add("ticketing", { identities: { ticketingUserId: "900", email: "ada@example.com" }, records: 3 }, true);
    index.add("helpdesk", { identities: { email: "grace@example.com" } }, true);
    expect(rows(index)).to.have.length(3);
    // The account database knows user 7 is ticketing user 900: one person, not two.
    index.add("account-db", { identities: { userId: "7", ticketingUserId: "900", email: "ada@example.com" } }, false);
    expect(rows(index)).to.have.deep.members([
      ["ada@example.com", "", "ticketingUserId=900; userId=7", "auth-log; ticketing", "43"],
      // A system that does not count leaves the person's total unknown (empty), never a guess.
      ["grace@example.com", "", "", "helpdesk", ""],
    ]);
  });

  it("joins through every value of a kind a system holds a person by (two user ids under one address)", () => {
    const index = new PeopleIndex();
    index.add("auth-log", { identities: { userId: "10" }, records: 3 }, true);
    index.add("auth-log", { identities: { userId: "7" }, records: 2 }, true);
    index.add("account-db", { identities: { email: "bjorn@bücher.de", userId: "7" }, moreIdentities: { userId: ["10"] } }, false);
    expect(rows(index)).to.deep.equal([["bjorn@bücher.de", "", "userId=10; userId=7", "auth-log", "5"]]);
  });

  it("lists only people a breached system holds: those known only to identity sources are not in the roster", () => {
    const index = new PeopleIndex();
    index.add("account-db", { identities: { email: "bystander@example.com", userId: "9" } }, false);
    index.add("auth-log", { identities: { userId: "7" }, records: 1 }, true);
    expect(rows(index)).to.deep.equal([["", "", "userId=7", "auth-log", "1"]]);
  });

  it("ignores identities that are empty or not text", () => {
    const index = new PeopleIndex();
    index.add("crm", { identities: { email: "", userId: undefined as unknown as string } }, true);
    index.add("crm", { identities: { email: "ada@example.com", phone: 42 as unknown as string } }, true);
    expect(rows(index)).to.deep.equal([["ada@example.com", "", "", "crm", ""]]);
  });
});
