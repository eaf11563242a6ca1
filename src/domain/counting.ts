import type { DataCategory, ErasureInstruction, RecordRef, SubjectRecord } from "../connectors/sdk";
import { perSet } from "./multiMap";
import { DeletionContext, holdFor, keepingRule, keptSince, PlannedDeletion, shiftByPeriod } from "./retention";

/**
 * The counting rule: how a deletion counts a subject's records, once, for the survey (the plan), the
 * erasure outcome, the verification pass, the exceptions and the certificate.
 *
 * - One record is one record as a connector's collect yields it.
 * - A held category (not in the instruction) is kept whole, by the hold.
 * - In a category a rule keeps, a record is kept when the date its period counts from
 *   (`retainedFrom`, else `recordedAt`) is at or after the instruction's cutoff; undated records are not.
 * - A record others hang off (an `anchor` named by their `keptWith`: a customer, a ticketing user) is
 *   kept while any of them is kept, or when it is recent itself, dated from the newest of those dates;
 *   otherwise it is erased. A record that cannot be erased apart from its anchor (`inseparable`) is kept
 *   with it when the anchor is kept (dated like it), and erased with it otherwise.
 * - Everything else is erased. A record erasure leaves with personal data is `residual`, never erased;
 *   one the connector foresees as such (`residualOnErasure`) is planned residual, not erased.
 *
 * Connectors' erase follows the same rule, so a plan's lines equal the erasure's outcome unless the
 * world changed between the two; `compareWithPlan` names every such difference.
 */

/** What the rule does with one record. */
export type Disposition = "ERASE" | "KEEP";

/** Counts of one category x record type under the rule. */
export interface CountedSet {
  category: DataCategory;
  type: string;
  found: number;
  toErase: number;
  toKeep: number;
  /** Of toErase, records erasure will leave holding personal data (the connector said so: residualOnErasure). */
  toLeaveResidual: number;
  /** Why, as the connector said it (each reason once). */
  residualReasons: string[];
  /** The newest date the kept records count from (null when none is kept, or all are held). */
  newestKept: Date | null;
}

interface Anchor {
  category: string;
  type: string;
  /** Its own date, when it is recent itself. */
  ownRecent: Date | null;
  /** Seen as a record (not only named by keptWith). */
  seen: boolean;
  /** Newest date among the kept records hanging off it. */
  newestDependent: Date | null;
  ref?: RecordRef;
  /** Its ref when it carries no date: kept, it is one of the undated records a purge erases by id. */
  undatedRef?: RecordRef;
  /** Inseparable records waiting for its fate, by type (with their refs when kept). */
  followers: Map<string, { count: number; refs: RecordRef[] }>;
}

const later = (a: Date | null, b: Date | null): Date | null => (!a ? b : !b ? a : a > b ? a : b);

/**
 * Streams records through the rule, remembering counts (and, when asked, the refs of the records with
 * their disposition) but never the records. Anchors (few) are settled at the end, once every record
 * that hangs off them has been seen.
 */
export class DeletionCount {
  private readonly sets = new Map<string, CountedSet>();
  private readonly anchors = new Map<string, Anchor>();
  private readonly refs: { ref: RecordRef; disposition: Disposition }[] = [];

  constructor(
    private readonly instruction: ErasureInstruction,
    /** Whether to remember the refs of records of a type (true: every type): a connector's lookup may find some types only (Connector.lookupTypes). */
    private readonly keepRefs: boolean | ((type: string) => boolean) = false,
    /** A purge's recount: only what its deletion kept is counted (one hanging off an anchor still keeps it). */
    private readonly keptBy?: KeptByDeletion,
  ) {}

  private keeps(type: string): boolean {
    return typeof this.keepRefs === "function" ? this.keepRefs(type) : this.keepRefs;
  }

  /** Kept records without a date (and those found only by id: addById), by ref: what the deletion's purge erases by id. */
  private readonly undated: RecordRef[] = [];

  /**
   * A purge's recount: the records without a date it found, by `type\0id`, until settleKept reads the
   * deletion's kept ids a page at a time and counts those among them (what it holds grows with the
   * undated records found now, never with the ids the deletion kept).
   */
  private readonly undatedFound = new Map<string, SubjectRecord[]>();

  /** Whether the rule keeps a record's category whole (held: the connector never sees it). */
  private held(category: string): boolean {
    return !this.instruction.categories.includes(category);
  }

