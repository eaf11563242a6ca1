import assert from "node:assert/strict";
import { normalizeEmail } from "../../domain/identities";
import { correctionGaps } from "../../domain/corrections";
import { CheckResult, Connector, ConnectorError, ErasureInstruction, FieldChange, Identities, RosterEntry, specProblems, SubjectRecord, TaskContext } from "../sdk";
import { LogLine, testContext } from "./testContext";

export { testContext } from "./testContext";
export type { LogLine, TestTaskContext } from "./testContext";

/**
 * What one conformance test gets from the connector's author. setup() runs before every test and must
 * return fresh data each time (the erase tests change it); teardown() runs after it.
 */
export interface ConformanceRun {
  /** The connector, configured against a system holding records of `subject` and of `otherSubject`. */
  connector: Connector;
  /** The same connector with a broken configuration or connection: its check() must fail (omitted: that case is skipped). */
  badConnector?: Connector;
  /** A person with at least one record; identities as the orchestrator would pass them. */
  subject: Identities;
  /** Another person with at least one record, which nothing may touch. */
  otherSubject: Identities;
  /**
   * A person the system stores in mixed case (e.g. an account created as `Zoe+dsr@Example.COM`), with
   * identities as the orchestrator passes them: normalized (email lower-cased, phone in E.164). Omit it
   * only when the connector finds people by nothing that has a case (then say why in your test).
   */
  mixedCaseSubject?: Identities;
  /**
   * A person your system stores with an internationalised domain in its ASCII (IDNA) spelling (an
   * account created as `bjorn@xn--bcher-kva.de`), given as the orchestrator passes them: in matching
   * form, the domain in Unicode (`{ email: "bjorn@bücher.de" }`). Omit it only when the connector
   * finds people by nothing but ids (say why in your test).
   */
  internationalDomainSubject?: Identities;
  /** How many records collect must return for `subject`, when known. */
  expectedRecordCount?: number;
  /** Records erase may leave for collect to find (e.g. anonymised rows); by default none. */
  kept?: (record: SubjectRecord) => boolean;
  /** Makes the connector's calls fail transiently (until the returned undo runs); omit if you cannot. */
  injectRetryableFault?: () => Promise<() => Promise<void>>;
  /**
   * A field your connector corrects that it holds for `subject`, and a new value for it (as a CORRECTION
   * asks), whose record collect then shows. Without it the rectify cases are skipped (they change data).
   */
  correction?: FieldChange;
  /** Why the erase cases must not run against this system (they change its data): they are skipped with it. */
  skipErase?: string;
  /** Releases what setup made (connections, files, servers). */
  teardown(): Promise<void>;
}

/** Drains collect() into an array (the suite's own buffering; connectors must not buffer). */
export async function collectAll(connector: Connector, ids: Identities, ctx: TaskContext = testContext()): Promise<SubjectRecord[]> {
  const records: SubjectRecord[] = [];
  for await (const record of connector.collect(ids, ctx)) records.push(record);
  return records;
}

/** Runs erase, then polls remote work until it is done; returns the total erased. */
export async function eraseFully(connector: Connector, ids: Identities, instruction: ErasureInstruction, ctx: TaskContext = testContext()): Promise<number> {
  assert.ok(connector.erase, `${connector.spec.name} supports erasure but has no erase()`);
  let outcome = await connector.erase(ids, instruction, ctx);
  let erased = outcome.erased;
  for (let polls = 0; outcome.remote; polls += 1) {
    assert.ok(connector.poll, `${connector.spec.name}: erase returned remote work but the connector has no poll()`);
    assert.ok(polls < 100, `${connector.spec.name}: remote erasure ${outcome.remote.reference} did not finish within 100 polls`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(outcome.remote!.pollAfterMs, 200)));
    outcome = await connector.poll(outcome.remote.reference, ctx);
    erased += outcome.erased;
  }
  return erased;
}

const key = (r: SubjectRecord) => `${r.type}:${r.id}`;
const keys = (records: SubjectRecord[]) => records.map(key).sort();
const byKey = (records: SubjectRecord[]) => [...records].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/** Identities must never reach a log line. Short values (ids like "7") would match counts, so only 6+ characters are searched. */
function assertNothingLogged(lines: LogLine[], ...subjects: Identities[]): void {
  const values = subjects.flatMap((s) => Object.values(s)).filter((v): v is string => typeof v === "string" && v.length >= 6);
  for (const l of lines) {
    const text = `${l.msg} ${JSON.stringify(l.obj)}`;
    for (const v of values) assert.ok(!text.includes(v), `a ${l.level} log line carries an identity of the subject: "${l.msg}"`);
  }
}

