import type { DataCategory, ErasureInstruction, KeptRecords } from "../connectors/sdk";

/** What a retention period counts from. */
export enum RetentionStart {
  /** The date of each record (a charge, a login, a ticket). */
  RECORD_DATE = "RECORD_DATE",
  /** The closure of the person's account. */
  ACCOUNT_CLOSURE = "ACCOUNT_CLOSURE",
}

/** The kind of legal basis: for a minor only legal obligations keep anything. */
export enum LegalBasisKind {
  LEGAL_OBLIGATION = "LEGAL_OBLIGATION",
  LEGITIMATE_INTEREST = "LEGITIMATE_INTEREST",
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
  basisKind: LegalBasisKind;
  /**
   * Whether a deletion keeps records inside the period. Rules that only bound how long data of an open
   * or closed account is held (account information) do not outlast a request to delete it.
   */
  keepsOnDeletion: boolean;
}

export const DEFAULT_RETENTION_RULES: readonly RetentionRule[] = [
  { category: "ACCOUNT", years: 3, days: 0, countsFrom: RetentionStart.ACCOUNT_CLOSURE, legalBasis: "service provision and legal compliance", basisKind: LegalBasisKind.LEGAL_OBLIGATION, keepsOnDeletion: false },
  { category: "AUTH_LOGS", years: 0, days: 90, countsFrom: RetentionStart.RECORD_DATE, legalBasis: "security monitoring and fraud prevention", basisKind: LegalBasisKind.LEGITIMATE_INTEREST, keepsOnDeletion: true },
  { category: "PAYMENTS", years: 7, days: 0, countsFrom: RetentionStart.RECORD_DATE, legalBasis: "tax and financial compliance", basisKind: LegalBasisKind.LEGAL_OBLIGATION, keepsOnDeletion: true },
  { category: "SUPPORT", years: 5, days: 0, countsFrom: RetentionStart.RECORD_DATE, legalBasis: "service quality and dispute resolution", basisKind: LegalBasisKind.LEGITIMATE_INTEREST, keepsOnDeletion: true },
];

const PERIOD = /^\s*(?:(\d{1,3})\s*years?)?\s*(?:(\d{1,5})\s*days?)?\s*$/i;

/**
 * Reads DSR_RETENTION_RULES: a JSON array of rules that replace the defaults of their category (or add a
 * category), e.g. `[{"category":"AUTH_LOGS","period":"180 days","legalBasis":"...","basisKind":"LEGITIMATE_INTEREST"}]`.
 */
export function parseRetentionRules(text: string | undefined): { rules: RetentionRule[]; problems: string[] } {
  const rules = DEFAULT_RETENTION_RULES.map((r) => ({ ...r }));
  if (text === undefined || text.trim() === "") return { rules, problems: [] };
  let given: unknown;
  try {
    given = JSON.parse(text);
  } catch (error) {
    return { rules, problems: [`DSR_RETENTION_RULES is not JSON: ${(error as Error).message}`] };
  }
  if (!Array.isArray(given)) return { rules, problems: ["DSR_RETENTION_RULES must be a JSON array of rules"] };
  const problems: string[] = [];
  given.forEach((raw: Record<string, unknown>, i) => {
    const at = `DSR_RETENTION_RULES[${i}]`;
    const category = typeof raw?.category === "string" && /^[A-Z][A-Z0-9_]{1,39}$/.test(raw.category) ? raw.category : undefined;
    if (!category) problems.push(`${at}.category must be an upper-case category name such as AUTH_LOGS`);
    const period = typeof raw?.period === "string" ? PERIOD.exec(raw.period) : null;
    if (!period || (!period[1] && !period[2])) problems.push(`${at}.period must read like "7 years", "90 days" or "1 year 30 days"`);
    const countsFrom = raw?.countsFrom ?? RetentionStart.RECORD_DATE;
    if (!Object.values(RetentionStart).includes(countsFrom as RetentionStart)) problems.push(`${at}.countsFrom must be RECORD_DATE or ACCOUNT_CLOSURE`);
    if (typeof raw?.legalBasis !== "string" || raw.legalBasis.trim().length < 3 || raw.legalBasis.length > 200) problems.push(`${at}.legalBasis must be 3-200 characters`);
    if (!Object.values(LegalBasisKind).includes(raw?.basisKind as LegalBasisKind)) problems.push(`${at}.basisKind must be LEGAL_OBLIGATION or LEGITIMATE_INTEREST`);
    if (raw?.keepsOnDeletion !== undefined && typeof raw.keepsOnDeletion !== "boolean") problems.push(`${at}.keepsOnDeletion must be true or false`);
    if (problems.some((p) => p.startsWith(at)) || !category || !period) return;
    const rule: RetentionRule = {
      category,
      years: Number(period[1] ?? 0),
      days: Number(period[2] ?? 0),
      countsFrom: countsFrom as RetentionStart,
      legalBasis: (raw.legalBasis as string).trim(),
      basisKind: raw.basisKind as LegalBasisKind,
      keepsOnDeletion: (raw.keepsOnDeletion as boolean | undefined) ?? countsFrom === RetentionStart.RECORD_DATE,
    };
    const existing = rules.findIndex((r) => r.category === category);
    if (existing >= 0) rules[existing] = rule;
    else rules.push(rule);
  });
  return { rules, problems };
}

