import type { DataCategory, KeptRecords } from "./sdk";

/**
 * Record sets an erasure kept under retention, one entry per category and kind of record however
 * many places kept them (a ticket's comments, two accounts of one person), as ErasureOutcome.kept
 * reports them: their count, the newest one's date, and (when the connector blanks some fields of a
 * kept record, and says which) every field blanked in any of them.
 */
export class KeptTally {
  private readonly sets = new Map<string, { kept: KeptRecords; fields?: Set<string> }>();

  add(category: DataCategory, type: string, count: number, at: Date, redactedFields?: readonly string[]): void {
    if (count <= 0) return;
    const key = `${category}\n${type}`;
    const set = this.sets.get(key) ?? { kept: { category, type, count: 0, newestRecordedAt: at } };
    set.kept.count += count;
    if (at > set.kept.newestRecordedAt) set.kept.newestRecordedAt = at;
    if (redactedFields) {
      set.fields ??= new Set<string>();
      for (const f of redactedFields) set.fields.add(f);
    }
    this.sets.set(key, set);
  }

  get empty(): boolean {
    return this.sets.size === 0;
  }

  /** The newest date of any set. */
  newest(): Date | undefined {
    return [...this.sets.values()].map((s) => s.kept.newestRecordedAt).sort((a, b) => b.getTime() - a.getTime())[0];
  }

  list(): KeptRecords[] {
    return [...this.sets.values()].map(({ kept, fields }) => ({ ...kept, ...(fields ? { redactedFields: [...fields] } : {}) }));
  }
}