  /** The record's date when the rule keeps it for being recent, else null. */
  private recent(record: Pick<SubjectRecord, "category" | "recordedAt" | "retainedFrom">): Date | null {
    const cutoff = this.instruction.keepRecordedSince?.[String(record.category)];
    const at = record.retainedFrom ?? record.recordedAt;
    if (!cutoff || !at) return null;
    return new Date(at).getTime() >= new Date(cutoff).getTime() ? new Date(at) : null;
  }

  private set(category: string, type: string): CountedSet {
    const key = `${category}\u0000${type}`;
    let set = this.sets.get(key);
    if (!set) this.sets.set(key, (set = { category, type, found: 0, toErase: 0, toKeep: 0, toLeaveResidual: 0, residualReasons: [], newestKept: null }));
    return set;
  }

  private anchor(key: string, category: string, type = ""): Anchor {
    let a = this.anchors.get(key);
    if (!a) this.anchors.set(key, (a = { category, type, ownRecent: null, seen: false, newestDependent: null, followers: new Map() }));
    return a;
  }

  add(record: SubjectRecord): void {
    const category = String(record.category);
    if (this.keptBy?.undated && !record.recordedAt) {
      // Its set is known, whether the deletion kept it or not (settleKept tells).
      this.set(category, String(record.type));
      const key = `${record.type}\u0000${record.id}`;
      const { data: _data, ...kept } = record;
      this.undatedFound.set(key, [...(this.undatedFound.get(key) ?? []), { ...kept, data: {} }]);
      return;
    }
    if (this.keptBy && !keptByDeletion(this.keptBy, record)) {
      // Its set is known, empty: what a connector reports kept of it is the person's since, not the deletion's (keptAsVerified).
      this.set(category, String(record.type));
      if (record.keptWith !== undefined && record.recordedAt) {
        const a = this.anchor(`${category}\u0000${record.keptWith}`, category);
        a.newestDependent = later(a.newestDependent, new Date(record.recordedAt));
      }
      return;
    }
    this.count(record);
  }

  /**
   * A purge's recount, once every record was added: counts the undated records found that are among
   * the ids its deletion kept (KeptByDeletion.undated), read a page at a time (`onPage` after each);
   * the others are the person's since, not counted.
   */
  async settleKept(onPage?: () => Promise<void>): Promise<void> {
    if (!this.keptBy?.undated || !this.undatedFound.size) return;
    for await (const page of this.keptBy.undated()) {
      for (const r of page) {
        const key = `${r.type}\u0000${r.id}`;
        for (const record of this.undatedFound.get(key) ?? []) this.count(record);
        this.undatedFound.delete(key);
      }
      if (!this.undatedFound.size) return;
      await onPage?.();
    }
  }

  /**
   * A record the subject's identities no longer reach, found by the id its survey stored (Connector.lookup):
   * counted by the rule as any other, and, when kept with a date, remembered by id beside the kept records
   * without one (undatedKept): the purge cannot find it by the subject either, and erases it by id.
   * Whether the rule keeps it.
   */
  addById(record: SubjectRecord): boolean {
    this.count(record);
    const kept = this.held(String(record.category)) || this.recent(record) !== null;
    if (kept && record.recordedAt) this.undated.push({ category: String(record.category), type: String(record.type), id: String(record.id) });
    return kept;
  }

  /** Counts a record the rule sees (a purge's: one its deletion kept). */
  private count(record: SubjectRecord): void {
    const category = String(record.category);
    const ref = { category, type: String(record.type), id: String(record.id) };
    if (this.held(category)) {
      const set = this.set(category, ref.type);
      set.found += 1;
      set.toKeep += 1;
      if (!record.recordedAt) this.undated.push(ref);
      if (this.keeps(ref.type)) this.refs.push({ ref, disposition: "KEEP" });
      return;
    }
    const recent = this.recent(record);
    if (record.keptWith !== undefined && recent) {
      const a = this.anchor(`${category}\u0000${record.keptWith}`, category);
      a.newestDependent = later(a.newestDependent, recent);
    }
    if (record.inseparable && record.keptWith !== undefined && !recent) {
      // Its fate is its anchor's, known at the end.
      const f = this.anchor(`${category}\u0000${record.keptWith}`, category).followers;
      const entry = f.get(ref.type) ?? { count: 0, refs: [] };
      entry.count += 1;
      if (this.keeps(ref.type)) entry.refs.push(ref);
      f.set(ref.type, entry);
      return;
    }
    if (record.anchor) {
      // Its fate waits for the end, when every record hanging off it has been seen.
      const a = this.anchor(`${category}\u0000${ref.id}`, category, ref.type);
      a.seen = true;
      a.type = ref.type;
      a.ownRecent = recent;
      if (this.keeps(ref.type)) a.ref = ref;
      if (!record.recordedAt) a.undatedRef = ref;
      return;
    }
    const set = this.set(category, ref.type);
    set.found += 1;
    if (recent) {
      set.toKeep += 1;
      set.newestKept = later(set.newestKept, recent);
    } else {
      set.toErase += 1;
      if (record.residualOnErasure) {
        set.toLeaveResidual += 1;
        if (!set.residualReasons.includes(record.residualOnErasure)) set.residualReasons.push(record.residualOnErasure);
      }
    }
    if (this.keeps(ref.type)) this.refs.push({ ref, disposition: recent ? "KEEP" : "ERASE" });
  }