async function expectRetryable(work: Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof ConnectorError, `${what}: a transient fault must surface as ConnectorError, got ${String(error)}`);
    assert.equal(error.retryable, true, `${what}: a transient fault must be retryable`);
    assert.ok(error.userMessage.trim().length > 0, `${what}: userMessage is empty`);
    return true;
  });
}

/** Thrown by a case that cannot run against this connector or run: reported as skipped, with the reason. */
export class ConformanceSkip extends Error {}

export const CONFORMANCE_GROUPS = ["spec", "check", "collect", "erase", "rectify", "roster", "transient faults"] as const;
export type ConformanceGroup = (typeof CONFORMANCE_GROUPS)[number];

/** One case of the suite: it gets a fresh run from setup() and throws (an assertion) when the connector fails it. */
export interface ConformanceCase {
  group: ConformanceGroup;
  title: string;
  run(r: ConformanceRun): Promise<void>;
}

const cases: ConformanceCase[] = [];
let currentGroup: ConformanceGroup = "spec";
const group = (name: ConformanceGroup, body: () => void) => {
  currentGroup = name;
  body();
};
const add = (title: string, run: (r: ConformanceRun) => Promise<void>) => void cases.push({ group: currentGroup, title, run });

function needsErasure(r: ConformanceRun): void {
  if (!r.connector.spec.supports.includes("erasure")) throw new ConformanceSkip("the connector does not support erasure");
  if (r.skipErase) throw new ConformanceSkip(r.skipErase);
}

/*
 * The suite every connector must pass (see docs/connectors.md): check passes on a good configuration and
 * fails on a bad one; collect streams only the subject's records, repeatably; erase is idempotent,
 * leaves nothing collect finds except what may be kept and never touches another subject; transient
 * faults are retryable ConnectorErrors. Written once, run by mocha (describeConnectorConformance) and
 * by `dsr connector test` (runConformance).
 */
group("spec", () => {
  add("declares a spec the registry accepts and implements every call it declares", async (r) => {
    const { connector } = r;
    const { spec } = connector;
    assert.deepEqual(specProblems(spec), []);
    if (spec.supports.includes("erasure")) assert.equal(typeof connector.erase, "function", "supports erasure without erase()");
    if (spec.supports.includes("rectification")) assert.equal(typeof connector.rectify, "function", "supports rectification without rectify()");
    if (spec.provides.length) assert.equal(typeof connector.resolve, "function", "provides identities without resolve()");
  });
});

group("check", () => {
  add("passes with a message, when configuration and connection are good", async (r) => {
    const result = await r.connector.check(testContext());
    assert.equal(result.ok, true, `check failed: ${result.message}`);
    assert.ok(result.message.trim().length > 0, "check's message is empty");
  });

  add("fails with a message, when the configuration or connection is broken", async (r) => {
    if (!r.badConnector) throw new ConformanceSkip("no broken configuration was given (badConnector)");
    let result: CheckResult | undefined;
    try {
      result = await r.badConnector.check(testContext());
    } catch (error) {
      assert.ok(error instanceof ConnectorError, `check may only throw ConnectorError, got ${String(error)}`);
      assert.ok(error.userMessage.trim().length > 0, "the ConnectorError's userMessage is empty");
      return;
    }
    assert.equal(result.ok, false, `check passed on the broken connector: ${result.message}`);
    assert.ok(result.message.trim().length > 0, "check's message is empty");
  });
});

