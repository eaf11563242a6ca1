import type { DataCategory, KeptRecords } from "./sdk";

/**
 * Record sets an erasure kept under retention, one entry per category and kind of record however
 * many places kept them (a ticket's comments, two accounts of one person), as ErasureOutcome.kept
 * reports them: their count and the newest one's date.
 */
export class KeptTally {
  private readonly sets = new Map<string, KeptRecords>();

  add(category: DataCategory, type: string, count: number, at: Date): void {
    if (count <= 0) return;
    const key = `${category}\n${type}`;
    const set = this.sets.get(key) ?? { category, type, count: 0, newestRecordedAt: at };
    set.count += count;
    if (at > set.newestRecordedAt) set.newestRecordedAt = at;
    this.sets.set(key, set);
  }

  get empty(): boolean {
    return this.sets.size === 0;
  }

  /** The newest date of any set. */
  newest(): Date | undefined {
    return [...this.sets.values()].map((s) => s.newestRecordedAt).sort((a, b) => b.getTime() - a.getTime())[0];
  }

  list(): KeptRecords[] {
    return [...this.sets.values()].map((s) => ({ ...s }));
  }
}