/** `at` moved by the rule's period (sign -1: back), calendar-exact in UTC. */
export function shiftByPeriod(at: Date, rule: Pick<RetentionRule, "years" | "days">, sign: 1 | -1 = 1): Date {
  const d = new Date(at.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + sign * rule.years);
  d.setUTCDate(d.getUTCDate() + sign * rule.days);
  return d;
}

const DAY_MS = 86_400_000;

/**
 * The earliest instant a record may carry at `now` and still be inside the rule's period: records at
 * or after it are kept (keepRecordedSince). It agrees with retainUntil (shiftByPeriod forward): a record
 * is kept exactly while its period has not ended. Plain subtraction does not: 29 February has no twin
 * in a common year, so moving a date across years rolls it to 1 March, and going back from 1 March 2031
 * lands on 1 March 2024 although a record of 29 February 2024 is kept until 1 March 2031 (and going back
 * from 29 February 2032 lands on 1 March 2025, a day late too). shiftByPeriod never reorders instants,
 * so the bound is found by halving the two days around the plain subtraction, to the millisecond.
 */
export function keptSince(now: Date, rule: Pick<RetentionRule, "years" | "days">): Date {
  const inside = (at: number) => shiftByPeriod(new Date(at), rule).getTime() >= now.getTime();
  let hi = shiftByPeriod(now, rule, -1).getTime();
  while (!inside(hi)) hi += DAY_MS;
  let lo = hi - 2 * DAY_MS;
  while (inside(lo)) lo -= DAY_MS;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (inside(mid)) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

/** An active legal hold, as erasure sees it. */
export interface ActiveHold {
  id: string;
  /** Held categories; empty: every category. */
  categories: readonly string[];
  caseReference: string;
}

/** Everything that decides what a deletion keeps, at one instant. */
export interface DeletionContext {
  rules: readonly RetentionRule[];
  holds: readonly ActiveHold[];
  now: Date;
  /** The subject is under 18: only legal obligations keep anything. */
  minor: boolean;
}

/** The hold that keeps a category, if any. */
export function holdFor(category: DataCategory, holds: readonly ActiveHold[]): ActiveHold | undefined {
  return holds.find((h) => h.categories.length === 0 || h.categories.includes(category));
}

/** The rule under which a deletion keeps recent records of a category, if any. */
export function keepingRule(category: DataCategory, ctx: Pick<DeletionContext, "rules" | "minor">): RetentionRule | undefined {
  const rule = ctx.rules.find((r) => r.category === category);
  if (!rule?.keepsOnDeletion || rule.countsFrom !== RetentionStart.RECORD_DATE) return undefined;
  return ctx.minor && rule.basisKind !== LegalBasisKind.LEGAL_OBLIGATION ? undefined : rule;
}

/**
 * What erase may touch among `categories`: held categories are left out entirely (connectors never see
 * holds), and in categories a rule keeps, records at or after now - period are kept.
 */
export function deletionInstruction(categories: readonly DataCategory[], ctx: DeletionContext): ErasureInstruction {
  const erasable = categories.filter((c) => !holdFor(c, ctx.holds));
  const keep: Partial<Record<DataCategory, Date>> = {};
  for (const category of erasable) {
    const rule = keepingRule(category, ctx);
    if (rule) keep[category] = keptSince(ctx.now, rule);
  }
  return Object.keys(keep).length ? { categories: erasable, keepRecordedSince: keep } : { categories: erasable };
}

/** A kept set's exception: until when and why, from the rule of its category. */
export function exceptionFor(kept: KeptRecords, rules: readonly RetentionRule[]): { retainUntil: Date; legalBasis: string } {
  const rule = rules.find((r) => r.category === kept.category);
  if (!rule) return { retainUntil: kept.newestRecordedAt, legalBasis: "kept by the connector without a retention rule for its category" };
  return { retainUntil: shiftByPeriod(kept.newestRecordedAt, rule), legalBasis: rule.legalBasis };
}

/** One planned line: how many records erasure takes and keeps in a category, by what, until when. */
export interface PlannedDeletion {
  category: DataCategory;
  found: number;
  toErase: number;
  toKeep: number;
  /** Records erasure will leave holding personal data (not in toErase), as the connector foresees it. */
  toLeaveResidual: number;
  /** Why they stay (null when none is). */
  residualReason: string | null;
  keptBy: "RULE" | "HOLD" | null;
  legalBasis: string | null;
  holdId: string | null;
  keepSince: Date | null;
  retainUntil: Date | null;
}
