import { setImmediate as yieldTurn } from "node:timers/promises";
import type { CountryCode } from "libphonenumber-js";
import type { RosterContext, RosterEntry } from "../sdk";
import type { SqlProvidedIdentity, SqlTableConfig } from "./config";
import type { DialectKind, Statement, StatementResult } from "./database";
import { stopped, unreadableByColumn } from "./errors";
import { identityForm, identityMatcher } from "./identityMatch";
import type { IdentityPlan } from "./identityPlan";
import { countRows, heldBy, holdersOf, selectIdentity, selectKeys } from "./statements";

/**
 * The declarative SQL connector's breach roster (listSubjects): everyone its tables hold, each person
 * once, with as many records as collect would yield for them.
 *
 * A person is who collect treats as one subject: a value of an identity the request carries (the
 * plan's `needs`: every spelling of one email is one person), with every identity derived from it
 * through `provides`; or, for rows found by a provided identity that no row of the providing table
 * with an identity holds (a session whose user id has no users row: an orphan), that value alone.
 *
 * The walk reads each table found by a person's kind in primary-key pages (`chunkSize` rows); for each
 * page it asks the database, per stored spelling, how many rows hold each value and how many of those
 * the walk already passed, so a person is listed at the page where the walk first meets them and
 * nowhere else. Nothing is held beyond one page and its people: statements are one page of keys, or
 * GROUP BY counts over the page's values (each statement at most VALUES_PER_STATEMENT values).
 */

/** What the roster needs of its connector. */
export interface RosterSource {
  name: string;
  tables: readonly SqlTableConfig[];
  plan: IdentityPlan;
  dialect: DialectKind;
  chunk: number;
  country?: CountryCode;
  /** Runs one statement, turning failures into ConnectorErrors (sqlConnector's exec). */
  exec(table: string, statement: Statement): Promise<StatementResult>;
  /** collect's limits on one person's values of a derived identity: past them collect fails, so no count is given. */
  maxDerived: number;
  maxDerivedPairs: number;
}

/** Values in one IN list: keeps each statement short and under SQLite's parameter limit (a phone has up to 20 spellings, an email 8, or 32 with an internationalised domain and accents). */
const VALUES_PER_STATEMENT = 200;

/** One person of a page: their identities by kind (every value collect would follow) and their records. */
interface Person {
  kind: string;
  value: string;
  known: Map<string, Set<string>>;
  records: number;
  /** False when collect could not be matched (it would fail, or cannot find the rows the walk met): no count is given. */
  counted: boolean;
}

