import { expect } from "chai";
import { CategoryStats, csvHeader, csvRow } from "../../src/export/content";
import type { ExportRecord } from "../../src/export/records";
import { CategoryScan } from "../../src/export/scan";
import { readSpill, removeSpillDir, spillDir } from "../../src/export/spill";
import { seededRandom } from "../../src/sample/people";
import { AWKWARD } from "./support";

/**
 * The CSV of a large category is transcoded from the JSON Lines bytes (CsvTranscoder) rather than built
 * from parsed records. These tests hold it to the slow way, byte for byte: random records with awkward
 * keys and values, in pages, through CategoryScan, against csvHeader + csvRow over JSON.parse.
 */

const STRINGS = [
  ...AWKWARD,
  "plain",
  "comma, only",
  'a "quoted" word',
  "back\\slash",
  "tab\there",
  "\u0000nul and \u001f unit separator",
  "lone \ud800 surrogate",
  "'=already behind an apostrophe",
  "'plain after an apostrophe",
  "emoji 👩🏽‍💻 and 漢字",
  "2024-01-01T00:00:00.000Z",
  "",
  " ",
];
const NUMBERS = [0, -0, 1, -1, 42, 1.5, -2.25, 1e21, 1e-7, 5e-324, Number.MAX_SAFE_INTEGER, 123456789.123];
const KEYS = ["name", "full_name", "device", "ip", "comma,key", 'quote"key', "ünïcode", "emoji🔑", "10", "2", "__proto__", "constructor", "z"];

type Random = () => number;
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)];

function value(random: Random): unknown {
  const r = random();
  if (r < 0.55) return pick(random, STRINGS);
  if (r < 0.75) return pick(random, NUMBERS);
  if (r < 0.85) return random() < 0.5;
  return null;
}

/** A record with a random subset of `keys` in a random order. */
function record(random: Random, i: number, keys: readonly string[], all = false): ExportRecord {
  const chosen = keys.filter(() => all || random() < 0.7).sort(() => random() - 0.5);
  const data: Record<string, unknown> = {};
  for (const k of chosen) Object.defineProperty(data, k, { value: value(random), enumerable: true, configurable: true, writable: true });
  const id = random() < 0.1 ? pick(random, STRINGS) : `r${i}`;
  const recordedAt = random() < 0.1 ? null : new Date(Date.UTC(2024, 0, 1) + Math.floor(random() * 1e10)).toISOString();
  return { connector: random() < 0.05 ? "odd, connector" : "auth-log", type: "event", id, recordedAt, data };
}

/** A record as readJsonLines writes it. */
const line = (r: ExportRecord) => `{"connector":${JSON.stringify(r.connector)},"type":${JSON.stringify(r.type)},"id":${JSON.stringify(r.id)},"recordedAt":${JSON.stringify(r.recordedAt)},"data":${JSON.stringify(r.data)}}\n`;

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Scans `records` in pages of `pageSize` and returns the CSV (or null) and the summary. */
async function scan(records: ExportRecord[] | string[], pageSize: number) {
  const lines = records.map((r) => (typeof r === "string" ? r : line(r)));
  const dir = spillDir();
  try {
    const s = new CategoryScan(() => dir);
    for (let i = 0; i < lines.length; i += pageSize) s.addPage(Buffer.from(lines.slice(i, i + pageSize).join(""), "utf8"));
    const result = s.finish();
    return { csv: result.csv ? await text(readSpill(result.csv)) : null, summary: result.summary };
  } finally {
    removeSpillDir(dir);
  }
}

/** The slow way: every record parsed, the columns those of the first page. */
function expected(records: ExportRecord[] | string[], pageSize: number) {
  const parsed = records.map((r) => JSON.parse(typeof r === "string" ? r : line(r)) as ExportRecord);
  const first = new CategoryStats();
  for (const r of parsed.slice(0, pageSize)) first.observe(r.recordedAt, r.data);
  const all = new CategoryStats();
  for (const r of parsed) all.observe(r.recordedAt, r.data);
  const names = first.fieldDocs.map((f) => f.name);
  // Through UTF-8, as the spill holds it (a lone surrogate becomes U+FFFD).
  const csv = Buffer.from(csvHeader(first.fieldDocs) + parsed.map((r) => csvRow(r, r.data, names)).join(""), "utf8").toString("utf8");
  return { csv, summary: all.summary(), sameFields: first.fieldCount === all.fieldCount && all.tabular };
}