  /** The kept records without a date, grouped by set: all of them (kept_undated_ids has no cap). */
  undatedKept(): KeptIds[] {
    return perSet(
      this.undated,
      (r) => ({ category: String(r.category), type: r.type, ids: [] as string[] }),
      (set, r) => void set.ids.push(r.id),
    );
  }

  /** Every record counted: per category x type, and the refs with their disposition when asked for. */
  result(): { sets: CountedSet[]; refs: { ref: RecordRef; disposition: Disposition }[] } {
    for (const a of this.anchors.values()) {
      const keptSince = a.seen ? later(a.newestDependent, a.ownRecent) : null;
      if (a.seen) {
        const set = this.set(a.category, a.type);
        set.found += 1;
        if (keptSince) {
          set.toKeep += 1;
          set.newestKept = later(set.newestKept, keptSince);
          if (a.undatedRef) this.undated.push(a.undatedRef);
        } else set.toErase += 1;
        if (a.ref) this.refs.push({ ref: a.ref, disposition: keptSince ? "KEEP" : "ERASE" });
      }
      for (const [type, f] of a.followers) {
        const set = this.set(a.category, type);
        set.found += f.count;
        if (keptSince) {
          set.toKeep += f.count;
          set.newestKept = later(set.newestKept, keptSince);
        } else set.toErase += f.count;
        for (const ref of f.refs) this.refs.push({ ref, disposition: keptSince ? "KEEP" : "ERASE" });
      }
    }
    const sets = [...this.sets.values()].sort((x, y) => (x.category === y.category ? (x.type < y.type ? -1 : 1) : x.category < y.category ? -1 : 1));
    return { sets, refs: this.refs };
  }
}

/** Kept records of one category x type, by id (stored encrypted in kept_undated_ids). */
export interface KeptIds {
  category: string;
  type: string;
  ids: string[];
}

/** How many records of one category x type (TaskResult.keptUndatedBeyond, audit events of kept sets). */
export interface KeptCount {
  category: string;
  type: string;
  count: number;
}

/**
 * What a deletion kept in one connector, as its purge tells it apart from what the person recorded
 * since: records recorded before `before` (when the deletion counted them), and of those without a
 * date, the ones it kept by id. A record the person made since is neither erased nor counted.
 */
export interface KeptByDeletion {
  /** When the deletion counted what it kept (its ERASE's end). */
  before: Date;
  /**
   * The ids of the kept records without a date it stored, read again a page at a time on each call
   * (never all in memory: a deletion may keep millions); null when it stored none (it ended before
   * they were stored): any is taken for its.
   */
  undated: KeptPages | null;
}

/** Pages of record refs, read afresh on each call. */
export type KeptPages = () => AsyncIterable<readonly RecordRef[]>;

/** Whether a record is one the deletion kept, where its date tells (see KeptByDeletion; an undated one, by id: DeletionCount.settleKept). */
function keptByDeletion(k: KeptByDeletion, record: Pick<SubjectRecord, "recordedAt">): boolean {
  return !record.recordedAt || new Date(record.recordedAt).getTime() < k.before.getTime();
}

/** The longest residualReason a plan line stores (its column's length). */
export const RESIDUAL_REASON_LENGTH = 500;