const slices = <T>(items: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

export async function* listSqlSubjects(source: RosterSource, ctx: RosterContext): AsyncGenerator<RosterEntry> {
  // Each statement, then the event loop's turn: on SQLite a statement runs synchronously and its promise
  // settles as a microtask, so a page's statements would otherwise run back to back without one (a page
  // of 500 people is some 20 statements and 80 ms: bench/roster.ts).
  const exec: RosterSource["exec"] = async (table, statement) => {
    const result = await source.exec(table, statement);
    await yieldTurn();
    return result;
  };
  const src: RosterSource = { ...source, exec };
  const { name, plan, tables } = src;
  // A user id exactly as stored (identityForm): trimmed, `usr_a ` was listed as `usr_a`, counted as that person's and never as its own.
  const norm = (kind: string, stored: unknown): string => identityForm(kind, stored, src.country);
  const lookup = (kind: string, values: readonly string[]) => identityMatcher(kind, values, src.country).lookup;
  const tally = { people: 0, empty: 0, unreached: 0, withheld: 0 };

  /** Rows per value of `kind` in table t, and how many of them lie at or below `upTo` in primary-key order. */
  const countOf = async (t: SqlTableConfig, values: readonly string[], upTo?: unknown): Promise<Map<string, { n: number; earlier: number }>> => {
    const counts = new Map<string, { n: number; earlier: number }>();
    for (const part of slices(values, VALUES_PER_STATEMENT)) {
      const { rows } = await src.exec(t.table, countRows(src.dialect, t, lookup(t.identityKind, part), upTo));
      for (const row of rows) {
        const v = norm(t.identityKind, row.value);
        const c = counts.get(v) ?? { n: 0, earlier: 0 };
        c.n += Number(row.n);
        c.earlier += Number(row.earlier);
        counts.set(v, c);
      }
    }
    return counts;
  };

  /**
   * PostgreSQL refuses a value its column's type cannot read (`7abc`, met in a text column, asked of an
   * INTEGER users.id: 22P02; digits past its range: 22003), failing the statement: no row holds such a
   * value, so the part is asked again a value at a time and those are left out (MySQL and SQLite convert).
   */
  const unreadable = (error: unknown) => src.dialect === "postgres" && unreadableByColumn(error);
  const eachReadable = async (part: readonly string[], run: (values: readonly string[]) => Promise<Record<string, unknown>[]>): Promise<Record<string, unknown>[]> => {
    try {
      return await run(part);
    } catch (error) {
      if (!unreadable(error) || part.length === 1) {
        if (unreadable(error)) return [];
        throw error;
      }
      const rows: Record<string, unknown>[] = [];
      for (const v of part) rows.push(...(await eachReadable([v], run)));
      return rows;
    }
  };

  /** The values of a provided kind that some row of its source table holds for a person (the rest are orphans). */
  const covered = async (p: SqlProvidedIdentity, values: readonly string[]): Promise<Set<string>> => {
    const source = tables.find((t) => t.table === p.table)!;
    const held = new Set<string>();
    for (const part of slices(values, VALUES_PER_STATEMENT)) {
      const rows = await eachReadable(part, async (asked) => (await src.exec(source.table, heldBy(src.dialect, source, p.column, lookup(p.kind, asked)))).rows);
      for (const row of rows) if (norm(source.identityKind, row.holder) !== "") held.add(norm(p.kind, row.value));
    }
    return held;
  };

  /** Adds to each person the values of `p.kind` their rows of p's source table hold (collect's knownIdentities, for a page of people). */
  const derive = async (p: SqlProvidedIdentity, people: readonly Person[]): Promise<void> => {
    const source = tables.find((t) => t.table === p.table)!;
    const from = source.identityKind;
    const byValue = new Map<string, Person[]>();
    for (const person of people) for (const v of person.known.get(from) ?? []) byValue.set(v, [...(byValue.get(v) ?? []), person]);
    for (const part of slices([...byValue.keys()], VALUES_PER_STATEMENT)) {
      const limit = src.maxDerivedPairs * part.length;
      const { rows } = await src.exec(source.table, selectIdentity(src.dialect, source, p.column, lookup(from, part), limit));
      for (const row of rows) {
        const derived = norm(p.kind, row[p.column]);
        if (derived === "") continue;
        for (const person of byValue.get(norm(from, row[source.identityColumn])) ?? []) {
          const set = person.known.get(p.kind) ?? new Set<string>();
          person.known.set(p.kind, set.add(derived));
        }
      }
      if (rows.length >= limit) for (const v of part) for (const person of byValue.get(v) ?? []) person.counted = false;
    }
    for (const person of people) if ((person.known.get(p.kind)?.size ?? 0) > src.maxDerived) person.counted = false;
  };

  /**
   * The values of `p.kind` an entry carries: those held by this person alone, lowest first (numbers
   * compared as numbers). A value another person also holds (a shared phone) is carried by neither, as
   * the roster joins entries that share an identity and would make the two one.
   */
  const ownValues = async (p: SqlProvidedIdentity, people: readonly Person[]): Promise<Map<Person, string[]>> => {
    const source = tables.find((t) => t.table === p.table)!;
    const from = source.identityKind;
    const owners = new Map<string, Person[]>();
    for (const person of people) for (const v of person.known.get(p.kind) ?? []) owners.set(v, [...(owners.get(v) ?? []), person]);
    const holders = new Map<string, Set<string>>();
    const unsure = new Set<string>();
    for (const part of slices([...owners.keys()], VALUES_PER_STATEMENT)) {
      const limit = src.maxDerivedPairs * part.length;
      const { rows } = await src.exec(source.table, holdersOf(src.dialect, source, p.column, lookup(p.kind, part), limit));
      for (const row of rows) {
        const v = norm(p.kind, row[p.column]);
        const holder = norm(from, row[source.identityColumn]);
        if (holder !== "") holders.set(v, (holders.get(v) ?? new Set<string>()).add(holder));
      }
      if (rows.length >= limit) part.forEach((v) => unsure.add(v));
    }
    const own = new Map<Person, string[]>();
    for (const [v, persons] of owners) {
      const person = persons[0];
      const alone = persons.length === 1 && !unsure.has(v) && [...(holders.get(v) ?? [])].every((h) => person.known.get(from)?.has(h));
      if (!alone) tally.withheld += 1;
      else own.set(person, [...(own.get(person) ?? []), v]);
    }
    for (const values of own.values()) values.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    return own;
  };

  /** The people of one page: their identities, derived, counted over every table, and the entries that list them. */
  const entriesOf = async (people: Person[], startCounts: Map<SqlTableConfig, Map<string, { n: number }>>): Promise<RosterEntry[]> => {
    for (const p of plan.derivations) if (p.kind !== people[0].kind) await derive(p, people);
    for (const t of tables) {
      const values = [...new Set(people.flatMap((person) => [...(person.known.get(t.identityKind) ?? [])]))];
      if (!values.length) continue;
      const counts = startCounts.get(t) ?? (await countOf(t, values));
      for (const person of people) for (const v of person.known.get(t.identityKind) ?? []) person.records += counts.get(v)?.n ?? 0;
    }
    const carried = new Map<string, Map<Person, string[]>>();
    for (const p of plan.derivations) if (p.kind !== people[0].kind) carried.set(p.kind, await ownValues(p, people));
    return people.map((person) => {
      const identities: Record<string, string> = { [person.kind]: person.value };
      // The lowest value of each kind in `identities`; a person's other values (two accounts under one
      // address) in `moreIdentities`, so other systems' entries for any of them join this person.
      const more: Record<string, string[]> = {};
      for (const [kind, own] of carried) {
        const [first, ...rest] = own.get(person) ?? [];
        if (first !== undefined) identities[kind] = first;
        if (rest.length) more[kind] = rest;
      }
      const entry: RosterEntry = Object.keys(more).length ? { identities, moreIdentities: more } : { identities };
      return person.counted && person.records > 0 ? { ...entry, records: person.records } : entry;
    });
  };

  // People by an identity the request carries first, then the orphans of each provided kind.
  const starts = [...plan.needs, ...plan.derivations.map((p) => p.kind)];
  for (const kind of starts) {
    const source = plan.derivations.find((p) => p.kind === kind);
    const found = tables.filter((t) => t.identityKind === kind);
    for (const [at, t] of found.entries()) {
      let after: unknown;
      for (;;) {
        if (ctx.signal.aborted) throw stopped(name, "roster", ctx.signal);
        const { rows } = await src.exec(t.table, selectKeys(src.dialect, t, after, src.chunk));
        const seen = new Set<string>();
        for (const row of rows) {
          const v = norm(kind, row[t.identityColumn]);
          if (v === "") tally.empty += 1;
          else seen.add(v);
        }
        let values = [...seen];
        if (source && values.length) {
          const held = await covered(source, values);
          values = values.filter((v) => !held.has(v));
        }
        // Where each value was met before: in a table of its kind the walk finished, or earlier in this one.
        const startCounts = new Map<SqlTableConfig, Map<string, { n: number; earlier: number }>>();
        for (const [i, other] of found.entries()) if (values.length) startCounts.set(other, await countOf(other, values, i === at ? after : undefined));
        const people: Person[] = [];
        for (const v of values) {
          if (found.slice(0, at).some((other) => (startCounts.get(other)!.get(v)?.n ?? 0) > 0)) continue;
          const here = startCounts.get(t)!.get(v);
          if (here && here.earlier > 0) continue;
          // A stored spelling collect's look-up cannot find (e.g. mixed case outside ASCII on SQLite): listed, without a count.
          if (!here) tally.unreached += 1;
          people.push({ kind, value: v, known: new Map([[kind, new Set([v])]]), records: 0, counted: !!here });
        }
        if (people.length) for (const entry of await entriesOf(people, startCounts)) yield entry;
        tally.people += people.length;
        await ctx.heartbeat();
        if (rows.length < src.chunk) break;
        after = rows[rows.length - 1][t.primaryKey];
      }
    }
  }
  // Counts only: never an identity in the log.
  ctx.logger.info({ connector: name, people: tally.people, rowsWithoutIdentity: tally.empty, unreachedByCollect: tally.unreached, sharedValuesWithheld: tally.withheld }, "roster listed");
}
