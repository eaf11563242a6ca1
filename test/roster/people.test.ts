import { expect } from "chai";
import fs from "node:fs";
import type { RosterEntry } from "../../src/connectors/sdk";
import { addRecords, identityPairs, JoinLimits, PeopleIndex } from "../../src/roster/people";
import { prng } from "../support/operationFuzzer";
import { rosterRow } from "../../src/roster/rosterFile";

/** The people an index yields, as roster rows; the index is closed after. */
async function rows(index: PeopleIndex): Promise<string[][]> {
  try {
    const out: string[][] = [];
    for await (const person of index.breachedPeople()) out.push(rosterRow(person));
    return out;
  } finally {
    await index.close();
  }
}

describe("breach roster: joining systems' entries into people", () => {
  it("joins entries that share an identity, across systems, and counts each system's records once per person", async () => {
    const index = new PeopleIndex();
    index.add("auth-log", { identities: { userId: "7" }, records: 40 }, true);
    index.add("payments", { identities: { paymentCustomerId: "cus_1", email: "ada@example.com" }, records: 4 }, true);
    index.add("account-db", { identities: { email: "ada@example.com", userId: "7", paymentCustomerId: "cus_1" }, records: 5 }, false);
    index.add("auth-log", { identities: { userId: "8" }, records: 2 }, true);
    expect(await rows(index)).to.have.deep.members([
      ["ada@example.com", "", "paymentCustomerId=cus_1; userId=7", "auth-log; payments", "44"],
      ["", "", "userId=8", "auth-log", "2"],
    ]);
  });

  it("merges two people a later entry shows to be one, keeping both systems' counts", async () => {
    const entries: Array<[string, RosterEntry, boolean]> = [
      ["auth-log", { identities: { userId: "7" }, records: 40 }, true],
      ["ticketing", { identities: { ticketingUserId: "900", email: "ada@example.com" }, records: 3 }, true],
      ["helpdesk", { identities: { email: "grace@example.com" } }, true],
    ];
    const before = new PeopleIndex();
    for (const e of entries) before.add(...e);
    expect(await rows(before)).to.have.length(3);
    // The account database knows user 7 is ticketing user 900: one person, not two.
    const after = new PeopleIndex();
    for (const e of [...entries, ["account-db", { identities: { userId: "7", ticketingUserId: "900", email: "ada@example.com" } }, false] as [string, RosterEntry, boolean]]) after.add(...e);
    expect(await rows(after)).to.have.deep.members([
      ["ada@example.com", "", "ticketingUserId=900; userId=7", "auth-log; ticketing", "43"],
      // A system that does not count leaves the person's total unknown (empty), never a guess.
      ["grace@example.com", "", "", "helpdesk", ""],
    ]);
  });

  it("joins through every value of a kind a system holds a person by (two user ids under one address)", async () => {
    const index = new PeopleIndex();
    index.add("auth-log", { identities: { userId: "10" }, records: 3 }, true);
    index.add("auth-log", { identities: { userId: "7" }, records: 2 }, true);
    index.add("account-db", { identities: { email: "bjorn@bücher.de", userId: "7" }, moreIdentities: { userId: ["10"] } }, false);
    expect(await rows(index)).to.deep.equal([["bjorn@bücher.de", "", "userId=10; userId=7", "auth-log", "5"]]);
  });

  it("lists only people a breached system holds: those known only to identity sources are not in the roster", async () => {
    const index = new PeopleIndex();
    index.add("account-db", { identities: { email: "bystander@example.com", userId: "9" } }, false);
    index.add("auth-log", { identities: { userId: "7" }, records: 1 }, true);
    expect(await rows(index)).to.deep.equal([["", "", "userId=7", "auth-log", "1"]]);
  });

  it("ignores identities that are empty or not text", async () => {
    const index = new PeopleIndex();
    index.add("crm", { identities: { email: "", userId: undefined as unknown as string } }, true);
    index.add("crm", { identities: { email: "ada@example.com", phone: 42 as unknown as string } }, true);
    expect(await rows(index)).to.deep.equal([["ada@example.com", "", "", "crm", ""]]);
  });
});

/**
 * The disk-backed join against a plain one (connected components by search over the entries), on seeded
 * random entries, with limits so small that every path runs: pairs and people over many partitions,
 * each in an encrypted file. `DSR_TEST_ROSTER_SEED=<n>` replays one seed.
 */