group("collect", () => {
  add("returns only the subject's records, each in a declared category with a string id", async (r) => {
    const { connector, subject, otherSubject, expectedRecordCount } = r;
    const ctx = testContext();
    const mine = await collectAll(connector, subject, ctx);
    const theirs = await collectAll(connector, otherSubject, ctx);
    assert.ok(mine.length > 0, "the subject has no records: seed some, or nothing below proves anything");
    assert.ok(theirs.length > 0, "otherSubject has no records: seed some");
    if (expectedRecordCount !== undefined) assert.equal(mine.length, expectedRecordCount, "record count");
    for (const r of mine) {
      assert.ok(connector.spec.categories.includes(r.category), `${key(r)}: category ${r.category} is not in spec.categories`);
      assert.equal(typeof r.id, "string", `${key(r)}: id must be a string`);
      assert.ok(r.id.length > 0 && typeof r.type === "string" && r.type.length > 0, "type and id must not be empty");
      assert.ok(r.data && typeof r.data === "object" && !Array.isArray(r.data), `${key(r)}: data must be an object`);
      assert.doesNotThrow(() => JSON.stringify(r.data), `${key(r)}: data must be JSON-serialisable`);
      if (r.recordedAt !== undefined) assert.ok(r.recordedAt instanceof Date && !Number.isNaN(r.recordedAt.getTime()), `${key(r)}: recordedAt must be a valid Date`);
    }
    assert.equal(new Set(keys(mine)).size, mine.length, "a record was returned twice (check paging)");
    const shared = keys(mine).filter((k) => new Set(keys(theirs)).has(k));
    assert.deepEqual(shared, [], "records of otherSubject were returned for the subject");
    assertNothingLogged(ctx.lines, subject, otherSubject);
  });

  add("finds a subject stored in mixed case, given the normalized identities the orchestrator passes", async (r) => {
    const { connector, mixedCaseSubject, subject } = r;
    if (!mixedCaseSubject) throw new ConformanceSkip("no mixed-case subject was given (mixedCaseSubject)");
    assert.equal(mixedCaseSubject.email, normalizeEmail(mixedCaseSubject.email), "mixedCaseSubject.email must be given normalized (lower case), as the orchestrator passes it");
    const found = await collectAll(connector, mixedCaseSubject);
    assert.ok(found.length > 0, "nobody was found for the mixed-case subject: compare identities case-insensitively (see docs/connectors.md)");
    // Records may be shared (a ticket both are CC'd on), but the two people's sets are not the same.
    assert.notDeepEqual(keys(found), keys(await collectAll(connector, subject)), "the mixed-case subject got exactly the subject's records");
  });

  add("finds a subject stored with the ASCII spelling of an internationalised domain, given the Unicode matching form", async (r) => {
    const { connector, internationalDomainSubject: person, subject } = r;
    if (!person) throw new ConformanceSkip("no subject with an internationalised domain was given (internationalDomainSubject)");
    assert.equal(person.email, normalizeEmail(person.email), "internationalDomainSubject.email must be given in matching form (normalizeEmail), as the orchestrator passes it");
    const found = await collectAll(connector, person);
    assert.ok(found.length > 0, "nobody was found: look the address up by each of emailSpellings(ids.email) (see docs/connectors.md)");
    assert.notDeepEqual(keys(found), keys(await collectAll(connector, subject)), "the subject with an internationalised domain got exactly the subject's records");
  });

  add("streams: hands over the first record before the iterator is drained", async (r) => {
    const { connector, subject } = r;
    const iterable = connector.collect(subject, testContext());
    assert.notEqual(typeof (iterable as unknown as Promise<unknown>).then, "function", "collect must return an AsyncIterable, not a Promise of one");
    assert.equal(typeof iterable[Symbol.asyncIterator], "function", "collect must return an AsyncIterable");
    const iterator = iterable[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.done, false, "the first next() must yield a record");
    assert.equal(typeof first.value.id, "string");
    await iterator.return?.();
    // Stopping early must release what collect held: a full run right after still works.
    assert.ok((await collectAll(connector, subject)).length > 0, "collect found nothing after an early stop");
  });

  add("returns the same records, when run twice", async (r) => {
    const { connector, subject } = r;
    const first = await collectAll(connector, subject);
    const second = await collectAll(connector, subject);
    assert.deepEqual(keys(second), keys(first));
  });
});

/** Everyone listSubjects lists (the suite's own buffering; connectors must stream). */
export async function listAll(connector: Connector, ctx: TaskContext = testContext()): Promise<RosterEntry[]> {
  assert.ok(connector.listSubjects, `${connector.spec.name} has no listSubjects()`);
  const entries: RosterEntry[] = [];
  for await (const entry of connector.listSubjects({ logger: ctx.logger, signal: ctx.signal, heartbeat: () => ctx.heartbeat() })) entries.push(entry);
  return entries;
}

