import fs from "node:fs";
import path from "node:path";
import { StringDecoder } from "node:string_decoder";
import { setImmediate as yieldTurn } from "node:timers/promises";
import type { RosterEntry } from "../connectors/sdk";
import { privateTempDir } from "../tempDirs";
import { readSpill, SpillRef, SpillWriter } from "../export/spill";

/** One person of a roster, once every entry naming them was joined (made as it is read: nothing keeps it). */
export interface RosterPerson {
  /** Identity kind -> the values systems hold them by (kinds and values sorted). */
  identities: ReadonlyMap<string, readonly string[]>;
  /** Breached system -> records it holds about them (null: it did not count them). */
  heldBy: ReadonlyMap<string, number | null>;
  /** Every system that listed them, breached or consulted for contact addresses. */
  listedBy: ReadonlySet<string>;
}

/** How the join divides its work (tests make them small, to run every path on a few entries). */
export interface JoinLimits {
  /** Files the (identity, entry) pairs are spread over by a hash of the identity: each is read whole, alone. */
  pairPartitions: number;
  /** About how many entries one group of people is joined from, in memory, at a time. */
  entriesPerPartition: number;
  /** The most partitions of entries (each a file open while they are written). */
  maxEntryPartitions: number;
  /** Bytes a partition keeps in memory before it goes to an encrypted file. */
  partitionMemoryBytes: number;
}

/**
 * Sized so that the join's memory does not grow with the roster. Measured with bench/roster.ts (see
 * README, Benchmarks): pairs of 64 partitions, about 50,000 entries' people in memory at a time.
 */
export const JOIN_LIMITS: JoinLimits = { pairPartitions: 64, entriesPerPartition: 50_000, maxEntryPartitions: 128, partitionMemoryBytes: 64 * 1024 };

/** Bytes a buffered writer gathers (at most) before it hands them to its spill (one cipher update and one write). */
const FLUSH_BYTES = 64 * 1024;
/** Lines read between two turns of the event loop. */
const LINES_PER_TURN = 2_000;

/**
 * Joins the entries systems list into people: entries that share any identity (kind and value) are one
 * person, whichever systems listed them, so an auth log's `{ userId }` meets the account database's
 * `{ email, userId }` and the person is reached at that email. The same rule as the identity graph of a
 * request, which finds a person's records in every system through the identities one system provides.
 *
 * A roster may hold every user of a platform (millions), so the join keeps on disk what grows with it,
 * encrypted (SpillWriter: AES-256-GCM under keys that live only in memory), and holds in memory only
 * 4 bytes an entry (the union-find over entries) and one partition at a time:
 * 1. `add` numbers each entry and appends it to the entries spill; each of its identities goes, with the
 *    entry's number, to one of `pairPartitions` spills chosen by a hash of the identity.
 * 2. Each pair partition in turn: the first entry holding an identity is joined with every later one
 *    holding it (exact text, no digests: two people never merge on a collision).
 * 3. The entries spill is read once and each entry written to the partition of its person (its root).
 * 4. Each entry partition in turn is grouped into people, and those a breached system holds are yielded.
 * Small rosters never leave memory (each spill stays in memory up to `partitionMemoryBytes`).
 */
export class PeopleIndex {
  private readonly connectors: string[] = [];
  private parent = new Int32Array(1024);
  private entries = 0;
  private root: string | null = null;
  private readonly entriesSpill: BufferedSpill;
  private readonly pairs: BufferedSpill[];
  private groups: BufferedSpill[] = [];
  private consumed = false;

  constructor(private readonly limits: JoinLimits = JOIN_LIMITS) {
    this.entriesSpill = this.spill(16 * limits.partitionMemoryBytes);
    this.pairs = Array.from({ length: limits.pairPartitions }, () => this.spill(limits.partitionMemoryBytes));
  }

  /** The private folder the join's files go to (made on first need); null until then. */
  get tempDir(): string | null {
    return this.root;
  }

  /** Adds one system's entry; `breached`: the system's data is in the breach (its records count). */
  add(connector: string, entry: RosterEntry, breached: boolean): void {
    if (this.consumed) throw new Error("the roster's people were already read");
    const pairs = identityPairs(entry);
    if (!pairs.length) return;
    let c = this.connectors.indexOf(connector);
    if (c < 0) c = this.connectors.push(connector) - 1;
    const e = this.entries++;
    if (e >= this.parent.length) {
      const grown = new Int32Array(this.parent.length * 2);
      grown.set(this.parent);
      this.parent = grown;
    }
    this.parent[e] = e;
    const flat: Array<string | number | null> = [c, breached ? 1 : 0, breached ? (entry.records ?? null) : null];
    for (const [kind, value] of pairs) {
      flat.push(kind, value);
      const key = `${kind}\u0000${value}`;
      this.pairs[stringHash(key) % this.pairs.length].write(`${JSON.stringify([key, e])}\n`);
    }
    this.entriesSpill.write(`${JSON.stringify(flat)}\n`);
  }

