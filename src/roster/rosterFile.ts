import { Readable } from "node:stream";
import { stringify } from "csv-stringify/sync";
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
 * The roster as RFC 4180 CSV in UTF-8 with a byte-order mark (spreadsheet programs then read accents
 * right): a header, then one line per person, those with an email first (they can be written to), in
 * the order they were found. `people()` is read twice (with an email, then without), a chunk at a time,
 * with the event loop's turn between chunks: nothing holds the whole list.
 */
export function rosterCsv(people: () => Iterable<RosterPerson>): Readable {
  async function* lines(): AsyncGenerator<string> {
    yield `\ufeff${stringify([[...ROSTER_COLUMNS]])}`;
    for (const withEmail of [true, false]) {
      let rows: string[][] = [];
      for (const person of people()) {
        if (person.identities.has("email") !== withEmail) continue;
        rows.push(rosterRow(person));
        if (rows.length < CHUNK) continue;
        yield stringify(rows);
        rows = [];
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (rows.length) yield stringify(rows);
    }
  }
  return Readable.from(lines());
}