/** The plan's lines (one per category) from the counted sets, the holds and the rules. */
export function planLines(sets: readonly CountedSet[], ctx: DeletionContext): PlannedDeletion[] {
  const categories = [...new Set(sets.map((s) => String(s.category)))].sort();
  return categories.map((category) => {
    const of = sets.filter((s) => s.category === category);
    const found = of.reduce((n, s) => n + s.found, 0);
    const toKeep = of.reduce((n, s) => n + s.toKeep, 0);
    const hold = holdFor(category, ctx.holds);
    if (hold) {
      return { category, found, toErase: 0, toKeep: found, toLeaveResidual: 0, residualReason: null, keptBy: found ? "HOLD" : null, legalBasis: `legal hold ${hold.caseReference}`, holdId: hold.id, keepSince: null, retainUntil: null };
    }
    const rule = keepingRule(category, ctx);
    const newest = of.reduce<Date | null>((d, s) => later(d, s.newestKept), null);
    const toLeaveResidual = of.reduce((n, s) => n + s.toLeaveResidual, 0);
    const reasons = [...new Set(of.flatMap((s) => s.residualReasons))];
    return {
      category,
      found,
      toErase: found - toKeep - toLeaveResidual,
      toKeep,
      toLeaveResidual,
      residualReason: reasons.length ? reasons.join("; ").slice(0, RESIDUAL_REASON_LENGTH) : null,
      keptBy: toKeep ? "RULE" : null,
      legalBasis: toKeep && rule ? rule.legalBasis : null,
      holdId: null,
      keepSince: rule ? keptSince(ctx.now, rule) : null,
      retainUntil: toKeep && rule && newest ? shiftByPeriod(newest, rule) : null,
    };
  });
}

/** A plan line as compareWithPlan reads it (toLeaveResidual absent in plans stored before it existed). */
export type PlanLineToCompare = Pick<PlannedDeletion, "category" | "found" | "toErase" | "toKeep" | "keptBy"> & { toLeaveResidual?: number | null };

/** How the world differed from the plan when erasure ran, for one line. */
export enum DifferenceKind {
  HELD_SINCE_PLAN = "HELD_SINCE_PLAN",
  RELEASED_SINCE_PLAN = "RELEASED_SINCE_PLAN",
  /** HELD_SINCE_PLAN or RELEASED_SINCE_PLAN as the subject's side (a SERVICE token) is told it: no hold named (presenters/holdPrivacy.ts). Never computed. */
  KEPT_FOR_LEGAL_REASONS_SINCE_PLAN = "KEPT_FOR_LEGAL_REASONS_SINCE_PLAN",
  MORE_RECORDS = "MORE_RECORDS",
  FEWER_RECORDS = "FEWER_RECORDS",
  RETENTION_MOVED = "RETENTION_MOVED",
  RESIDUAL = "RESIDUAL",
  RESIDUAL_AVOIDED = "RESIDUAL_AVOIDED",
  /**
   * Records of the plan an attempt that failed may have erased: gone when the connector's own count ran
   * after that attempt's error (a write that landed before its answer was an error), yet not confirmed by
   * the system's answer. A later run that no longer finds them counts them erased under this kind, never
   * as FEWER_RECORDS, and never twice (only the records its own count misses).
   */
  ERASED_BY_FAILED_ATTEMPT = "ERASED_BY_FAILED_ATTEMPT",
}

export interface PlanDifference {
  kind: DifferenceKind;
  /** How many records the difference concerns. */
  records: number;
  /** Why, in words for people (no personal data). */
  reason: string;
}

/** What the erasure did in one connector and category, beside what the plan said it would. */
export interface OutcomeLine {
  category: string;
  /** The plan's line (null: the survey found nothing in this category). */
  planned: { found: number; toErase: number; toKeep: number; toLeaveResidual: number; keptBy: string | null } | null;
  erased: number;
  /** Of erased, records redacted in place. */
  redacted: number;
  kept: number;
  residual: number;
  /** Empty when the line equals the plan's. */
  differences: PlanDifference[];
}

/** What an erasure reported for one category, counted by the rule. */
export interface CategoryOutcome {
  category: string;
  erased: number;
  redacted: number;
  kept: number;
  /** Kept by a hold rather than a rule. */
  keptByHold: boolean;
  holdCase: string | null;
  residual: number;
  residualReasons: readonly string[];
  /**
   * Records of the plan gone after an earlier attempt failed, which that attempt did not confirm erasing
   * (TaskResult.failedErasure): of the plan's records this outcome misses, up to this many are counted
   * erased by that attempt (ERASED_BY_FAILED_ATTEMPT).
   */
  goneAfterFailure?: number;
}

const plural = (n: number) => `${n} record${n === 1 ? "" : "s"}`;

/**
 * The outcome's lines against the plan's: equal unless the world changed in between, and then every
 * difference is named with its reason (a hold placed or released, records that appeared or were gone,
 * records that aged out of or into a retention period, residue).
 */