/** An entry's identities and more identities, as (kind, value) pairs. */
const pairsOf = (entry: RosterEntry): Array<[string, unknown]> => [
  ...Object.entries(entry.identities).filter(([, v]) => v !== undefined),
  ...Object.entries(entry.moreIdentities ?? {}).flatMap(([kind, values]) => (values ?? []).map((v): [string, unknown] => [kind, v])),
];

/** Whether a roster entry names `person`: one identity of the same kind and value. */
const names = (entry: RosterEntry, person: Identities): boolean => pairsOf(entry).some(([kind, value]) => (person as Record<string, string | undefined>)[kind] === value);

function needsRoster(r: ConformanceRun): void {
  if (!r.connector.listSubjects) throw new ConformanceSkip("the connector cannot list the people it holds (no listSubjects): rosters name it as not listable");
}

// Listed before any erase case: against one system never reset between cases, the subject is still there.
group("roster", () => {
  add("lists the subject once, by identities in matching form, and every person once", async (r) => {
    needsRoster(r);
    const { connector, subject, otherSubject, mixedCaseSubject } = r;
    const entries = await listAll(connector);
    const seen = new Map<string, number>();
    entries.forEach((entry, i) => {
      const ids = pairsOf(entry);
      assert.ok(ids.length > 0, `entry ${i} holds no identity`);
      for (const [kind, value] of ids) {
        assert.equal(typeof value, "string", `entry ${i}: ${kind} is not a string`);
        if (kind === "email") assert.equal(value, normalizeEmail(value as string), `entry ${i}: an email not in matching form (normalizeEmail)`);
        const key = `${kind}:${value}`;
        assert.ok(!seen.has(key), `entries ${seen.get(key)} and ${i} both list ${kind}: a person must be listed once`);
        seen.set(key, i);
      }
      if (entry.records !== undefined) assert.ok(Number.isInteger(entry.records) && entry.records > 0, `entry ${i}: records must be a positive whole number when given`);
    });
    const theirs = entries.filter((e) => names(e, subject));
    assert.equal(theirs.length, 1, `the subject is listed ${theirs.length} times, not once`);
    assert.ok(!names(theirs[0], otherSubject), "one entry names both the subject and the other subject");
    assert.equal(entries.filter((e) => names(e, otherSubject)).length, 1, "the other subject is not listed once");
    if (mixedCaseSubject) assert.equal(entries.filter((e) => names(e, mixedCaseSubject)).length, 1, "the mixed-case subject is not listed once in matching form");
    if (theirs[0].records !== undefined) assert.equal(theirs[0].records, (await collectAll(connector, subject)).length, "the subject's records count differs from what collect yields");
  });
});

/**
 * The subject's records before an erase case, or a skip when there are none: a run against one system
 * that nothing resets between cases (`dsr connector test --erase`) meets a subject an earlier case
 * erased, and erasing nobody proves nothing, so the case must not pass.
 */
async function recordsToErase(r: ConformanceRun): Promise<SubjectRecord[]> {
  const records = await collectAll(r.connector, r.subject);
  if (!records.length) throw new ConformanceSkip("the subject has no records left to erase: an earlier case of this run erased them (the system is not reset between cases), so this case would prove nothing");
  return records;
}