describe("breach roster: the join on disk agrees with the plain one", () => {
  const SEEDS = process.env.DSR_TEST_ROSTER_SEED ? [Number(process.env.DSR_TEST_ROSTER_SEED)] : [1, 2, 3, 4, 5, 6, 7, 8].map((i) => (Date.now() + i * 7919) >>> 0);
  const tiny: JoinLimits = { pairPartitions: 5, entriesPerPartition: 7, maxEntryPartitions: 4, partitionMemoryBytes: 64 };
  const KINDS = ["email", "userId", "phone", "paymentCustomerId"];
  const SYSTEMS = ["auth-log", "payments", "ticketing", "account-db"];

  function randomEntries(seed: number): Array<[string, RosterEntry, boolean]> {
    const random = prng(seed);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
    const out: Array<[string, RosterEntry, boolean]> = [];
    for (let i = 0, n = 30 + Math.floor(random() * 120); i < n; i += 1) {
      const identities: Record<string, string> = {};
      for (const kind of KINDS) if (random() < 0.45) identities[kind] = `${kind === "email" ? "Zoë." : ""}${Math.floor(random() * 40)}${kind === "email" ? "@bücher.de" : ""}`;
      const more = random() < 0.2 ? { userId: [String(Math.floor(random() * 40)), String(Math.floor(random() * 40))] } : undefined;
      const system = pick(SYSTEMS);
      const records = random() < 0.2 ? undefined : Math.floor(random() * 50);
      out.push([system, { identities, ...(more ? { moreIdentities: more } : {}), ...(records === undefined ? {} : { records }) }, system !== "account-db"]);
    }
    return out;
  }

  /** The plain join: entries sharing an identity, found by search; the rows sorted. */
  function plainRows(entries: Array<[string, RosterEntry, boolean]>): string[] {
    const pairsOf = entries.map(([, entry]) => identityPairs(entry).map(([k, v]) => `${k}=${v}`));
    const holders = new Map<string, number[]>();
    pairsOf.forEach((pairs, i) => pairs.forEach((p) => holders.set(p, [...(holders.get(p) ?? []), i])));
    const seen = new Set<number>();
    const out: string[] = [];
    for (let start = 0; start < entries.length; start += 1) {
      if (seen.has(start) || !pairsOf[start].length) continue;
      const component: number[] = [];
      for (const stack = [start]; stack.length; ) {
        const i = stack.pop()!;
        if (seen.has(i)) continue;
        seen.add(i);
        component.push(i);
        for (const p of pairsOf[i]) stack.push(...holders.get(p)!);
      }
      const identities = new Map<string, string[]>();
      const heldBy = new Map<string, number | null>();
      for (const i of component) {
        for (const p of new Set(pairsOf[i])) {
          const [kind, value] = [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)];
          if (!(identities.get(kind) ?? []).includes(value)) identities.set(kind, [...(identities.get(kind) ?? []), value]);
        }
        const [system, entry, breached] = entries[i];
        if (breached) heldBy.set(system, heldBy.has(system) ? addRecords(heldBy.get(system)!, entry.records ?? null) : (entry.records ?? null));
      }
      if (!heldBy.size) continue;
      for (const values of identities.values()) values.sort();
      const sorted = new Map([...identities].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      out.push(JSON.stringify(rosterRow({ identities: sorted, heldBy, listedBy: new Set() })));
    }
    return out.sort();
  }

  for (const seed of SEEDS) {
    it(`joins the same people, keeps its files encrypted, and leaves none behind (seed ${seed})`, async () => {
      const entries = randomEntries(seed);
      const index = new PeopleIndex(tiny);
      for (const e of entries) index.add(...e);
      const dir = index.tempDir;
      expect(dir, `seed ${seed}: the tiny limits put the join on disk`).to.be.a("string");
      const files = fs.readdirSync(dir!, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      expect(files.length, `seed ${seed}`).to.be.greaterThan(1);
      for (const f of files) {
        const bytes = fs.readFileSync(`${f.parentPath}/${f.name}`);
        // Values of 6 characters or more: a shorter one quoted (`"9"`, 3 bytes) turns up in a file's random
        // ciphertext by chance (it did, once in a CI run: "9 in plain text"), which proves nothing.
        for (const [, entry] of entries) for (const [, value] of identityPairs(entry)) if (value.length >= 6) expect(bytes.includes(Buffer.from(`"${value}"`)), `seed ${seed}: ${value} in plain text`).to.equal(false);
      }
      const joined = (await rows(index)).map((r) => JSON.stringify(r)).sort();
      expect(joined, `seed ${seed}`).to.deep.equal(plainRows(entries));
      expect(fs.existsSync(dir!), `seed ${seed}: the join's folder is removed`).to.equal(false);
    });
  }

  it("removes its files when it is closed before they are read", async () => {
    const index = new PeopleIndex(tiny);
    for (const e of randomEntries(42)) index.add(...e);
    const dir = index.tempDir!;
    expect(fs.existsSync(dir)).to.equal(true);
    await index.close();
    expect(fs.existsSync(dir)).to.equal(false);
    expect(() => index.add("crm", { identities: { email: "late@example.com" } }, true)).to.throw(/already read/);
  });

  it("keeps a small roster in memory: no folder, no file", async () => {
    const index = new PeopleIndex();
    for (const e of randomEntries(7)) index.add(...e);
    expect(index.tempDir).to.equal(null);
    expect((await rows(index)).length).to.be.greaterThan(0);
  });
});