export function compareWithPlan(plan: readonly PlanLineToCompare[], outcome: readonly CategoryOutcome[]): OutcomeLine[] {
  const categories = [...new Set([...plan.map((p) => String(p.category)), ...outcome.map((o) => o.category)])].sort();
  return categories.flatMap((category) => {
    const p = plan.find((x) => x.category === category);
    const o = outcome.find((x) => x.category === category) ?? { category, erased: 0, redacted: 0, kept: 0, keptByHold: false, holdCase: null, residual: 0, residualReasons: [] };
    // A plan stored before plans foresaw residue has no toLeaveResidual: it foresaw none.
    const planned = p ? { found: p.found, toErase: p.toErase, toKeep: p.toKeep, toLeaveResidual: p.toLeaveResidual ?? 0, keptBy: p.keptBy } : null;
    if (!p && o.erased + o.kept + o.residual === 0) return [];
    const differences: PlanDifference[] = [];
    const found = p?.found ?? 0;
    // What an earlier attempt that failed may have erased, as far as this outcome misses the plan's records (counted once).
    const byFailed = Math.min(Math.max(0, found - (o.erased + o.kept + o.residual)), o.goneAfterFailure ?? 0);
    const erased = o.erased + byFailed;
    const total = erased + o.kept + o.residual;
    if (byFailed) {
      differences.push({
        kind: DifferenceKind.ERASED_BY_FAILED_ATTEMPT,
        records: byFailed,
        reason: `${plural(byFailed)} of the plan ${byFailed === 1 ? "was" : "were"} gone after an earlier attempt failed while erasing (the system answered its write with an error) and ${byFailed === 1 ? "is" : "are"} counted erased by that attempt: the system's answer did not confirm ${byFailed === 1 ? "it" : "them"}`,
      });
    }
    const plannedHold = p?.keptBy === "HOLD";
    if (o.keptByHold && !plannedHold && o.kept > (p?.toKeep ?? 0)) {
      differences.push({ kind: DifferenceKind.HELD_SINCE_PLAN, records: o.kept - (p?.toKeep ?? 0), reason: `legal hold ${o.holdCase ?? ""} was placed after the plan and keeps the category whole`.replace("  ", " ") });
    } else if (plannedHold && !o.keptByHold) {
      differences.push({ kind: DifferenceKind.RELEASED_SINCE_PLAN, records: Math.max(0, (p?.toKeep ?? 0) - o.kept), reason: "the legal hold the plan counted was released before erasure" });
    }
    if (total > found) differences.push({ kind: DifferenceKind.MORE_RECORDS, records: total - found, reason: `${plural(total - found)} appeared after the plan` });
    if (total < found) {
      differences.push({ kind: DifferenceKind.FEWER_RECORDS, records: found - total, reason: `${plural(found - total)} of the plan ${found - total === 1 ? "was" : "were"} no longer there when erasure ran (erased by an earlier attempt or outside the service)` });
    }
    if (!differences.some((d) => d.kind === DifferenceKind.HELD_SINCE_PLAN || d.kind === DifferenceKind.RELEASED_SINCE_PLAN) && total === found && o.kept !== (p?.toKeep ?? 0)) {
      const moved = Math.abs(o.kept - (p?.toKeep ?? 0));
      differences.push({ kind: DifferenceKind.RETENTION_MOVED, records: moved, reason: `${plural(moved)} ${o.kept < (p?.toKeep ?? 0) ? "aged out of" : "came under"} the retention period between the plan and the erasure` });
    }
    const foreseen = planned?.toLeaveResidual ?? 0;
    if (o.residual > foreseen) {
      const n = o.residual - foreseen;
      const beyond = foreseen ? ` beyond the ${foreseen} the plan foresaw` : "";
      differences.push({ kind: DifferenceKind.RESIDUAL, records: n, reason: `${plural(n)} still ${n === 1 ? "holds" : "hold"} personal data${beyond}: ${o.residualReasons.join("; ")}` });
    } else if (o.residual < foreseen) {
      const n = foreseen - o.residual;
      differences.push({ kind: DifferenceKind.RESIDUAL_AVOIDED, records: n, reason: `${plural(n)} the plan foresaw as residual ${n === 1 ? "was" : "were"} erased or kept instead (what would have left ${n === 1 ? "it" : "them"} holding personal data had changed)` });
    }
    return [{ category, planned, erased, redacted: o.redacted, kept: o.kept, residual: o.residual, differences }];
  });
}
