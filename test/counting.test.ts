import { expect } from "chai";
import type { SubjectRecord } from "../src/connectors/sdk";
import { compareWithPlan, DeletionCount, planLines } from "../src/domain/counting";
import { DEFAULT_RETENTION_RULES } from "../src/domain/retention";

const CUTOFF = new Date("2020-01-01T00:00:00Z");
const OLD = new Date("2018-01-01T00:00:00Z");
const NEW = new Date("2024-01-01T00:00:00Z");
const NEWER = new Date("2025-01-01T00:00:00Z");
const rec = (type: string, id: string, extra: Partial<SubjectRecord> = {}): SubjectRecord => ({ category: "PAYMENTS", type, id, data: {}, ...extra });
const count = (records: SubjectRecord[], categories = ["PAYMENTS"]) => {
  const c = new DeletionCount({ categories, keepRecordedSince: { PAYMENTS: CUTOFF } }, true);
  for (const r of records) c.add(r);
  return c.result();
};
const byType = (r: ReturnType<typeof count>) => Object.fromEntries(r.sets.map((s) => [s.type, { found: s.found, toErase: s.toErase, toKeep: s.toKeep, newestKept: s.newestKept?.toISOString() ?? null }]));

describe("the counting rule (domain/counting)", () => {
  it("keeps an anchor while a record hanging off it is kept, dated from the newest of them, and its inseparable records with it", () => {
    const r = count([
      rec("customer", "c1", { anchor: true, recordedAt: OLD }),
      rec("charge", "ch1", { keptWith: "c1", recordedAt: OLD }),
      rec("charge", "ch2", { keptWith: "c1", recordedAt: NEW }),
      rec("subscription", "s1", { keptWith: "c1", inseparable: true, recordedAt: OLD }),
      rec("charge", "ch3", { keptWith: "c1", recordedAt: NEWER }),
    ]);
    expect(byType(r)).to.deep.equal({
      charge: { found: 3, toErase: 1, toKeep: 2, newestKept: NEWER.toISOString() },
      customer: { found: 1, toErase: 0, toKeep: 1, newestKept: NEWER.toISOString() },
      subscription: { found: 1, toErase: 0, toKeep: 1, newestKept: NEWER.toISOString() },
    });
    expect(r.refs.filter((x) => x.disposition === "ERASE").map((x) => x.ref.id)).to.deep.equal(["ch1"]);
  });

  it("erases an anchor and its inseparable records when nothing hanging off it is kept, and dates thread records by retainedFrom", () => {
    const r = count([
      rec("customer", "c1", { anchor: true }),
      rec("subscription", "s1", { keptWith: "c1", inseparable: true, recordedAt: OLD }),
      rec("ticket", "t1", { keptWith: "c1", recordedAt: OLD, retainedFrom: OLD }),
      rec("comment", "m1", { keptWith: "c9", recordedAt: OLD, retainedFrom: NEW }),
    ]);
    expect(byType(r)).to.deep.equal({
      comment: { found: 1, toErase: 0, toKeep: 1, newestKept: NEW.toISOString() },
      customer: { found: 1, toErase: 1, toKeep: 0, newestKept: null },
      subscription: { found: 1, toErase: 1, toKeep: 0, newestKept: null },
      ticket: { found: 1, toErase: 1, toKeep: 0, newestKept: null },
    });
  });

  it("keeps a held category whole", () => {
    const r = count([rec("charge", "ch1", { recordedAt: OLD }), rec("customer", "c1", { anchor: true })], []);
    expect(byType(r)).to.deep.equal({ charge: { found: 1, toErase: 0, toKeep: 1, newestKept: null }, customer: { found: 1, toErase: 0, toKeep: 1, newestKept: null } });
  });

  it("finds a line equal to its plan, or names each difference with its reason", () => {
    const plan = [{ category: "PAYMENTS", found: 5, toErase: 3, toKeep: 2, keptBy: "RULE" as const }];
    const same = { category: "PAYMENTS", erased: 3, redacted: 1, kept: 2, keptByHold: false, holdCase: null, residual: 0, residualReasons: [] };
    expect(compareWithPlan(plan, [same])[0].differences).to.deep.equal([]);
    expect(compareWithPlan(plan, [{ ...same, erased: 0, kept: 5, keptByHold: true, holdCase: "FR-7" }])[0].differences).to.deep.equal([
      { kind: "HELD_SINCE_PLAN", records: 3, reason: "legal hold FR-7 was placed after the plan and keeps the category whole" },
    ]);
    expect(compareWithPlan(plan, [{ ...same, erased: 4 }])[0].differences.map((d) => [d.kind, d.records])).to.deep.equal([["MORE_RECORDS", 1]]);
    expect(compareWithPlan(plan, [{ ...same, erased: 2, residual: 1, residualReasons: ["invoice x1 with customer_name (refused)"] }])[0].differences).to.deep.equal([
      { kind: "RESIDUAL", records: 1, reason: "1 record still holds personal data: invoice x1 with customer_name (refused)" },
    ]);
    expect(compareWithPlan(plan, [{ ...same, erased: 4, kept: 1 }])[0].differences.map((d) => d.kind)).to.deep.equal(["RETENTION_MOVED"]);
  });

  it("counts a record the connector says erasure would leave as planned residue, not as erased, unless a rule keeps it", () => {
    const SHARED = "a thread another customer wrote on stays";
    const r = count([rec("ticket", "t1", { recordedAt: OLD, residualOnErasure: SHARED }), rec("ticket", "t2", { recordedAt: NEW, residualOnErasure: SHARED }), rec("ticket", "t3", { recordedAt: OLD })]);
    expect(r.sets).to.deep.equal([{ category: "PAYMENTS", type: "ticket", found: 3, toErase: 2, toKeep: 1, toLeaveResidual: 1, residualReasons: [SHARED], newestKept: NEW }]);
    const rule = DEFAULT_RETENTION_RULES.find((x) => x.category === "PAYMENTS")!;
    const [line] = planLines(r.sets, { rules: [rule], holds: [], now: NEWER, minor: false });
    expect(line).to.deep.include({ found: 3, toErase: 1, toKeep: 1, toLeaveResidual: 1, residualReason: SHARED });
    const [held] = planLines(r.sets, { rules: [rule], holds: [{ id: "h1", caseReference: "FR-7", categories: [] }], now: NEWER, minor: false });
    expect(held, "a hold keeps the category whole: nothing is left residual").to.deep.include({ found: 3, toErase: 0, toKeep: 3, toLeaveResidual: 0, residualReason: null });
  });

  it("compares residue with what the plan foresaw: beyond it, short of it, or a plan stored before plans foresaw any", () => {
    const plan = [{ category: "SUPPORT", found: 6, toErase: 3, toKeep: 0, toLeaveResidual: 3, keptBy: null }];
    const same = { category: "SUPPORT", erased: 3, redacted: 1, kept: 0, keptByHold: false, holdCase: null, residual: 3, residualReasons: ["ticket x3 with subject (shared)"] };
    expect(compareWithPlan(plan, [same])[0].differences).to.deep.equal([]);
    expect(compareWithPlan(plan, [{ ...same, erased: 1, residual: 5 }])[0].differences).to.deep.equal([
      { kind: "RESIDUAL", records: 2, reason: "2 records still hold personal data beyond the 3 the plan foresaw: ticket x3 with subject (shared)" },
    ]);
    expect(compareWithPlan(plan, [{ ...same, erased: 5, residual: 1 }])[0].differences.map((d) => [d.kind, d.records])).to.deep.equal([["RESIDUAL_AVOIDED", 2]]);
    const { toLeaveResidual: _, ...before } = plan[0];
    expect(compareWithPlan([before], [same])[0].differences.map((d) => [d.kind, d.records])).to.deep.equal([["RESIDUAL", 3]]);
    expect(compareWithPlan([before], [same])[0].planned).to.deep.include({ toLeaveResidual: 0 });
  });

  it("counts in a purge's recount only the records its deletion kept: dated before it, undated among its ids read a page at a time", async () => {
    const pages = [[{ category: "PAYMENTS", type: "customer", id: "c1" }], [{ category: "PAYMENTS", type: "charge", id: "u1" }, { category: "PAYMENTS", type: "charge", id: "u2" }]];
    let reads = 0;
    const c = new DeletionCount({ categories: [], keepRecordedSince: {} }, true, {
      before: NEW,
      undated: async function* () {
        for (const page of pages) {
          reads += 1;
          yield page;
        }
      },
    });
    let beats = 0;
    for (const r of [rec("charge", "u1"), rec("charge", "u3"), rec("charge", "d1", { recordedAt: OLD }), rec("charge", "d2", { recordedAt: NEWER }), rec("customer", "c1", { anchor: true }), rec("customer", "c2")]) c.add(r);
    await c.settleKept(async () => void (beats += 1));
    const r = c.result();
    // Kept by the deletion: u1 and c1 (by id), d1 (by date); u3, c2 and d2 are hers since, not counted.
    expect(byType(r)).to.deep.equal({ charge: { found: 2, toErase: 0, toKeep: 2, newestKept: null }, customer: { found: 1, toErase: 0, toKeep: 1, newestKept: null } });
    expect(r.refs.map((x) => x.ref.id).sort()).to.deep.equal(["c1", "d1", "u1"]);
    expect([reads, beats]).to.deep.equal([2, 2]);
  });
});
