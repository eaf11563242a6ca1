import { expect } from "chai";
import type { StoredResidual } from "../src/entities";
import { closingResidual, residualStillHeld } from "../src/orchestrator/erasureOutcome";

const set = (type: string, count: number, reason: string): StoredResidual => ({ category: "PAYMENTS", type, count, fields: ["billing_details"], reason });
const seen = (type: string, count: number) => ({ category: "PAYMENTS", type, count });
const REFUSED = "Stripe refused the job";
const AGAIN = "Stripe refused the job again";

/** A closing pass's residue (erasureOutcome): what the first pass named, as far as the system still holds it. */
describe("a closing pass's residue", () => {
  const first = [set("charge", 3, REFUSED)];

  it("drops the first pass's residue that this pass erased (the verification finds none of it left)", () => {
    const merged = closingResidual(first, []);
    expect(merged).to.deep.equal(first);
    expect(residualStillHeld(merged, [], [])).to.deep.equal([]);
  });

  it("keeps it, once and under the first pass's reason, when this pass met it again and it is still there", () => {
    const own = [set("charge", 3, AGAIN)];
    expect(residualStillHeld(closingResidual(first, own), own, [seen("charge", 3)])).to.deep.equal(first);
  });

  it("keeps what is still there of it when this pass erased part", () => {
    const own = [set("charge", 1, AGAIN)];
    expect(residualStillHeld(closingResidual(first, own), own, [seen("charge", 1)])).to.deep.equal([set("charge", 1, REFUSED)]);
  });

  it("never names less than this pass named itself, even out of the verification's sight (cut off from the subject)", () => {
    const own = [set("invoice", 2, AGAIN)];
    expect(residualStillHeld(closingResidual(first, own), own, [])).to.deep.equal([set("invoice", 2, AGAIN)]);
  });
});
