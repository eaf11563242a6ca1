import type { LeftOutRecords } from "../connectors/sdk";

/** At most this many distinct sets are kept per task: reasons are a connector's few fixed sentences. */
const MAX_SETS = 20;

/** The sets a COLLECT reported left out, added up per category, type and reason. */
export class LeftOutTally {
  private readonly sets = new Map<string, LeftOutRecords>();

  add(set: LeftOutRecords): void {
    const count = Math.floor(Number(set.count));
    if (!(count > 0)) return;
    const category = String(set.category).slice(0, 40);
    const type = String(set.type).slice(0, 64);
    const reason = String(set.reason).slice(0, 300);
    const key = `${category}\u0000${type}\u0000${reason}`;
    const entry = this.sets.get(key);
    if (entry) entry.count += count;
    else if (this.sets.size < MAX_SETS) this.sets.set(key, { category, type, count, reason });
  }

  get empty(): boolean {
    return this.sets.size === 0;
  }

  list(): LeftOutRecords[] {
    return [...this.sets.values()];
  }
}