describe("export CSV transcoding", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`writes the CSV that parsing each record would write (seed ${seed})`, async () => {
      const random = seededRandom(seed);
      const pageSize = 1 + Math.floor(random() * 40);
      // The first page holds every key once, so the columns are known from it and the draft is kept.
      const records = [record(random, 0, KEYS, true), ...Array.from({ length: 600 }, (_, i) => record(random, i + 1, KEYS))];
      const got = await scan(records, pageSize);
      const want = expected(records, pageSize);
      expect(want.sameFields).to.equal(true);
      expect(got.summary).to.deep.equal(want.summary);
      expect(got.csv).to.equal(want.csv);
    });
  }

  it("gives up the draft when a field first appears after the first page, and still counts everything", async () => {
    const random = seededRandom(11);
    const records = Array.from({ length: 300 }, (_, i) => record(random, i, i < 120 ? KEYS.slice(0, 5) : KEYS, i < 10));
    const got = await scan(records, 50);
    const want = expected(records, 50);
    expect(want.sameFields).to.equal(false);
    expect(got.csv).to.equal(null);
    expect(got.summary).to.deep.equal(want.summary);
  });

  it("gives up the draft when a later record holds a nested value: the category is not tabular", async () => {
    const random = seededRandom(12);
    const records = Array.from({ length: 200 }, (_, i) => record(random, i, ["a", "b"], true));
    records[150].data.b = { nested: [1, 2] };
    const got = await scan(records, 25);
    expect(got.csv).to.equal(null);
    expect(got.summary.tabular).to.equal(false);
    expect(got.summary).to.deep.equal(expected(records, 25).summary);
  });

  it("finds the person's name in the first record that has one, in the record's own key order", async () => {
    const plain = (i: number, data: Record<string, unknown>): ExportRecord => ({ connector: "c", type: "t", id: `r${i}`, recordedAt: null, data });
    const records = [plain(0, { display_name: 5, name: null, other: "x" }), ...Array.from({ length: 9 }, (_, i) => plain(i + 1, { other: "y", name: null, display_name: 1 }))];
    records.push(plain(10, { other: "z", display_name: "Ada L.", name: "Ada Lovelace" }), plain(11, { name: "Later", display_name: 1, other: "w" }));
    const got = await scan(records, 3);
    expect(got.summary.name).to.equal("Ada L.");
    expect(got.summary).to.deep.equal(expected(records, 3).summary);
    expect(got.csv).to.equal(expected(records, 3).csv);
  });

  it("parses the lines laid out otherwise than readJsonLines writes them, with the same result", async () => {
    const lines = [
      '{"connector":"c","type":"t","id":"0","recordedAt":null,"data":{"a":1,"b":"x"}}\n',
      '{"connector":"c","type":"t","id":"1","recordedAt":null,"data":{"a":1,"a":"twice, last wins","b":null}}\n',
      '{"connector":"c", "type":"t","id":"2","recordedAt":"2024-01-01T00:00:00.000Z","data":{"b":"spaced"}}\n',
      '{"type":"t","connector":"c","id":"3","recordedAt":null,"data":{"b":"reordered"}}\n',
      '{"connector":"c","type":"t","id":"4","recordedAt":null,"data":{ "a" : 2 }}\n',
      '{"connector":"c","type":"t","id":"5","recordedAt":null,"data":{"a":true}}\n',
      '{"connector":"c","type":"t","id":"6","recordedAt":null,"data":{"a":1e+21,"b":"\\u0041 escaped"}}\n',
      '{"connector":"c","type":"t","id":"7","recordedAt":null,"data":{}}\n',
    ];
    const got = await scan(lines, 1);
    expect(got.csv).to.equal(expected(lines, 1).csv);
    expect(got.csv).to.contain('c,t,1,,"twice, last wins",\n');
    expect(got.csv).to.contain("c,t,6,,1e+21,A escaped\n");
    expect(got.summary).to.deep.equal(expected(lines, 1).summary);
  });
});
