import type { RosterEntry } from "../connectors/sdk";

/** One person of a roster, once every entry naming them was joined. */
export interface RosterPerson {
  /** Identity kind -> the values systems hold them by (sorted). */
  identities: ReadonlyMap<string, readonly string[]>;
  /** Breached system -> records it holds about them (null: it did not count them). */
  heldBy: ReadonlyMap<string, number | null>;
  /** Every system that listed them, breached or consulted for contact addresses. */
  listedBy: ReadonlySet<string>;
}

interface Person {
  identities: Map<string, Set<string>>;
  heldBy: Map<string, number | null>;
  listedBy: Set<string>;
}

const keyOf = (kind: string, value: string) => `${kind}\u0000${value}`;

/**
 * Joins the entries systems list into people: entries that share any identity (kind and value) are one
 * person, whichever systems listed them, so an auth log's `{ userId }` meets the account database's
 * `{ email, userId }` and the person is reached at that email. The same rule as the identity graph of a
 * request, which finds a person's records in every system through the identities one system provides.
 *
 * Memory: one map entry per distinct identity and one object per person, for every system listed
 * (about 200 bytes a person with three identities): a million people cost some 200 MB.
 */
export class PeopleIndex {
  /** Union-find over people: a joined person points at the one it was merged into. */
  private readonly people: Array<Person | number> = [];
  private readonly byIdentity = new Map<string, number>();

  /** Adds one system's entry; `breached`: the system's data is in the breach (its records count). */
  add(connector: string, entry: RosterEntry, breached: boolean): void {
    const ids = Object.entries(entry.identities).filter((pair): pair is [string, string] => typeof pair[1] === "string" && pair[1].length > 0);
    if (!ids.length) return;
    const found = new Set<number>();
    for (const [kind, value] of ids) {
      const at = this.byIdentity.get(keyOf(kind, value));
      if (at !== undefined) found.add(this.root(at));
    }
    let at: number;
    if (!found.size) {
      at = this.people.push({ identities: new Map(), heldBy: new Map(), listedBy: new Set() }) - 1;
    } else {
      at = this.join([...found]);
    }
    const person = this.people[at] as Person;
    for (const [kind, value] of ids) {
      this.byIdentity.set(keyOf(kind, value), at);
      let values = person.identities.get(kind);
      if (!values) person.identities.set(kind, (values = new Set()));
      values.add(value);
    }
    person.listedBy.add(connector);
    if (breached) person.heldBy.set(connector, addCounts(person.heldBy.get(connector), entry.records));
  }

  /** Everyone a breached system holds, each once. */
  *breachedPeople(): Generator<RosterPerson> {
    for (const p of this.people) {
      if (typeof p === "number" || !p.heldBy.size) continue;
      const identities = new Map([...p.identities].sort(([a], [b]) => a.localeCompare(b)).map(([kind, values]) => [kind, [...values].sort()] as const));
      yield { identities, heldBy: p.heldBy, listedBy: p.listedBy };
    }
  }

  private root(at: number): number {
    let i = at;
    while (typeof this.people[i] === "number") i = this.people[i] as number;
    // Path compression: point every step straight at the root.
    for (let j = at; typeof this.people[j] === "number"; ) {
      const next = this.people[j] as number;
      this.people[j] = i;
      j = next;
    }
    return i;
  }

  /** Merges the people at `roots` into the one with the most identities; returns it. */
  private join(roots: number[]): number {
    const size = (i: number) => (this.people[i] as Person).identities.size;
    const [into, ...others] = roots.sort((a, b) => size(b) - size(a));
    const target = this.people[into] as Person;
    for (const other of others) {
      const p = this.people[other] as Person;
      for (const [kind, values] of p.identities) {
        const set = target.identities.get(kind) ?? new Set<string>();
        for (const v of values) set.add(v);
        target.identities.set(kind, set);
      }
      for (const [connector, records] of p.heldBy) target.heldBy.set(connector, addCounts(target.heldBy.get(connector), records));
      for (const c of p.listedBy) target.listedBy.add(c);
      this.people[other] = into;
    }
    return into;
  }
}

/** Adds records to what a system holds of a person so far (undefined: nothing yet); an unknown count (null, undefined records) makes the sum unknown. */
function addCounts(held: number | null | undefined, records: number | null | undefined): number | null {
  if (records === undefined || records === null || held === null) return null;
  return (held ?? 0) + records;
}
