import type { TrailVerification } from "../audit/verifier";
import { AuditProblemKind, AuditTrailProblem, AuditTrailVerification } from "../schema/audit.type";

/** A verification as the API shows it, with the first problem also in the older single fields. */
export function presentTrailVerification(v: TrailVerification): AuditTrailVerification {
  const first = v.problems[0] ?? null;
  return Object.assign(new AuditTrailVerification(), {
    ...v,
    problems: v.problems.map((p) => Object.assign(new AuditTrailProblem(), { ...p, kind: p.kind as AuditProblemKind })),
    firstBrokenSeq: first?.seq ?? null,
    problem: first?.description ?? null,
  });
}