// The cases that erase nothing from a good connector come first: against one system never reset
// between cases, they still meet the subject whole. The first that erases checks the other subject too,
// so the last (which a shared system reaches with the subject gone) is covered in such a run.
group("erase", () => {
  add("erases nothing, when no category is listed", async (r) => {
    needsErasure(r);
    const { connector, subject, otherSubject } = r;
    const before = byKey(await recordsToErase(r));
    const others = byKey(await collectAll(connector, otherSubject));
    assert.equal(await eraseFully(connector, subject, { categories: [] }), 0);
    assert.deepEqual(byKey(await collectAll(connector, subject)), before);
    assert.deepEqual(byKey(await collectAll(connector, otherSubject)), others, "erase with no category listed changed otherSubject's records");
  });

  add("keeps every dated record, when keepRecordedSince covers all time", async (r) => {
    needsErasure(r);
    const { connector, subject, otherSubject } = r;
    const { categories } = connector.spec;
    const dated = (await recordsToErase(r)).filter((r) => r.recordedAt);
    if (!dated.length) throw new ConformanceSkip("the subject has no dated records (recordedAt)");
    const others = byKey(await collectAll(connector, otherSubject));
    const since = Object.fromEntries(categories.map((c) => [c, new Date(0)]));
    await eraseFully(connector, subject, { categories, keepRecordedSince: since });
    const left = new Set(keys(await collectAll(connector, subject)));
    assert.deepEqual(keys(dated).filter((k) => !left.has(k)), [], "records recorded after keepRecordedSince were erased");
    assert.deepEqual(byKey(await collectAll(connector, otherSubject)), others, "erasing the subject changed otherSubject's records");
  });

  // A purge erases the undated records its deletion kept by id (eraseHeldBack), and asks erase to leave
  // every undated record alone: one the person made since cannot be told apart by its date.
  add("keeps every record without a date, when keepUndated (a connector with eraseHeldBack)", async (r) => {
    needsErasure(r);
    const { connector, subject } = r;
    if (!connector.eraseHeldBack) throw new ConformanceSkip("the connector has no eraseHeldBack: its purges erase undated records by identity, and say so");
    const undated = (await recordsToErase(r)).filter((x) => !x.recordedAt);
    if (!undated.length) throw new ConformanceSkip("the subject has no records without a date");
    const { categories } = connector.spec;
    await eraseFully(connector, subject, { categories, keepRecordedSince: Object.fromEntries(categories.map((c) => [c, new Date(0)])), keepUndated: true });
    const left = new Set(keys(await collectAll(connector, subject)));
    assert.deepEqual(keys(undated).filter((k) => !left.has(k)), [], "records without a date were erased under keepUndated");
  });

  add("leaves nothing collect finds but what may be kept, when the subject is erased", async (r) => {
    needsErasure(r);
    const { connector, subject, otherSubject, kept = () => false } = r;
    const ctx = testContext();
    const before = await recordsToErase(r);
    const others = byKey(await collectAll(connector, otherSubject));
    const erased = await eraseFully(connector, subject, { categories: connector.spec.categories }, ctx);
    if (before.some((r) => !kept(r))) assert.ok(erased > 0, "erase reported 0 erased but records were there");
    const left = (await collectAll(connector, subject)).filter((r) => !kept(r));
    assert.deepEqual(keys(left), [], "records collect still finds after erase (and kept() does not allow)");
    assert.deepEqual(byKey(await collectAll(connector, otherSubject)), others, "erasing the subject changed otherSubject's records");
    assertNothingLogged(ctx.lines, subject, otherSubject);
    // The case after it that erases again meets nothing to erase on a system never reset: say it here too.
    assert.equal(await eraseFully(connector, subject, { categories: connector.spec.categories }, testContext()), 0, "a second erasure (a new idempotency key) erased more");
  });

  add("leaves no personal field on any record it had, looked up by id after the subject is erased (connectors with lookup)", async (r) => {
    needsErasure(r);
    const { connector, subject, kept = () => false } = r;
    if (!connector.lookup) throw new ConformanceSkip("the connector cannot look records up by id (no lookup)");
    const before = (await recordsToErase(r)).filter((x) => !kept(x));
    await eraseFully(connector, subject, { categories: connector.spec.categories });
    const still: string[] = [];
    for await (const found of connector.lookup(before.map((x) => ({ category: x.category, type: x.type, id: x.id })), testContext())) {
      if (found.personalFields.length) still.push(`${found.type}:${found.id} (${found.personalFields.join(", ")})`);
    }
    assert.deepEqual(still, [], "records that still hold personal data after erase, though not reported residual");
  });

  add("erases nothing more, when run a second time", async (r) => {
    needsErasure(r);
    const { connector, subject } = r;
    await recordsToErase(r);
    const ctx = testContext();
    const instruction = { categories: connector.spec.categories };
    await eraseFully(connector, subject, instruction, ctx);
    const afterFirst = byKey(await collectAll(connector, subject));
    // A retried task reuses its idempotency key; a system that replays the first answer may repeat its count.
    await eraseFully(connector, subject, instruction, testContext({ idempotencyKey: ctx.idempotencyKey, attempt: 2 }));
    assert.deepEqual(byKey(await collectAll(connector, subject)), afterFirst, "a retry with the same idempotency key changed records");
    // A later request (a new key) finds nothing left to erase.
    assert.equal(await eraseFully(connector, subject, instruction, testContext()), 0, "a second erasure erased more");
    assert.deepEqual(byKey(await collectAll(connector, subject)), afterFirst);
  });

  add("leaves the other subject's records untouched, when the subject is erased", async (r) => {
    needsErasure(r);
    const { connector, subject, otherSubject } = r;
    await recordsToErase(r);
    const before = byKey(await collectAll(connector, otherSubject));
    await eraseFully(connector, subject, { categories: connector.spec.categories });
    assert.deepEqual(byKey(await collectAll(connector, otherSubject)), before, "erasing the subject changed otherSubject's records");
  });
});