  /**
   * Everyone a breached system holds, each once (in no particular order). Reads the index once: it
   * cannot be added to or read again after. Its files are removed as they are read, and by `close`.
   */
  async *breachedPeople(): AsyncGenerator<RosterPerson> {
    if (this.consumed) throw new Error("the roster's people were already read");
    this.consumed = true;
    // 2. Join the entries that share an identity, one pair partition at a time.
    for (const partition of this.pairs) {
      const first = new Map<string, number>();
      for await (const line of lines(partition.finish())) {
        const [key, e] = JSON.parse(line) as [string, number];
        const seen = first.get(key);
        if (seen === undefined) first.set(key, e);
        else this.union(seen, e);
      }
    }
    // 3. Each entry to its person's partition.
    const count = Math.min(this.limits.maxEntryPartitions, Math.max(1, Math.ceil(this.entries / this.limits.entriesPerPartition)));
    const groups = (this.groups = Array.from({ length: count }, () => this.spill(this.limits.partitionMemoryBytes)));
    let e = 0;
    for await (const line of lines(this.entriesSpill.finish())) {
      const root = this.find(e++);
      groups[root % count].write(`${root}\t${line}\n`);
    }
    // 4. People, one partition at a time.
    for (const group of groups) {
      const people = new Map<number, Person>();
      for await (const line of lines(group.finish())) {
        const tab = line.indexOf("\t");
        const root = Number(line.slice(0, tab));
        const [c, breached, records, ...flat] = JSON.parse(line.slice(tab + 1)) as [number, 0 | 1, number | null, ...string[]];
        let person = people.get(root);
        if (!person) people.set(root, (person = { ids: [], held: [], listedBy: [] }));
        for (let i = 0; i < flat.length; i += 2) if (!holds(person.ids, flat[i], flat[i + 1])) person.ids.push(flat[i], flat[i + 1]);
        const connector = this.connectors[c];
        if (!person.listedBy.includes(connector)) person.listedBy.push(connector);
        if (breached) hold(person, connector, records);
      }
      for (const p of people.values()) if (p.held.length) yield rosterPerson(p);
    }
  }

  /** Removes the join's files (whatever was read or not). */
  async close(): Promise<void> {
    this.consumed = true;
    for (const spill of [this.entriesSpill, ...this.pairs, ...this.groups]) spill.discard();
    if (this.root) await fs.promises.rm(this.root, { recursive: true, force: true });
  }

  private spill(memoryBytes: number): BufferedSpill {
    return new BufferedSpill(new SpillWriter(() => fs.mkdtempSync(path.join((this.root ??= privateTempDir("roster")), "p")), memoryBytes), Math.min(FLUSH_BYTES, memoryBytes));
  }

  private find(at: number): number {
    let r = at;
    while (this.parent[r] !== r) r = this.parent[r];
    // Path compression: point every step straight at the root.
    for (let j = at; this.parent[j] !== r; ) {
      const next = this.parent[j];
      this.parent[j] = r;
      j = next;
    }
    return r;
  }

  /** One person: the root is the entry listed first. */
  private union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra < rb) this.parent[rb] = ra;
    else if (rb < ra) this.parent[ra] = rb;
  }
}

/**
 * A person as a partition gathers them, compact: their identities as a flat list (kind, value, kind,
 * value...), the breached systems holding them with their records, and the systems that listed them.
 * Arrays, not maps: a person has a handful of each.
 */
interface Person {
  ids: string[];
  held: Array<[connector: string, records: number | null]>;
  listedBy: string[];
}

function rosterPerson(p: Person): RosterPerson {
  const identities = new Map<string, string[]>();
  for (let i = 0; i < p.ids.length; i += 2) identities.set(p.ids[i], [...(identities.get(p.ids[i]) ?? []), p.ids[i + 1]]);
  for (const values of identities.values()) values.sort();
  return { identities: new Map([...identities].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), heldBy: new Map(p.held), listedBy: new Set(p.listedBy) };
}

/** Whether `ids` (kind, value pairs) holds the pair. */
function holds(ids: readonly string[], kind: string, value: string): boolean {
  for (let i = 0; i < ids.length; i += 2) if (ids[i] === kind && ids[i + 1] === value) return true;
  return false;
}

/** FNV-1a over the string's UTF-16 code units: spreads identities over the pair partitions. */
function stringHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A spill written a line at a time: lines are gathered and handed on `flushBytes` at a time. */
class BufferedSpill {
  private parts: string[] = [];
  private bytes = 0;

  constructor(
    private readonly writer: SpillWriter,
    private readonly flushBytes: number,
  ) {}

  write(text: string): void {
    this.parts.push(text);
    this.bytes += text.length;
    if (this.bytes >= this.flushBytes) this.flush();
  }

  /** Ends writing; what it returns reads the lines back once. */
  finish(): SpillRef {
    this.flush();
    return this.writer.finish();
  }

  discard(): void {
    this.parts = [];
    this.writer.discard();
  }

  private flush(): void {
    if (!this.parts.length) return;
    this.writer.write(this.parts.join(""));
    this.parts = [];
    this.bytes = 0;
  }
}

/** A finished spill's lines, decoded across chunk boundaries, with the event loop's turn now and then. */
async function* lines(ref: SpillRef): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  let n = 0;
  for await (const chunk of readSpill(ref)) {
    const text = rest + decoder.write(chunk as Buffer);
    let at = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", at)) {
      yield text.slice(at, nl);
      at = nl + 1;
      if (++n % LINES_PER_TURN === 0) await yieldTurn();
    }
    rest = text.slice(at);
  }
  rest += decoder.end();
  if (rest) throw new Error("a roster spill ended in the middle of a line");
  // Read once: its file goes now, not with the rest at the end.
  if ("dir" in ref) await fs.promises.rm(ref.dir, { recursive: true, force: true });
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
