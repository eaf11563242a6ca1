import { Readable } from "node:stream";
import { stringify } from "csv-stringify/sync";
import { spreadsheetText } from "../export/content";
import { readSpill, type SpillWriter } from "../export/spill";
import { addRecords, type RosterPerson } from "./people";

/** The roster file's columns, in order (README "Breach rosters" documents each). */
export const ROSTER_COLUMNS = ["emails", "phones", "other_identities", "systems", "records"] as const;

/** People per CSV chunk: a chunk is built and handed on, then the event loop gets its turn. */
const CHUNK = 1_000;

/** One person's CSV cells: several values of one kind are separated by "; ". */
export function rosterRow(person: RosterPerson): string[] {
  const { identities, heldBy } = person;
  const others = [...identities].filter(([kind]) => kind !== "email" && kind !== "phone").map(([kind, values]) => values.map((v) => `${kind}=${v}`).join("; "));
  const records = [...heldBy.values()].reduce<number | null>(addRecords, 0);
  return [
    (identities.get("email") ?? []).join("; "),
    (identities.get("phone") ?? []).join("; "),
    others.filter(Boolean).join("; "),
    [...heldBy.keys()].sort().join("; "),
    records === null ? "" : String(records),
  ];
}

/**
 * A person's line as the file holds it: a cell a spreadsheet would run as a formula (an address such as
 * `=1+2@example.com` is valid, and whoever signs up chooses it; every phone starts with +) is written
 * behind an apostrophe, as the export's CSV files are (spreadsheetText): the roster is opened by the
 * people who must act on a breach, in a spreadsheet more often than not.
 */
const fileRow = (person: RosterPerson): string[] => rosterRow(person).map(spreadsheetText);

/**
 * The roster as RFC 4180 CSV in UTF-8 with a byte-order mark (spreadsheet programs then read accents
 * right): a header, then one line per person (fileRow), those with an email first (they can be written to).
 * `people` is read once, a chunk at a time, with the event loop's turn between chunks; the lines of
 * people without an email wait in `later` (an encrypted spill: a roster may hold millions) and follow.
 */
export function rosterCsv(people: AsyncIterable<RosterPerson>, later: SpillWriter): Readable {
  async function* lines(): AsyncGenerator<string | Buffer> {
    yield `\ufeff${stringify([[...ROSTER_COLUMNS]])}`;
    let rows: string[][] = [];
    let without: string[][] = [];
    for await (const person of people) {
      if (person.identities.has("email")) rows.push(fileRow(person));
      else without.push(fileRow(person));
      if (without.length >= CHUNK) (later.write(stringify(without)), (without = []));
      if (rows.length < CHUNK) continue;
      yield stringify(rows);
      rows = [];
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (rows.length) yield stringify(rows);
    if (without.length) later.write(stringify(without));
    yield* readSpill(later.finish());
  }
  return Readable.from(lines());
}