/** The correction to make, or a skip (with what to give) when the connector does not correct data or no correction was given. */
function correctionOf(r: ConformanceRun): FieldChange {
  if (!r.connector.spec.supports.includes("rectification")) throw new ConformanceSkip("the connector does not support rectification");
  if (!r.correction) throw new ConformanceSkip("no correction was given (correction: a field the connector holds for subject and a new value; these cases change the system's data)");
  return r.correction;
}

/** A field no connector holds: every rectify must name it as not held. */
const UNHELD_FIELD = "conformanceFieldNoSystemHolds";

group("rectify", () => {
  add("names every field asked as changed or not held, and no other; collect shows the new value; otherSubject is untouched", async (r) => {
    const correction = correctionOf(r);
    const { connector, subject, otherSubject } = r;
    const ctx = testContext();
    const others = byKey(await collectAll(connector, otherSubject));
    const asked = [correction, { field: UNHELD_FIELD, value: "not held anywhere" }];
    const outcome = await connector.rectify!(subject, asked, ctx);
    const gaps = correctionGaps(asked.map((c) => c.field), outcome.changed, outcome.notHeld);
    assert.deepEqual(gaps.silent, [], "rectify was silent about fields asked (neither changed nor notHeld)");
    assert.deepEqual(gaps.notAsked, [], "rectify reported fields the correction did not ask for");
    assert.ok(outcome.changed.includes(correction.field), `rectify did not report ${correction.field} changed for the subject, who holds it`);
    assert.ok(outcome.notHeld.includes(UNHELD_FIELD), `rectify did not report ${UNHELD_FIELD} not held`);
    assert.ok(JSON.stringify(await collectAll(connector, subject)).includes(JSON.stringify(correction.value)), "collect does not show the corrected value");
    assert.deepEqual(byKey(await collectAll(connector, otherSubject)), others, "correcting the subject changed otherSubject's records");
    assertNothingLogged(ctx.lines, subject, otherSubject);
    if (correction.value.length >= 6) for (const l of ctx.lines) assert.ok(!`${l.msg} ${JSON.stringify(l.obj)}`.includes(correction.value), `a ${l.level} log line carries the corrected value: "${l.msg}"`);
  });

  add("reports the same when run again (a retried task), and changes no one for a person it does not hold", async (r) => {
    const correction = correctionOf(r);
    const { connector, subject, otherSubject } = r;
    const first = await connector.rectify!(subject, [correction], testContext());
    assert.deepEqual(await connector.rectify!(subject, [correction], testContext()), first, "a second rectify reported differently");
    const others = byKey(await collectAll(connector, otherSubject));
    // The subject's kinds of identity, with values no one holds.
    const nobody = Object.fromEntries(Object.keys(subject).map((kind) => [kind, kind === "email" ? "conformance.nobody@example.invalid" : `conformance-nobody-${kind}`])) as Identities;
    assert.deepEqual(await connector.rectify!(nobody, [correction], testContext()), { changed: [], notHeld: [correction.field] }, "rectify for a person the system does not hold reported a change");
    assert.deepEqual(byKey(await collectAll(connector, otherSubject)), others, "correcting a person the system does not hold changed otherSubject's records");
  });
});

