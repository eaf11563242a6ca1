import type { LeftOutRecords, NotSearchedRecords } from "../connectors/sdk";

/** At most this many distinct sets of each kind are kept per task: reasons are a connector's few fixed sentences. */
const MAX_SETS = 20;

/** A connector's set as stored: category, type and reason cut to the columns' sizes. */
const clipped = <T extends { category: unknown; type: unknown; reason: unknown }>(set: T) => ({
  category: String(set.category).slice(0, 40),
  type: String(set.type).slice(0, 64),
  reason: String(set.reason).slice(0, 300),
});
const keyOf = (set: { category: string; type: string; reason: string }) => `${set.category}\u0000${set.type}\u0000${set.reason}`;

/**
 * What a COLLECT said about the records it did not hand over: sets left out as other people's data
 * (added up per category, type and reason) and kinds it could not search for (each once).
 */
export class CollectNotes {
  private readonly left = new Map<string, LeftOutRecords>();
  private readonly unsearched = new Map<string, NotSearchedRecords>();

  leftOut(set: LeftOutRecords): void {
    const count = Math.floor(Number(set.count));
    if (!(count > 0)) return;
    const entry = { ...clipped(set), count };
    const key = keyOf(entry);
    const known = this.left.get(key);
    if (known) known.count += count;
    else if (this.left.size < MAX_SETS) this.left.set(key, entry);
  }

  notSearched(set: NotSearchedRecords): void {
    const entry = clipped(set);
    if (this.unsearched.size < MAX_SETS && !this.unsearched.has(keyOf(entry))) this.unsearched.set(keyOf(entry), entry);
  }

  /** The context functions a connector calls. */
  get reporters(): { leftOut: (set: LeftOutRecords) => void; notSearched: (set: NotSearchedRecords) => void } {
    return { leftOut: (set) => this.leftOut(set), notSearched: (set) => this.notSearched(set) };
  }

  /** The task result's fields, each only when there is something to say. */
  result(): { leftOut?: LeftOutRecords[]; notSearched?: NotSearchedRecords[] } {
    return { ...(this.left.size ? { leftOut: [...this.left.values()] } : {}), ...(this.unsearched.size ? { notSearched: [...this.unsearched.values()] } : {}) };
  }
}
