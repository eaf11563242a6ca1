import type { RetentionRule } from "../domain/retention";
import type { RetentionExceptionRow } from "../entities";
import type { RetentionException, RetentionRuleInfo } from "../schema/retention.type";

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;

export function presentRetentionRule(rule: RetentionRule): RetentionRuleInfo {
  const parts = [rule.years ? plural(rule.years, "year") : "", rule.days ? plural(rule.days, "day") : ""].filter(Boolean);
  return {
    category: String(rule.category),
    period: parts.join(" ") || "0 days",
    years: rule.years,
    days: rule.days,
    countsFrom: rule.countsFrom,
    legalBasis: rule.legalBasis,
    keepsOnDeletion: rule.keepsOnDeletion,
  };
}

export function presentRetentionException(row: RetentionExceptionRow, extendedByHoldId: string | null = null): RetentionException {
  return {
    id: row.id,
    connector: row.connector,
    category: row.category,
    recordType: row.recordType,
    recordCount: row.recordCount,
    legalBasis: row.legalBasis,
    redactedFields: row.redactedFields ? row.redactedFields.split(",") : [],
    retainUntil: row.retainUntil,
    holdId: row.holdId,
    extendedByHoldId,
    status: row.status,
    createdAt: row.createdAt,
    closedAt: row.closedAt,
  };
}

/** A kept set as documents hand it to people and auditors (certificates, export manifests): counts, basis, ISO dates. */
export function keptSetSummary(row: RetentionExceptionRow): { connector: string; category: string; recordType: string; records: number; legalBasis: string; retainUntil: string | null } {
  return {
    connector: row.connector,
    category: row.category,
    recordType: row.recordType,
    records: row.recordCount,
    legalBasis: row.legalBasis,
    retainUntil: row.retainUntil?.toISOString() ?? null,
  };
}