group("roster", () => {
  add("no longer lists the subject after erase, unless records were kept", async (r) => {
    needsRoster(r);
    needsErasure(r);
    const { connector, subject, kept = () => false } = r;
    await eraseFully(connector, subject, { categories: connector.spec.categories });
    const left = await collectAll(connector, subject);
    assert.deepEqual(left.filter((x) => !kept(x)).map((x) => `${x.type}:${x.id}`), [], "erase left records");
    const theirs = (await listAll(connector)).filter((e) => names(e, subject));
    if (!left.length) assert.deepEqual(theirs, [], "the roster still lists the subject after erase left nothing");
    else if (theirs.length !== 1 || (theirs[0].records !== undefined && theirs[0].records !== left.length)) assert.fail(`after erase kept ${left.length} records, the roster lists the subject ${theirs.length} times (${theirs.map((e) => e.records).join(", ")} records)`);
  });
});

group("transient faults", () => {
  add("surface as retryable ConnectorErrors from collect, and collect works once the fault is gone", async (r) => {
    const { connector, subject, injectRetryableFault } = r;
    if (!injectRetryableFault) throw new ConformanceSkip("no way to inject a transient fault was given (injectRetryableFault)");
    const expected = keys(await collectAll(connector, subject));
    const undo = await injectRetryableFault();
    try {
      await expectRetryable(collectAll(connector, subject), "collect");
    } finally {
      await undo();
    }
    assert.deepEqual(keys(await collectAll(connector, subject)), expected);
  });

  add("surface as retryable ConnectorErrors from erase, and a retry finishes the erasure", async (r) => {
    needsErasure(r);
    const { connector, subject, injectRetryableFault, kept = () => false } = r;
    if (!injectRetryableFault) throw new ConformanceSkip("no way to inject a transient fault was given (injectRetryableFault)");
    const ctx = testContext();
    const instruction = { categories: connector.spec.categories };
    const undo = await injectRetryableFault();
    try {
      await expectRetryable(eraseFully(connector, subject, instruction, ctx), "erase");
    } finally {
      await undo();
    }
    await eraseFully(connector, subject, instruction, testContext({ idempotencyKey: ctx.idempotencyKey, attempt: 2 }));
    assert.deepEqual(keys((await collectAll(connector, subject)).filter((r) => !kept(r))), []);
  });
});

/** Every case of the suite, in order. */
export const CONFORMANCE_CASES: readonly ConformanceCase[] = cases;

/** Declares the suite inside a mocha file: one `it` per case, a fresh setup() before each and its teardown after. */
export function describeConnectorConformance(title: string, setup: () => Promise<ConformanceRun>): void {
  describe(`${title}: connector conformance`, function () {
    let current: ConformanceRun | undefined;
    beforeEach(async () => {
      current = await setup();
    });
    afterEach(async () => {
      const finished = current;
      current = undefined;
      await finished?.teardown();
    });
    for (const name of CONFORMANCE_GROUPS) {
      describe(name, () => {
        for (const c of cases.filter((x) => x.group === name)) {
          it(c.title, async function () {
            assert.ok(current, "setup() did not return a run");
            try {
              await c.run(current);
            } catch (error) {
              if (error instanceof ConformanceSkip) this.skip();
              throw error;
            }
          });
        }
      });
    }
  });
}

/** How one case went. */
export interface ConformanceResult {
  group: ConformanceGroup;
  title: string;
  outcome: "pass" | "fail" | "skipped";
  /** Why it failed or was skipped (the assertion's message); null when it passed. */
  reason: string | null;
  ms: number;
}

/** Runs the suite outside mocha (each case with a fresh setup() and its teardown), reporting each result as it ends. */
export async function runConformance(setup: () => Promise<ConformanceRun>, onResult: (result: ConformanceResult) => void = () => undefined): Promise<ConformanceResult[]> {
  const results: ConformanceResult[] = [];
  for (const c of cases) {
    const started = Date.now();
    let current: ConformanceRun | undefined;
    let outcome: ConformanceResult["outcome"] = "pass";
    let reason: string | null = null;
    try {
      current = await setup();
      await c.run(current);
    } catch (error) {
      outcome = error instanceof ConformanceSkip ? "skipped" : "fail";
      reason = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    } finally {
      await current?.teardown().catch((error: unknown) => {
        if (outcome === "pass") [outcome, reason] = ["fail", `teardown failed: ${(error as Error).message}`];
      });
    }
    const result = { group: c.group, title: c.title, outcome, reason, ms: Date.now() - started };
    results.push(result);
    onResult(result);
  }
  return results;
}
