import type { RosterEntry } from "../connectors/sdk";

/** One person of a roster, once every entry naming them was joined (made as it is read: nothing keeps it). */
export interface RosterPerson {
  /** Identity kind -> the values systems hold them by (kinds and values sorted). */
  identities: ReadonlyMap<string, readonly string[]>;
  /** Breached system -> records it holds about them (null: it did not count them). */
  heldBy: ReadonlyMap<string, number | null>;
  /** Every system that listed them, breached or consulted for contact addresses. */
  listedBy: ReadonlySet<string>;
}

/**
 * A person as the index keeps them, compact (a roster may hold millions): their identities as a flat
 * list (kind, value, kind, value...: the value strings the index's maps hold), the breached systems
 * holding them with their records, and the systems that listed them. Arrays, not maps: a person has a
 * handful of each.
 */
interface Person {
  ids: string[];
  held: Array<[connector: string, records: number | null]>;
  listedBy: string[];
}

/** Whether `ids` (kind, value pairs) holds the pair. */
function holds(ids: readonly string[], kind: string, value: string): boolean {
  for (let i = 0; i < ids.length; i += 2) if (ids[i] === kind && ids[i + 1] === value) return true;
  return false;
}

/**
 * Joins the entries systems list into people: entries that share any identity (kind and value) are one
 * person, whichever systems listed them, so an auth log's `{ userId }` meets the account database's
 * `{ email, userId }` and the person is reached at that email. The same rule as the identity graph of a
 * request, which finds a person's records in every system through the identities one system provides.
 *
 * Memory: one map entry per distinct identity and a small object per person, for every system listed:
 * about 1.1 KB a person with five identities (100,000 people: 109 MB of heap), as bench/roster.ts shows
 * end to end.
 */
export class PeopleIndex {
  /** Union-find over people: a joined person points at the one it was merged into. */
  private readonly people: Array<Person | number> = [];
  /** Kind -> value -> the person holding it (a map per kind: no combined key strings to keep). */
  private readonly byIdentity = new Map<string, Map<string, number>>();

  /** Adds one system's entry; `breached`: the system's data is in the breach (its records count). */
  add(connector: string, entry: RosterEntry, breached: boolean): void {
    const pairs = identityPairs(entry);
    if (!pairs.length) return;
    const found = new Set<number>();
    for (const [kind, value] of pairs) {
      const at = this.byIdentity.get(kind)?.get(value);
      if (at !== undefined) found.add(this.root(at));
    }
    const at = found.size ? this.join([...found]) : this.people.push({ ids: [], held: [], listedBy: [] }) - 1;
    const person = this.people[at] as Person;
    for (const [kind, value] of pairs) {
      let values = this.byIdentity.get(kind);
      if (!values) this.byIdentity.set(kind, (values = new Map()));
      if (values.get(value) === at) continue;
      if (!holds(person.ids, kind, value)) person.ids.push(kind, value);
      values.set(value, at);
    }
    if (!person.listedBy.includes(connector)) person.listedBy.push(connector);
    if (breached) hold(person, connector, entry.records ?? null);
  }

  /** Everyone a breached system holds, each once, in the order they were first listed. */
  *breachedPeople(): Generator<RosterPerson> {
    for (const p of this.people) {
      if (typeof p === "number" || !p.held.length) continue;
      const identities = new Map<string, string[]>();
      for (let i = 0; i < p.ids.length; i += 2) identities.set(p.ids[i], [...(identities.get(p.ids[i]) ?? []), p.ids[i + 1]]);
      for (const values of identities.values()) values.sort();
      yield { identities: new Map([...identities].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), heldBy: new Map(p.held), listedBy: new Set(p.listedBy) };
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
    const size = (i: number) => (this.people[i] as Person).ids.length;
    const [into, ...others] = roots.sort((a, b) => size(b) - size(a));
    const target = this.people[into] as Person;
    for (const other of others) {
      const p = this.people[other] as Person;
      for (let i = 0; i < p.ids.length; i += 2) if (!holds(target.ids, p.ids[i], p.ids[i + 1])) target.ids.push(p.ids[i], p.ids[i + 1]);
      for (const [connector, records] of p.held) hold(target, connector, records);
      for (const c of p.listedBy) if (!target.listedBy.includes(c)) target.listedBy.push(c);
      this.people[other] = into;
    }
    return into;
  }
}

/** An entry's identities and more identities as (kind, value) pairs: text values only, not empty. */
export function identityPairs(entry: RosterEntry): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const take = (kind: string, value: unknown) => typeof value === "string" && value.length > 0 && pairs.push([kind, value]);
  for (const [kind, value] of Object.entries(entry.identities)) take(kind, value);
  for (const [kind, values] of Object.entries(entry.moreIdentities ?? {})) if (Array.isArray(values)) for (const value of values) take(kind, value);
  return pairs;
}

/** Two record counts added: an unknown count (null) makes the sum unknown, never a guess. */
export const addRecords = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a + b);

/** Adds records a breached system holds of a person to what it held so far. */
function hold(person: Person, connector: string, records: number | null): void {
  const held = person.held.find(([c]) => c === connector);
  if (!held) person.held.push([connector, records]);
  else held[1] = addRecords(held[1], records);
}
