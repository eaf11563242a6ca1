import { expect } from "chai";
import type { SubjectRecord } from "../../src/connectors/sdk";
import { lineHead, writeRecordLine } from "../../src/export/recordBytes";
import { recordLine } from "../../src/export/staging";

/** Records whose JSON takes every path of writeRecordLine: escapes, non-text values, odd objects. */
function records(): SubjectRecord[] {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const bare = Object.create(null) as Record<string, unknown>;
  bare.b = "no prototype";
  const inherited = Object.create({ inheritedKey: "not own" }) as Record<string, unknown>;
  inherited.own = "own";
  return [
    { category: "AUTH_LOGS", type: "auth_event", id: "2025-03-01T10:00:00.000Z#evt_1", recordedAt: new Date("2025-03-01T10:00:00Z"), data: { eventId: "evt_1", ip: "10.0.0.1", result: "success" } },
    { category: "ACCOUNT", type: "profile", id: "u1", data: { name: 'Ada "Countess" Lovelace', note: "back\\slash\ttab\nnewline\u0001", accent: "Zoë 日本 😀", lone: "\ud800x", sep: "a\u2028b\u2029c" } },
    { category: "ACCOUNT", type: "mixed", id: 7 as unknown as string, recordedAt: new Date(Number.NaN), data: { n: 42, neg: -0, big: 1e21, frac: -1.5, nan: Number.NaN, inf: Infinity, t: true, f: false, nil: null, skip: undefined, fn: () => 1, sym: Symbol("s") } },
    { category: "ACCOUNT", type: "nested", id: "n1", data: { list: [1, "two", { three: 3 }, undefined], obj: { deep: { text: "x\u2028y" } }, when: new Date("2025-01-02T03:04:05Z"), boxed: new String("boxed"), json: { toJSON: () => "as json" } } },
    { category: "ACCOUNT", type: "keys", id: "k", data: { 'quote"key': 1, "10": "integer key first", "line\u2028key": 2, "": "empty" } },
    { category: "ACCOUNT", type: "objects", id: "o", data: bare },
    { category: "ACCOUNT", type: "objects", id: "o2", data: inherited },
    { category: "ACCOUNT", type: "class", id: "c", data: new Point(1, 2) as unknown as Record<string, unknown> },
    { category: "ACCOUNT", type: "toJSON", id: "t", data: { toJSON: () => ({ replaced: true }) } as unknown as Record<string, unknown> },
    { category: "ACCOUNT", type: "empty", id: "e", data: {} },
    { category: "ACCOUNT", type: "none", id: "x" } as SubjectRecord,
  ];
}

describe("writeRecordLine", () => {
  it("writes exactly the bytes of recordLine, whatever the record holds", () => {
    for (const connector of ["auth-log", 'odd "name"\u2028']) {
      for (const r of records()) {
        const to = { lines: Buffer.alloc(8), used: 0 };
        writeRecordLine(to, lineHead(connector), r);
        expect(to.lines.subarray(0, to.used).toString("utf8")).to.equal(recordLine(connector, r));
      }
    }
  });

  it("appends after what the buffer holds, growing it past its size when a line does not fit", () => {
    const to = { lines: Buffer.alloc(64), used: 0 };
    const all = records();
    for (const r of all) writeRecordLine(to, lineHead("auth-log"), r);
    expect(to.lines.length).to.be.greaterThan(64);
    expect(to.lines.subarray(0, to.used).toString("utf8")).to.equal(all.map((r) => recordLine("auth-log", r)).join(""));
  });
});
