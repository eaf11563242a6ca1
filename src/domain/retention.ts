import type { DataCategory, ErasureInstruction, KeptRecords } from "../connectors/sdk";

/** What a retention period counts from. */
export enum RetentionStart {
  /** The date of each record (a charge, a login, a ticket). */
  RECORD_DATE = "RECORD_DATE",
  /** The closure of the person's account. */
  ACCOUNT_CLOSURE = "ACCOUNT_CLOSURE",
}

/** How long a category is kept, from when, and why. Defaults: POLICY.md's retention schedule. */
export interface RetentionRule {
  category: DataCategory;
  /** Whole years of the period (calendar years, UTC). */
  years: number;
  /** Days added to the years. */
  days: number;
  countsFrom: RetentionStart;
  /** The legal basis, as published. */
  legalBasis: string;
  /**
   * Whether a deletion keeps records inside the period. Rules that only bound how long data of an open
   * or closed account is held (account information) do not outlast a request to delete it.
   */
  keepsOnDeletion: boolean;
}

export const DEFAULT_RETENTION_RULES: readonly RetentionRule[] = [
  { category: "ACCOUNT", years: 3, days: 0, countsFrom: RetentionStart.ACCOUNT_CLOSURE, legalBasis: "service provision and legal compliance", keepsOnDeletion: false },
  { category: "AUTH_LOGS", years: 0, days: 90, countsFrom: RetentionStart.RECORD_DATE, legalBasis: "security monitoring and fraud prevention", keepsOnDeletion: true },
  { category: "PAYMENTS", years: 7, days: 0, countsFrom: RetentionStart.RECORD_DATE, legalBasis: "tax and financial compliance", keepsOnDeletion: true },
  { category: "SUPPORT", years: 5, days: 0, countsFrom: RetentionStart.RECORD_DATE, legalBasis: "service quality and dispute resolution", keepsOnDeletion: true },
];

/** `at` moved by the rule's period (sign -1: back), calendar-exact in UTC. */
export function shiftByPeriod(at: Date, rule: Pick<RetentionRule, "years" | "days">, sign: 1 | -1 = 1): Date {
  const d = new Date(at.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + sign * rule.years);
  d.setUTCDate(d.getUTCDate() + sign * rule.days);
  return d;
}

/**
 * What erase may touch for `categories` at `now`: for each category whose rule keeps records on deletion
 * and counts from the record date, records at or after now - period are kept.
 */
export function erasureInstruction(categories: readonly DataCategory[], rules: readonly RetentionRule[], now: Date): ErasureInstruction {
  const keep: Partial<Record<DataCategory, Date>> = {};
  for (const category of categories) {
    const rule = rules.find((r) => r.category === category);
    if (rule?.keepsOnDeletion && rule.countsFrom === RetentionStart.RECORD_DATE) keep[category] = shiftByPeriod(now, rule, -1);
  }
  return Object.keys(keep).length ? { categories: [...categories], keepRecordedSince: keep } : { categories: [...categories] };
}

/** A kept set's exception: until when and why, from the rule of its category. */
export function exceptionFor(kept: KeptRecords, rules: readonly RetentionRule[]): { retainUntil: Date; legalBasis: string } {
  const rule = rules.find((r) => r.category === kept.category);
  if (!rule) return { retainUntil: kept.newestRecordedAt, legalBasis: "kept by the connector without a retention rule for its category" };
  return { retainUntil: shiftByPeriod(kept.newestRecordedAt, rule), legalBasis: rule.legalBasis };
}
