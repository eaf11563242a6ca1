import {
  CheckResult,
  ConnectorError,
  Connector,
  ConnectorAction,
  ConnectorSpec,
  ErasureInstruction,
  ErasureOutcome,
  FieldChange,
  HeldBackOutcome,
  Identities,
  IdentityKind,
  LookedUpRecord,
  RecordRef,
  RectifyOutcome,
  ResidualRecords,
  RosterContext,
  RosterEntry,
  specProblems,
  SubjectRecord,
  TaskContext,
} from "../sdk";
import { FOLDED_CASE_LIMIT } from "../../domain/identities";
import { appendTo } from "../../domain/multiMap";
import { configProblems, ReplacementValue, SqlConnectorConfig, SqlConnectorConfigError, SqlProvidedIdentity, SqlTableConfig } from "./config";
import { connectionProblems, SqlConnection, SqlDatabase, Statement, StatementResult, WriteOutOfTime } from "./database";
import { classifyDbError, Operation, stopped, toConnectorError, unreadableByColumn } from "./errors";
import { ForeignKey, foreignKeyCatalog, foreignKeyProblems, foreignKeysOf, HELD_BACK_BY_HOLD, HELD_BACK_ROW_CHANGED, referredRows, setOffBy, unreferenced } from "./foreignKeys";
import { IdentityPlan, planIdentities } from "./identityPlan";
import { readRecordedAt, unreadableReason } from "../recordedAt";
import { recordedAtOf, toRecord } from "./records";
import { correctionsByTable, identityColumns, identityValueProblem } from "./rectifyGuard";
import { identityForm, identityMatcher, IdentityMatcher } from "./identityMatch";
import { listSqlSubjects } from "./roster";
import { anonymizeRows, columnCollation, datedSample, deleteRows, holdersOf, probe, selectByKeys, selectIdentity, selectPage, updateColumns } from "./statements";

/** How the connector runs: the connection (built by the caller from its environment) and the page size. */
export interface SqlConnectorOptions extends SqlConnection {
  /** Rows per page (collect, and listSubjects' walk) and per chunk (erase): 1-5000, default 500. Each chunk is one short statement; a chunk whose statement cannot end within its unit of erasure is halved. */
  chunkSize?: number;
}

/** The subject's identities in matching form, by kind, and whether the look-up folds ASCII letters only (one call's, never shared between calls). */
interface KnownIdentities {
  values: Map<string, string[]>;
  asciiOnly: boolean;
}

/** The declarative SQL connector: a Connector whose optional calls are all present, plus close(). */
export interface SqlConnector extends Connector {
  resolve(ids: Identities, ctx: TaskContext): Promise<Partial<Record<IdentityKind, string>>>;
  erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome>;
  rectify(ids: Identities, changes: readonly FieldChange[], ctx: TaskContext): Promise<RectifyOutcome>;
  listSubjects(ctx: RosterContext): AsyncIterable<RosterEntry>;
  lookup(refs: readonly RecordRef[], ctx: TaskContext): AsyncIterable<LookedUpRecord>;
  /** Ends the connections it opened from `url`; a DataSource passed in is left to its owner. */
  close(): Promise<void>;
}

/**
 * More values of one derived identity than this are a value many people share, not a person's: the
 * look-up fails rather than follow some of them (or all). At most MAX_DERIVED_PAIRS (the value the row
 * was found by, the derived value) are read to tell.
 */
const MAX_DERIVED = 100;
const MAX_DERIVED_PAIRS = 1000;

/** Why records found by phone were not searched for, when the subject's phone is other people's too. */
const SHARED_PHONE = "found by a phone number other accounts hold too (a household's line): what it leads to cannot be told apart as the subject's, so it was not searched";
const EVERY_CASE = `the address has more letters outside ASCII than every mix of their case can be asked for (${FOLDED_CASE_LIMIT} spellings), and this database folds the case of ASCII letters only (SQLite's NOCASE, PostgreSQL's lower() under the C character type): rows holding it in another mix of case than lower, upper or capitalised words were not searched for. A generated, indexed column of the address in lower case, made by the application, reaches them (docs/connectors.md, "Matching identities")`;
const DEFAULT_CHUNK = 500;
/**
 * Rows eraseHeldBack erases in one unit of erasure, one statement each (each guarded by the value that
 * row holds). A unit must end within the task's lease (a hold placement waits for live units only):
 * 500 statements of a chunk took over 2 s on a busy machine, the lease was lost mid-unit, the attempt
 * went on erasing beside its retry, and what it erased was counted by neither (purge said 73 of 372).
 */
const HELD_BACK_ROWS_PER_UNIT = 25;
/** The most rows of one person a correction of a column people are found by moves in one statement (see correctRows). */
const WHOLE_ROWS = 5000;
/** A write that cannot end within its unit (erasure: of one row; correction: of one row, or of a table written whole): the database is too slow for the lease. */
function outOfTime(table: string, op: "erase" | "rectify" | "rectify-whole" = "erase", corrected = 0): ConnectorError {
  const what = op === "erase" ? `Erasing one row of ${table}` : op === "rectify" ? `Correcting one row of ${table}` : `Correcting the rows of ${table} (a column people are found by: all in one statement)`;
  // A correction's earlier pages committed in units of their own: the message must not say the correction changed nothing.
  const before = op === "rectify" ? ` (${corrected} of the person's rows of ${table} hold the corrected values and stay so; the retry goes on from them)` : "";
  return new ConnectorError(
    `${what} took longer than a unit of erasure may last (the task's lease): the statement cut changed nothing${before}; the task will be retried`,
    `${table}: a ${op} write was cut at its unit's deadline`,
    true,
  );
}

/** How long a correction waits for another correction giving the same identity to end (then retried). */
const CLAIM_WAIT_MS = 10_000;

/** Builds the spec a configuration declares; exported so tooling can show it without connecting. */
export function sqlConnectorSpec(config: SqlConnectorConfig, plan: IdentityPlan = planIdentities(config)): ConnectorSpec {
  const supports: ConnectorAction[] = ["access", "erasure"];
  if (Object.keys(config.rectifiable ?? {}).length) supports.push("rectification");
  return {
    name: config.name,
    version: config.version,
    supports,
    needs: plan.needs,
    needsAny: true,
    provides: plan.provides,
    categories: [...new Set(config.tables.map((t) => t.category))],
    correctionFields: Object.keys(config.rectifiable ?? {}),
    // Every UPDATE of a correction runs in a unit of its own (correctRows).
    rectifiesInUnits: true,
    identityFields: Object.entries(config.rectifiable ?? {}).flatMap(([field, target]) => {
      const t = config.tables.find((x) => x.table === target.table);
      const kind = t && identityColumns(t, config.provides).get(target.column);
      return kind ? [{ field, kind }] : [];
    }),
  };
}

/**
 * Why a MySQL/MariaDB email column (its collation, generation expression and type, from
 * information_schema) cannot be searched case-insensitively by IDENTITY_MATCH, or undefined when it can:
 * a `_bin` or `_cs` collation, or a binary type (no collation), unless the column is generated as the
 * lower case of another (then the lower-case spelling sent finds every stored spelling).
 */
export function caseProblem(t: SqlTableConfig, column: Record<string, unknown>): string | undefined {
  const collation = column.collation === null || column.collation === undefined ? undefined : String(column.collation);
  if (collation !== undefined && !/_(bin|cs)$/i.test(collation)) return undefined;
  if (/^\s*(lcase|lower)\s*\(/i.test(String(column.generation ?? ""))) return undefined;
  const how = collation ?? `a binary ${String(column.type)} column`;
  return `table ${t.table}: column ${t.identityColumn} compares letter case (${how}), so an address stored as Ada@Example.com is not found by ada@example.com; give it a case-insensitive collation (utf8mb4_unicode_ci), or point identityColumn at a generated column of LOWER(${t.identityColumn}), indexed`;
}

/** The column a MySQL/MariaDB column is generated from as its lower case (`lower(`email`)`), from information_schema, or undefined. */
export function loweredFrom(column: Record<string, unknown>): string | undefined {
  return /^\s*(?:lcase|lower)\s*\(\s*`?([A-Za-z0-9_$]+)`?\s*\)\s*$/i.exec(String(column.generation ?? ""))?.[1];
}

/** Whether a stored value is the replacement ANONYMIZE wrote (as the driver reads it back: 1 for true, "12" or 12). */
function holdsReplacement(stored: unknown, replacement: ReplacementValue): boolean {
  if (replacement === null) return stored === null || stored === undefined;
  if (stored === null || stored === undefined) return false;
  if (typeof replacement === "boolean") return stored === replacement || Number(stored) === Number(replacement);
  return String(stored) === String(replacement);
}

/**
 * Connects a SQL database (SQLite, MySQL, MariaDB, PostgreSQL) from configuration alone. Throws
 * SqlConnectorConfigError listing every problem of the configuration and options; does not connect
 * until the first call.
 */
export function createSqlConnector(config: SqlConnectorConfig, options: SqlConnectorOptions): SqlConnector {
  const given = config as Partial<SqlConnectorConfig> | null;
  const shape = configProblems(config);
  // Identity derivation can only be planned on a well-formed configuration; its problems join the rest.
  const plan = shape.length ? undefined : planIdentities(config);
  const problems = [
    // Name and version only: the tables' categories are checked with the rest of the shape.
    ...specProblems({ name: given?.name as string, version: given?.version as string, supports: ["access"], needs: [], provides: [], categories: ["ACCOUNT"] }),
    ...shape,
    ...(plan?.problems ?? []),
    ...connectionProblems(options),
  ];
  const chunk = options.chunkSize ?? DEFAULT_CHUNK;
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > 5000) problems.push("chunkSize must be a whole number from 1 to 5000");
  if (problems.length || !plan) throw new SqlConnectorConfigError(String(given?.name ?? ""), problems);

  const cfg: SqlConnectorConfig = structuredClone(config);
  // Tables whose rows a correction or the application can take away from the person's identities (an
  // address, a phone, a column rectifiable): their rows are looked up by id after an erasure.
  const movable = cfg.tables.filter((t) => t.identityKind === "email" || t.identityKind === "phone" || Object.values(cfg.rectifiable ?? {}).some((r) => r.table === t.table && r.column === t.identityColumn));
  const name = cfg.name;
  const byTable = new Map(cfg.tables.map((t) => [t.table, t]));
  const db = new SqlDatabase(options);
  const d = db.dialect;
  const country = cfg.defaultPhoneCountry;

  const exec = async (op: Operation, table: string, statement: Statement): Promise<StatementResult> => {
    try {
      return await db.run(statement);
    } catch (error) {
      throw toConnectorError(error, name, op, table);
    }
  };

  /**
   * A write inside a unit of the hold fence (an erasure's, a correction's): bounded by the unit's time
   * (ctx.unitTimeLeft), so no statement writes after its unit ended and a hold placement stopped waiting
   * for it. WriteOutOfTime (nothing changed) goes to the caller as it is, to try smaller or give up.
   */
  const write = async (table: string, statement: Statement, ctx: TaskContext, op: Operation = "erase"): Promise<StatementResult> => {
    try {
      return await db.runWithin(statement, () => ctx.unitTimeLeft?.());
    } catch (error) {
      if (error instanceof WriteOutOfTime) throw error;
      throw toConnectorError(error, name, op, table);
    }
  };

  /**
   * MySQL/MariaDB compare an email column under its own collation (IDENTITY_MATCH): one that compares
   * letter case (`utf8mb4_bin`, a `_cs` one, a binary column) finds `Ada@Example.com` by none of the
   * spellings sent, so the person would be reported as holding nothing there, and an erasure as done
   * with her row still in place. Such a column is a configuration problem, named, found by check()
   * and refused by every call; a generated lower-case column (the documented remedy) is not. Read once
   * per connector (again after a failure).
   */
  let caseChecked: Promise<string[]> | undefined;
  const caseProblems = (op: Operation): Promise<string[]> => {
    if (d !== "mysql") return Promise.resolve([]);
    caseChecked ??= (async () => {
      const problems: string[] = [];
      for (const t of cfg.tables.filter((x) => x.identityKind === "email")) {
        const { rows } = await exec(op, t.table, columnCollation(t.table, t.identityColumn));
        const problem = rows[0] && caseProblem(t, rows[0]);
        if (problem) problems.push(problem);
        const source = rows[0] && loweredFrom(rows[0]);
        if (source) loweredSource.set(t.table, source);
      }
      return problems;
    })().catch((error: unknown) => {
      caseChecked = undefined;
      throw error;
    });
    return caseChecked;
  };

  /**
   * The foreign keys referring to configured tables, from the database's own catalog (foreignKeys.ts):
   * read once per connector by the first erase, and afresh by every check() (so a key added since is
   * seen by the next erase); again after a failure. Never per row.
   */
  let keysRead: Promise<ForeignKey[]> | undefined;
  const foreignKeys = (op: Operation, fresh = false): Promise<ForeignKey[]> => {
    if (fresh) keysRead = undefined;
    keysRead ??= exec(op, "", foreignKeyCatalog(d, cfg.tables.map((t) => t.table)))
      .then(({ rows }) => foreignKeysOf(d, rows, cfg.tables))
      .catch((error: unknown) => {
        keysRead = undefined;
        throw error;
      });
    return keysRead;
  };

  /**
   * Whether the email look-up folds ASCII letters only: SQLite's NOCASE always; PostgreSQL's lower() when
   * the database's character type is C or POSIX (asked once); MySQL/MariaDB's _ci collations fold every
   * letter (caseProblems refuses the others). Then an address with more letters outside ASCII than
   * foldedCaseSpellings can spell in every mix of case is reported not searched in its other spellings.
   */
  let asciiFoldRead: Promise<boolean> | undefined;
  const foldsAsciiOnly = (op: Operation): Promise<boolean> => {
    if (d !== "postgres") return Promise.resolve(d === "sqlite");
    asciiFoldRead ??= exec(op, "", { sql: "SELECT lower('É') AS folded", params: [] })
      .then(({ rows }) => rows[0]?.folded !== "é")
      .catch((error: unknown) => {
        asciiFoldRead = undefined;
        throw error;
      });
    return asciiFoldRead;
  };

  /**
   * Tables whose email identityColumn is generated as the lower case of another column (the remedy for a
   * `_bin` one, caseProblem), with that column: read by caseProblems. MariaDB's LOWER() makes the
   * capital dotted `İ` a plain `i` and a word's last `Σ` a `σ`, so the generated value of İnci's
   * `İnci.Yilmaz@` row is the plain `inci.yilmaz@`, another person's address: a row is confirmed by the
   * address it was generated from (storedIdentity). Before, the plain address's access exported İnci's
   * row and its deletion erased it, and İnci's own request found nothing.
   */
  const loweredSource = new Map<string, string>();
  /** The value a row's identity is confirmed by: its identityColumn, or the column that is generated from (loweredSource). */
  const storedIdentity = (t: SqlTableConfig, row: Record<string, unknown>): unknown => {
    const source = loweredSource.get(t.table);
    return source !== undefined && source in row ? row[source] : row[t.identityColumn];
  };
  /** The column storedIdentity reads besides identityColumn, if any, for a statement's column list. */
  const identitySource = (t: SqlTableConfig): string[] => {
    const source = loweredSource.get(t.table);
    return source === undefined ? [] : [source];
  };

  /** Fails the call, not retryably, while an email column compares letter case (caseProblems). */
  const refuseCaseSensitive = async (op: Operation): Promise<void> => {
    const problems = await caseProblems(op);
    if (!problems.length) return;
    throw new ConnectorError(
      `${name}: ${problems.join("; ")}; the ${op} stopped rather than miss a person stored in other letter case. Fix the connector configuration (see docs/connectors.md, "Matching identities")`,
      `${name} ${op}: case-sensitive email column`,
      false,
    );
  };

  /**
   * The subject's identities, in matching form: those given, then those derived from this database's
   * own tables (a phone stored as `020 7946 0958` is derived as +442079460958 with defaultPhoneCountry GB),
   * with whether this database's look-up folds ASCII letters only.
   */
  const knownIdentities = async (ids: Identities, op: Operation, ctx: TaskContext): Promise<KnownIdentities> => {
    await refuseCaseSensitive(op);
    const asciiOnly = await foldsAsciiOnly(op);
    // What this database's own RESOLVE found for the request earlier (a deletion's): not given, followed beside what the rows yield now.
    const earlier = new Map<string, string>();
    for (const kind of ctx.foundHere ?? []) {
      const value = ids[kind as keyof Identities];
      if (plan.provides.includes(kind as IdentityKind) && typeof value === "string" && value !== "") earlier.set(kind, value);
    }
    const known = new Map<string, string[]>();
    for (const [kind, value] of Object.entries(ids)) if (typeof value === "string" && value !== "" && !earlier.has(kind)) known.set(kind, [value]);
    for (const p of plan.derivations) {
      const t = byTable.get(p.table)!;
      const from = known.get(t.identityKind);
      const given = typeof ids[p.kind] === "string" && ids[p.kind] !== "" && !earlier.has(p.kind) ? (ids[p.kind] as string) : undefined;
      if ((known.has(p.kind) && given === undefined) || !from) continue;
      const matcher = identityMatcher(t.identityKind, from, country);
      const { rows } = await exec(op, t.table, selectIdentity(d, t, p.column, matcher.lookup, MAX_DERIVED_PAIRS, identitySource(t)));
      // An empty value is nobody's identity: following it would reach every row holding an empty value.
      const confirmed = rows.filter((r) => matcher.confirms(storedIdentity(t, r)));
      const values = [...new Set(confirmed.map((r) => identityForm(p.kind, r[p.column], country)))].filter((v) => v !== "");
      const before = earlier.get(p.kind);
      if (before !== undefined && !values.includes(before) && !(await heldByOther(op, p, t, before))) values.push(before);
      if (values.length > MAX_DERIVED || rows.length >= MAX_DERIVED_PAIRS) {
        // Following only some would export or erase part of the person and report it whole; following all, other people.
        throw new ConnectorError(
          `${name}: the subject's ${t.identityKind} is found with more than ${MAX_DERIVED} values of ${p.kind} in table ${t.table}, a value many people share rather than one person's; the ${op} stopped rather than follow some of them. Check the rows by hand`,
          `${name} ${op}: ${t.table}.${p.column} has ${values.length}${rows.length >= MAX_DERIVED_PAIRS ? "+" : ""} values for one ${t.identityKind}`,
          false,
        );
      }
      if ((await confirmOwn(op, p, t, matcher, values, given)) === "shared") {
        // A phone is often a household's: it is followed no further, and the tables found by it say so.
        known.delete(p.kind);
        ctx.logger.info({ connector: name, kind: p.kind, table: t.table }, "a phone other people's rows hold too is not followed");
        for (const keyed of cfg.tables.filter((x) => x.identityKind === p.kind)) ctx.notSearched?.({ category: keyed.category, type: keyed.recordType, reason: SHARED_PHONE });
        continue;
      }
      if (given === undefined && values.length) known.set(p.kind, values);
    }
    return { values: known, asciiOnly };
  };

  /**
   * The rows of `t` that hold one of `values` in the column `p` provides from, but those ANONYMIZE left:
   * a row that holds every replacement is nobody's, though it still holds the key it provides an
   * identity from (a primary key cannot be overwritten), as the subject's own row did.
   */
  const holdersOfValues = async (op: Operation, p: SqlProvidedIdentity, t: SqlTableConfig, values: readonly string[]): Promise<Record<string, unknown>[]> => {
    const value = identityMatcher(p.kind, values, country);
    const replaced = t.erase.strategy === "ANONYMIZE" ? Object.entries(t.erase.columns) : [];
    const { rows } = await exec(op, t.table, holdersOf(d, t, p.column, value.lookup, MAX_DERIVED_PAIRS, [...replaced.map(([c]) => c), ...identitySource(t)]));
    const anonymised = (r: Record<string, unknown>) => replaced.length > 0 && replaced.every(([c, v]) => holdsReplacement(r[c], v));
    return rows.filter((r) => value.confirms(r[p.column]) && !anonymised(r));
  };

  /**
   * Whether a value the subject's rows no longer yield (its own RESOLVE found it, and a deletion erased
   * the users row it was read from) is held by a row all the same: another person's by now (the key
   * given to someone else, an address moved), so it is not followed.
   */
  const heldByOther = async (op: Operation, p: SqlProvidedIdentity, t: SqlTableConfig, value: string): Promise<boolean> => (await holdersOfValues(op, p, t, [value])).length > 0;

  /**
   * The values of a provided kind the subject is taken to hold must be theirs alone by this database,
   * the identity source. One given with the request (or by another connector) must be the one the
   * subject's own row holds, when it holds one: Ada's email with Grace's user id would otherwise read
   * (and erase) Grace's rows found by user id, and miss Ada's. And no other person's row may hold any
   * of them (one payment customer id on two accounts): other systems would reach both people by it.
   * The call stops, naming the kind, never the values. A phone other people's rows hold too is the
   * exception: households share a landline, and two accounts under one number are not a data error, so
   * it answers "shared" and the number is not followed (nor handed to other systems) for either person.
   * Only a phone derived here: one the request gives goes to every other system with the request, so a
   * given phone another person's row holds too stops the call like any other given value not theirs alone.
   */
  const confirmOwn = async (op: Operation, p: SqlProvidedIdentity, t: SqlTableConfig, subject: IdentityMatcher, derived: readonly string[], given: string | undefined): Promise<"own" | "shared"> => {
    const theirs = given === undefined ? derived : [given];
    // A given value beside others of the subject's (two accounts under one address) names one account: followed alone, the
    // rows found by the address would still reach the other's (a settings deletion of usr_A erased usr_B's users row, COMPLETED,
    // and left usr_B's devices), as a request giving none fails at RESOLVE (more than one account).
    const several = given !== undefined && derived.includes(given) && derived.length > 1;
    let conflict = several ? `their ${t.table} rows hold ${derived.length} values of ${p.kind}, more than one account?` : given !== undefined && derived.length > 0 && !derived.includes(given) ? `their ${t.table} row holds another ${p.kind}` : "";
    let shared = false;
    if (!conflict && theirs.length) {
      shared = (await holdersOfValues(op, p, t, theirs)).some((r) => !subject.confirms(storedIdentity(t, r)));
      if (shared) conflict = `another person's ${t.table} row holds it`;
    }
    // Before anything is read by it, a given value must be one the subject's own row holds: with none
    // (a closed account's user id, kept auth events still filed under it) nothing ties it to the
    // subject. Only RESOLVE asks: later steps may run after their own erasure removed the row.
    if (!conflict && op === "resolve" && given !== undefined && derived.length === 0) conflict = `no ${t.table} row of theirs holds one`;
    if (!conflict) return "own";
    if (p.kind === "phone" && shared && given === undefined) return "shared";
    if (p.kind === "phone" && shared) {
      // A phone the request gives reaches every other system as it is: this database cannot keep it from
      // them as it keeps one it derived, so what they hold under a household's line would be read and
      // erased as the subject's (Ada's settings deletion erased the codes an SMS log sent for Hedy).
      throw new ConnectorError(
        `${name}: the phone the request gives is held by another person's account here too (a household's line?, found by their ${t.identityKind}); other systems find people by it and cannot tell the two apart, so the ${op} stopped rather than reach the other person's data. Submit the request without the phone: the subject is still found by their other identities`,
        `${name} ${op}: given phone is shared in ${t.table}.${p.column}`,
        false,
      );
    }
    const what = given === undefined ? `the subject's ${p.kind} here is not theirs alone` : several ? `the ${p.kind} the request gives is one of several the subject has here` : `the ${p.kind} the request gives is not the subject's here`;
    const todo = given === undefined || several ? `Handle it by hand` : `Check the request's identities: give the ${p.kind} this database holds for the subject, or none`;
    throw new ConnectorError(
      `${name}: ${what} (${conflict}, found by their ${t.identityKind}); the ${op} stopped rather than reach another person's data or miss the subject's. ${todo}`,
      `${name} ${op}: ${given === undefined ? "derived" : "given"} ${p.kind} conflicts in ${t.table}.${p.column}`,
      false,
    );
  };

  /**
   * A correction that writes a column people are found by here (identityColumns) is refused, before any
   * row is written and not retried, when the value is not an identity of its kind (an address no request
   * can name, a phone no one can read: the person's rows would be cut off from every later request, their
   * erasure included), or when another person's row already holds it (Grace's address written on Ada's
   * row makes them one person: Grace's next access request would export Ada's row, her deletion erase it).
   * A phone is the exception to the second, as in confirmOwn: a household's shared line is not followed
   * for either person. Only a table holding rows of the subject is checked: nothing is written elsewhere.
   */
  const identityRefused = (t: SqlTableConfig, column: string, kind: string, why: string) => {
    const field = Object.entries(cfg.rectifiable ?? {}).find(([, target]) => target.table === t.table && target.column === column)![0];
    return new ConnectorError(
      `${name}: the corrected ${field} ${why} (table ${t.table} finds people by it as ${kind}); the rectify changed nothing. Submit a correction with the person's own, valid ${field}, or correct it by hand`,
      `${name} rectify: corrected ${t.table}.${column} refused (${why})`,
      false,
    );
  };
  const HELD_BY_ANOTHER = "is held by another person's row already";

  /**
   * The identities a correction gives a table's rows that no other person's row may hold (phones
   * excepted, as in refuseIdentityClash): each is checked and written by one correction at a time.
   */
  const claimsOf = (t: SqlTableConfig, corrected: ReadonlyMap<string, string>) =>
    [...identityColumns(t, cfg.provides)]
      .filter(([column, kind]) => corrected.has(column) && kind !== "phone")
      .map(([column, kind]) => ({ column, kind, value: identityForm(kind, corrected.get(column)!, country) }));

  const refuseIdentityClash = async (t: SqlTableConfig, corrected: ReadonlyMap<string, string>, subject: IdentityMatcher | undefined, ctx: TaskContext): Promise<void> => {
    const written = [...identityColumns(t, cfg.provides)].filter(([column]) => corrected.has(column));
    if (!written.length || !subject) return;
    let holds = false;
    for await (const rows of subjectPages("rectify", t, [], subject, ctx)) if ((holds = rows.length > 0)) break;
    if (!holds) return;
    for (const [column, kind] of written) {
      const value = corrected.get(column)!;
      const refuse = (why: string) => identityRefused(t, column, kind, why);
      const problem = identityValueProblem(kind, value, country);
      if (problem) throw refuse(problem);
      if (kind === "phone") continue;
      const wanted = identityMatcher(kind, [value], country);
      const { rows } = await exec("rectify", t.table, holdersOf(d, t, column, wanted.lookup, MAX_DERIVED_PAIRS, identitySource(t)));
      if (rows.some((r) => wanted.confirms(r[column]) && !subject.confirms(storedIdentity(t, r)))) throw refuse(HELD_BY_ANOTHER);
    }
  };

  /**
   * Writes the corrected values on the subject's rows of a table: how many rows hold them now, and
   * whether a hold stopped it (`withdrawn`: a unit was refused; rows written before stay written). Each
   * page is written in a unit of the hold fence of its own (ctx.eraseUnit), bounded by that unit's time:
   * a subject with more pages than one unit can write is corrected whole, and a hold placed between
   * pages keeps the rest. A page whose statement cannot end within a unit (cut, rolled back) is tried
   * again in halves, down to one row, as an erasure's chunks are. Rows that hold every corrected value
   * already (an earlier attempt's, cut later) are counted and not written again: a retry resumes. A
   * table whose corrected columns include one people are found by is written whole, in one statement
   * and one unit (cut: nothing written, retried). On
   * SQLite, where a write that gives the rows an identity (claimsOf) cannot take a lock first, each
   * UPDATE writes only while no other row holds it: one that wrote nothing because another correction
   * got there first is refused by refuseIdentityClash, asked again (and, the table's rows written
   * first, changed nothing).
   */
  const correctRows = async (t: SqlTableConfig, corrected: ReadonlyMap<string, string>, values: IdentityMatcher, ctx: TaskContext): Promise<{ affected: number; withdrawn: boolean }> => {
    const claims = d === "sqlite" ? claimsOf(t, corrected) : [];
    const pages: Record<string, unknown>[][] = [];
    for await (const rows of subjectPages("rectify", t, [...corrected.keys()], values, ctx)) if (rows.length) pages.push(rows);
    const own = pages.flat().map((r) => r[t.primaryKey]);
    // The UPDATE decides the claim by the look-up alone, with no row confirmed: only the value's own
    // spellings may hold it back. A look-up also sends other people's (the plain `i` PostgreSQL's lower()
    // makes of `İ`), which a read confirms away; here such a row refused the person's own new address.
    const ownSpellings = (c: { kind: string; value: string }) => {
      const { lookup } = identityMatcher(c.kind, [c.value], country);
      return { ...lookup, spellings: lookup.spellings.filter((s) => identityForm(c.kind, s, country) === c.value) };
    };
    const unclaimed = claims.length ? { claims: claims.map((c) => ({ column: c.column, lookup: ownSpellings(c) })), own } : undefined;
    const holdsAll = (r: Record<string, unknown>) => [...corrected].every(([column, value]) => r[column] !== null && r[column] !== undefined && String(r[column]) === value);
    // A column people are found by moves all of the person's rows in one statement, or none: split over
    // pages, a retry after a cut or a crash finds the rows written by the new value and not the old, and
    // cannot tell them from another person's (refuseIdentityClash refused, the person left in two).
    // Past WHOLE_ROWS keys (PostgreSQL takes at most 65,535 parameters in a statement) it is written page by page, as before.
    const whole = own.length <= WHOLE_ROWS && [...identityColumns(t, cfg.provides)].some(([column]) => corrected.has(column));
    let affected = 0;
    let size = whole ? Number.MAX_SAFE_INTEGER : chunk;
    for (const page of whole ? [pages.flat()] : pages) {
      affected += page.filter(holdsAll).length;
      const keys = page.filter((r) => !holdsAll(r)).map((r) => r[t.primaryKey]);
      for (let at = 0; at < keys.length; ) {
        const part = keys.slice(at, at + size);
        let wrote = 0;
        let ran: boolean;
        try {
          ran = await ctx.eraseUnit(t.category, async () => {
            wrote = (await write(t.table, updateColumns(d, t, corrected, part, values.lookup, unclaimed), ctx, "rectify")).affected;
            return wrote;
          });
        } catch (error) {
          if (!(error instanceof WriteOutOfTime)) throw error;
          // Cut at the unit's end (rolled back): smaller, or, at one row, the attempt fails and is retried.
          if (whole || part.length === 1) throw outOfTime(t.table, whole ? "rectify-whole" : "rectify", affected);
          size = Math.ceil(part.length / 2);
          ctx.logger.info({ connector: name, table: t.table, rows: size }, "a page of a correction could not be written within its unit: nothing written, trying smaller pages");
          await ctx.heartbeat();
          continue;
        }
        if (!ran) return { affected, withdrawn: true };
        // Nothing written: another person's row took the value since the check (refused here), or the rows went.
        if (unclaimed && wrote === 0) await refuseIdentityClash(t, corrected, values, ctx);
        affected += wrote;
        at += part.length;
      }
    }
    return { affected, withdrawn: false };
  };

  /**
   * A retried rectify whose earlier attempt corrected the column a table finds people by (and stopped
   * before it answered) finds no row by the old value: the rows the corrected value finds that hold
   * every corrected value are what that attempt wrote, counted (nothing is written), rather than report
   * the fields not held while the database holds them. Only on a retry (a retryTask's run too), only rows
   * holding all of it, and only when an earlier attempt may have written the table's category (ctx.writtenBefore): with none,
   * they are another person's (the person has no row here, and asked for a value someone else holds).
   */
  const correctedBefore = async (t: SqlTableConfig, corrected: ReadonlyMap<string, string>, ctx: TaskContext): Promise<number> => {
    const identity = corrected.get(t.identityColumn);
    if (identity === undefined) return 0;
    let found = 0;
    for await (const rows of subjectPages("rectify", t, [...corrected.keys()], identityMatcher(t.identityKind, [identity], country), ctx)) {
      found += rows.filter((r) => [...corrected].every(([column, value]) => r[column] !== null && r[column] !== undefined && String(r[column]) === value)).length;
    }
    return found;
  };

  /** How a table is searched for the subject, or undefined (logged) when the subject has no identity of its kind. */
  const identitiesFor = (t: SqlTableConfig, known: KnownIdentities, ctx: TaskContext): IdentityMatcher | undefined => {
    const values = known.values.get(t.identityKind);
    if (!values) {
      ctx.logger.info({ connector: name, table: t.table, identityKind: t.identityKind }, "table skipped: the subject has no identity of its kind");
      return undefined;
    }
    const matcher = identityMatcher(t.identityKind, values, country);
    if (!matcher.everyCase && known.asciiOnly) ctx.notSearched?.({ category: t.category, type: t.recordType, reason: EVERY_CASE });
    return matcher;
  };

  /**
   * The subject's rows of a table, page by page (the rows the database matched, confirmed in matching
   * form). A value PostgreSQL refuses to compare with the column (`usr_a7` asked of an INTEGER user_id,
   * unreadableByColumn) is held by no row there, as MySQL and SQLite answer and the roster counts it:
   * alone, it finds nothing; beside other values of a user id or other exact kind, each is asked alone
   * and it is left out. A look-up by an email or phone it fails, with IDENTITY_TYPE (a misconfigured column).
   */
  async function* subjectPages(op: Operation, t: SqlTableConfig, columns: readonly string[], values: IdentityMatcher, ctx: TaskContext): AsyncGenerator<Record<string, unknown>[]> {
    await caseProblems(op);
    const read = [...new Set([t.primaryKey, t.identityColumn, ...identitySource(t), ...columns])];
    let after: unknown;
    for (;;) {
      if (ctx.signal.aborted) throw stopped(name, op, ctx.signal);
      let page: StatementResult;
      try {
        page = await exec(op, t.table, selectPage(d, t, read, values.lookup, after, chunk));
      } catch (error) {
        const exact = t.identityKind !== "email" && t.identityKind !== "phone";
        if (d !== "postgres" || !exact || after !== undefined || !unreadableByColumn(error)) throw error;
        if (values.lookup.spellings.length === 1) return;
        for (const value of values.lookup.spellings) yield* subjectPages(op, t, columns, identityMatcher(t.identityKind, [value], country), ctx);
        return;
      }
      const { rows } = page;
      yield rows.filter((row) => values.confirms(storedIdentity(t, row)));
      if (rows.length < chunk) return;
      after = rows[rows.length - 1][t.primaryKey];
    }
  }

  async function* collectTable(t: SqlTableConfig, values: IdentityMatcher, ctx: TaskContext): AsyncGenerator<SubjectRecord> {
    const columns = [...t.exportColumns, ...(t.recordedAtColumn ? [t.recordedAtColumn] : [])];
    let count = 0;
    for await (const rows of subjectPages("collect", t, columns, values, ctx)) {
      for (const row of rows) yield toRecord(name, t, row);
      count += rows.length;
    }
    ctx.logger.debug({ connector: name, table: t.table, records: count }, "table collected");
  }

  /** Of `rows` of `t`, those rows refer to through `keys` (referredRows), each added to `residual` by its reason (their primary keys). */
  const stillReferred = async (t: SqlTableConfig, keys: readonly ForeignKey[], rows: readonly Record<string, unknown>[], residual: Map<string, string[]>) => {
    if (!keys.length) return new Map<Record<string, unknown>, string>();
    const referred = await referredRows(d, cfg.tables, t, keys, rows, async (statement) => (await exec("erase", t.table, statement)).rows);
    for (const [row, reason] of referred) appendTo(residual, reason, String(row[t.primaryKey]));
    return referred;
  };

  /**
   * A table's rows left in place because rows that stay refer to them, as residual sets: one per
   * reason, with the rows' primary keys (heldBackIds), so the purge that erases what refers to them
   * erases them then, by key (eraseHeldBack).
   */
  const residualSets = (t: SqlTableConfig, left: ReadonlyMap<string, string[]>): ResidualRecords[] =>
    [...left].map(([reason, keys]) => ({ category: t.category, type: t.recordType, count: keys.length, fields: t.exportColumns, reason, heldBackIds: keys }));

  /**
   * Erases one table in primary-key chunks, each its own statement and its own unit of erasure, with a
   * heartbeat after each; `withdrawn` when the orchestrator withdrew the category mid-way. A row that
   * rows left in place refer to through a foreign key (`keys`, foreignKeys.ts) stays, counted in
   * `residual` by why: the database would otherwise delete those rows too, unlink them, or refuse.
   */
  const eraseTable = async (
    t: SqlTableConfig,
    values: IdentityMatcher,
    keepSince: Date | undefined,
    keys: readonly ForeignKey[],
    ctx: TaskContext,
    eraseUndated = false,
  ): Promise<{ erased: number; withdrawn: boolean; residual: Map<string, string[]> }> => {
    const since = keepSince === undefined ? undefined : new Date(keepSince).getTime();
    const columns = [...(since !== undefined && t.recordedAtColumn ? [t.recordedAtColumn] : []), ...keys.flatMap((k) => k.parentColumns)];
    const guard = unreferenced(d, t, keys);
    const residual = new Map<string, string[]>();
    let erased = 0;
    let kept = 0;
    let undated = 0;
    let size = chunk;
    for await (const rows of subjectPages("erase", t, columns, values, ctx)) {
      // Retention: rows recorded at or after `since` stay; so do rows whose date is unknown, because
      // erasing cannot be undone and a later purge can still erase them (by key, or, told so
      // with keepUndated false, by identity).
      const doomed = rows.filter((row) => {
        if (since === undefined) return true;
        const at = recordedAtOf(name, t, row);
        if (!at && eraseUndated) return true;
        if (!at) undated += 1;
        else if (at.getTime() < since) return true;
        kept += 1;
        return false;
      });
      // A chunk whose statement could not end within its unit (cut, so it erased nothing) is tried again
      // in halves of itself, down to one row; the smaller size holds for the rest of the table.
      for (let at = 0; at < doomed.length; ) {
        const part = doomed.slice(at, at + size);
        let ran: boolean;
        try {
          ran = await ctx.eraseUnit(t.category, async () => {
            const referred = await stillReferred(t, keys, part, residual);
            const free = part.filter((row) => !referred.has(row));
            if (!free.length) return 0;
            const ids = free.map((row) => row[t.primaryKey]);
            // On PostgreSQL a user id (or other exact kind) is guarded by the values these rows hold: one of
            // the subject's their column cannot hold (subjectPages) would fail the write (22P02), rows unerased.
            const exact = d === "postgres" && t.identityKind !== "email" && t.identityKind !== "phone";
            const held = exact ? identityMatcher(t.identityKind, free.map((row) => identityForm(t.identityKind, row[t.identityColumn], country)), country).lookup : values.lookup;
            const statement = t.erase.strategy === "DELETE" ? deleteRows(d, t, ids, held, guard) : anonymizeRows(d, t, t.erase.columns, ids, held, guard);
            const { affected } = await write(t.table, statement, ctx);
            // Fewer than asked: a referring row may have been written since the look, and the guard kept its row.
            if (affected < free.length) await stillReferred(t, keys, free, residual);
            erased += affected;
            return affected;
          });
        } catch (error) {
          if (!(error instanceof WriteOutOfTime)) throw error;
          // Halved from the chunk cut, not from the chunk size: a chunk of one row (the person's only row,
          // or a table's last) fails at once rather than be tried again some nine times, a unit each.
          if (part.length === 1) throw outOfTime(t.table);
          size = Math.ceil(part.length / 2);
          ctx.logger.info({ connector: name, table: t.table, rows: size }, "a chunk's statement could not end within its unit of erasure: nothing erased, trying smaller chunks");
          await ctx.heartbeat();
          continue;
        }
        if (!ran) return { erased, withdrawn: true, residual };
        at += part.length;
      }
      await ctx.heartbeat();
    }
    if (kept) ctx.logger.info({ connector: name, table: t.table, kept, undated }, "rows kept for retention");
    if (residual.size) ctx.logger.info({ connector: name, table: t.table, residual: [...residual.values()].reduce((n, c) => n + c.length, 0) }, "rows left in place: rows that stay refer to them through a foreign key that would act on them");
    ctx.logger.debug({ connector: name, table: t.table, erased }, "table erased");
    return { erased, withdrawn: false, residual };
  };

  /** Every column the configuration names in a table, so check() proves them all. */
  const columnsOf = (t: SqlTableConfig): string[] => [
    ...new Set([
      t.primaryKey,
      t.identityColumn,
      ...t.exportColumns,
      ...(t.recordedAtColumn ? [t.recordedAtColumn] : []),
      ...(t.erase.strategy === "ANONYMIZE" ? [...Object.keys(t.erase.columns), ...(t.erase.keep ?? [])] : []),
      ...(cfg.provides ?? []).filter((p) => p.table === t.table).map((p) => p.column),
      ...Object.values(cfg.rectifiable ?? {})
        .filter((r) => r.table === t.table)
        .map((r) => r.column),
    ]),
  ];

  const checkTable = async (t: SqlTableConfig): Promise<string | null> => {
    const columns = columnsOf(t);
    try {
      await db.run(probe(d, t.table, columns));
    } catch (error) {
      const kind = classifyDbError(error);
      if (kind.missing === "table") return `table ${t.table} does not exist`;
      if (kind.missing !== "column") throw error;
      const missing: string[] = [];
      for (const column of columns) {
        await db.run(probe(d, t.table, [column])).catch(() => missing.push(column));
      }
      return `table ${t.table} has no column ${missing.join(", ")}`;
    }
    if (!t.recordedAtColumn) return null;
    const { rows } = await db.run(datedSample(d, t.table, t.recordedAtColumn));
    for (const row of rows) {
      const at = readRecordedAt(row[t.recordedAtColumn], t.recordedAtFormat);
      if (typeof at === "string") return `table ${t.table} has ${unreadableReason(at, t.recordedAtFormat)} in ${t.recordedAtColumn}`;
    }
    return null;
  };

  return {
    spec: sqlConnectorSpec(cfg, plan),

    async check(ctx): Promise<CheckResult> {
      const problems: string[] = [];
      try {
        for (const t of cfg.tables) {
          if (ctx.signal.aborted) return { ok: false, message: `${name}: the check was stopped before it finished` };
          const problem = await checkTable(t);
          if (problem) problems.push(problem);
        }
      } catch (error) {
        const failure = toConnectorError(error, name, "check");
        ctx.logger.warn({ connector: name, internal: failure.internalMessage, retryable: failure.retryable }, "check failed");
        return { ok: false, message: failure.userMessage };
      }
      if (!problems.length) {
        try {
          problems.push(...(await caseProblems("check")));
          problems.push(...foreignKeyProblems(d, plan.eraseOrder, await foreignKeys("check", true)));
        } catch (error) {
          return { ok: false, message: toConnectorError(error, name, "check").userMessage };
        }
      }
      if (problems.length) return { ok: false, message: `${name}: ${problems.join("; ")}; fix the connector configuration or the database schema` };
      const kind = { mysql: "MySQL/MariaDB", postgres: "PostgreSQL", sqlite: "SQLite" }[d];
      return { ok: true, message: `${name}: reached the ${kind} database; all ${cfg.tables.length} tables and their configured columns exist` };
    },

    async resolve(ids, ctx) {
      const known = await knownIdentities(ids, "resolve", ctx);
      const found: Partial<Record<IdentityKind, string>> = {};
      for (const kind of plan.provides) {
        const values = known.values.get(kind);
        if (!values) continue;
        // Other connectors take one value of a kind: handing them one of several (two accounts under
        // one address) would reach one account's data and report the person's as whole.
        if (values.length > 1) {
          throw new ConnectorError(
            `${name}: the subject has ${values.length} values of ${kind} here (more than one account?), and other systems are found by one ${kind}; the request stopped rather than reach only one account's data. Handle it by hand`,
            `${name} resolve: ${values.length} values of ${kind}`,
            false,
          );
        }
        found[kind] = values[0];
      }
      return found;
    },

    async *collect(ids, ctx) {
      const known = await knownIdentities(ids, "collect", ctx);
      for (const t of cfg.tables) {
        const values = identitiesFor(t, known, ctx);
        if (values) yield* collectTable(t, values, ctx);
      }
    },

    async erase(ids, instruction, ctx) {
      const known = await knownIdentities(ids, "erase", ctx);
      const keys = await foreignKeys("erase");
      // Rows left in place because rows that stay refer to them: one set per table and reason.
      const residual: ResidualRecords[] = [];
      let erased = 0;
      // Of erased, the rows anonymised: still there, holding nothing of the person's.
      let redacted = 0;
      const withdrawn = new Set<string>();
      const erasedIn: Record<string, number> = {};
      const redactedIn: Record<string, number> = {};
      for (const t of plan.eraseOrder) {
        if (!instruction.categories.includes(t.category) || withdrawn.has(t.category)) continue;
        const values = identitiesFor(t, known, ctx);
        if (!values) continue;
        const done = await eraseTable(t, values, instruction.keepRecordedSince?.[t.category], setOffBy(t, keys), ctx, instruction.keepUndated === false);
        residual.push(...residualSets(t, done.residual));
        erased += done.erased;
        erasedIn[t.category] = (erasedIn[t.category] ?? 0) + done.erased;
        if (t.erase.strategy === "ANONYMIZE") {
          redacted += done.erased;
          redactedIn[t.category] = (redactedIn[t.category] ?? 0) + done.erased;
        }
        if (done.withdrawn) withdrawn.add(t.category);
      }
      return { erased, erasedIn, ...(redacted ? { redacted, redactedIn } : {}), ...(residual.length ? { residual } : {}) };
    },

    /**
     * Rows an erasure left in place while rows that stay referred to them, by primary key, once the
     * purge erased those: each is erased (deleted or anonymised, as its table's erase says) when nothing
     * refers to it any more, and named residual again while something still does. A row no longer there
     * is left out; one no longer holding the subject's identity it was found by (`ids`) stays, named
     * residual saying so. The subject is never looked up: rows the person created since are not the deletion's.
     */
    async eraseHeldBack(ids, refs, instruction, ctx): Promise<HeldBackOutcome> {
      const keys = await foreignKeys("erase");
      const erased: RecordRef[] = [];
      const residual: ResidualRecords[] = [];
      for (const t of plan.eraseOrder) {
        const wanted = refs.filter((r) => r.category === t.category && r.type === t.recordType).map((r) => r.id);
        if (!wanted.length || !instruction.categories.includes(t.category)) continue;
        const setOff = setOffBy(t, keys);
        const guard = unreferenced(d, t, setOff);
        await caseProblems("erase");
        const columns = [...new Set([t.primaryKey, t.identityColumn, ...identitySource(t), ...setOff.flatMap((k) => k.parentColumns)])];
        const value = ids[t.identityKind as keyof Identities];
        const subject = typeof value === "string" ? identityMatcher(t.identityKind, [value], country) : undefined;
        const left = new Map<string, string[]>();
        for (let at = 0; at < wanted.length; at += HELD_BACK_ROWS_PER_UNIT) {
          if (ctx.signal.aborted) throw stopped(name, "erase", ctx.signal);
          const { rows } = await exec("erase", t.table, selectByKeys(d, t, columns, wanted.slice(at, at + HELD_BACK_ROWS_PER_UNIT)));
          // Each row guarded by the very value it holds now (it stays its row's) and by the keys' condition.
          let late = false;
          const ran = await ctx.eraseUnit(t.category, async () => {
            const referred = await stillReferred(t, setOff, rows, left);
            let n = 0;
            for (const row of rows.filter((r) => !referred.has(r))) {
              // Stopped (the lease lost, the worker stopping): what this unit erased so far is counted, nothing more is erased.
              if (ctx.signal.aborted) break;
              // No longer the subject's by the identity it was found by (changed since the deletion): whose it is now is not the deletion's to decide.
              if (!subject?.confirms(storedIdentity(t, row))) {
                appendTo(left, HELD_BACK_ROW_CHANGED, String(row[t.primaryKey]));
                continue;
              }
              const own = { spellings: [String(row[t.identityColumn])], caseless: false };
              const statement = t.erase.strategy === "DELETE" ? deleteRows(d, t, [row[t.primaryKey]], own, guard) : anonymizeRows(d, t, t.erase.columns, [row[t.primaryKey]], own, guard);
              let affected: number;
              try {
                ({ affected } = await write(t.table, statement, ctx));
              } catch (error) {
                // Cut at the unit's end, erasing nothing: what the unit erased before is counted with it.
                if (!(error instanceof WriteOutOfTime)) throw error;
                late = true;
                break;
              }
              if (affected) {
                erased.push({ category: t.category, type: t.recordType, id: String(row[t.primaryKey]) });
                n += 1;
              } else await stillReferred(t, setOff, [row], left);
            }
            return n;
          });
          if (late) throw outOfTime(t.table);
          if (ctx.signal.aborted) throw stopped(name, "erase", ctx.signal);
          if (!ran) {
            appendTo(left, HELD_BACK_BY_HOLD, ...wanted.slice(at));
            break;
          }
          await ctx.heartbeat();
        }
        residual.push(...residualSets(t, left));
      }
      return { erased, residual };
    },

    async rectify(ids, changes, ctx) {
      const known = await knownIdentities(ids, "rectify", ctx);
      const changed: string[] = [];
      const { perTable, notHeld } = correctionsByTable(name, cfg, changes);
      // Tables whose rows take an identity first: a refusal at their write leaves every table as it was.
      const tables = [...perTable].sort(([a, x], [b, y]) => Number(claimsOf(b, y.values).length > 0) - Number(claimsOf(a, x.values).length > 0));
      const claims = tables.flatMap(([t, group]) => claimsOf(t, group.values).map((c) => `${name}\0${t.table}.${c.column}\0${c.value}`));
      // Two corrections giving one identity to two people both pass the check below unless they take
      // turns: the check and the write run under the identity's lock (SQLite: the write itself checks).
      const busy = () =>
        new ConnectorError(`${name}: another correction to the same value was under way; the rectify changed nothing and will be retried`, `${name} rectify: identity lock not had in ${CLAIM_WAIT_MS} ms`, true, 1000);
      return db.exclusive(claims, CLAIM_WAIT_MS, busy, async () => {
        // Every value that decides whose rows are whose is checked before any row is written.
        for (const [t, group] of tables) await refuseIdentityClash(t, group.values, identitiesFor(t, known, ctx), ctx);
        // Fields a hold placed meanwhile stopped (a unit refused): the table's written, and every later one's.
        const unfinished: string[] = [];
        for (const [t, group] of tables) {
          if (unfinished.length) {
            unfinished.push(...group.fields);
            continue;
          }
          const values = identitiesFor(t, known, ctx);
          let affected = 0;
          // The subject's confirmed rows first, then an update of exactly those: a collation that matches
          // more than the subject (accents, on MariaDB) never corrects another person's row.
          if (values) {
            const done = await correctRows(t, group.values, values, ctx);
            affected = done.affected;
            if (done.withdrawn) {
              unfinished.push(...group.fields);
              if (affected > 0) changed.push(...group.fields);
              continue;
            }
          }
          // Only when an earlier attempt may have written this table's category: otherwise the rows the new value finds are another person's.
          // Asked whatever the attempt counter says (an operator's retryTask starts it from 1 again); without writtenBefore, only on a retry.
          if (affected === 0 && (ctx.writtenBefore ? await ctx.writtenBefore(t.category) : ctx.attempt > 1)) affected = await correctedBefore(t, group.values, ctx);
          (affected > 0 ? changed : notHeld).push(...group.fields);
        }
        return unfinished.length ? { changed, notHeld, unfinished } : { changed, notHeld };
      });
    },

    async *listSubjects(ctx) {
      await refuseCaseSensitive("roster");
      yield* listSqlSubjects(
        { name, tables: cfg.tables, plan, dialect: d, chunk, country, exec: (table, statement) => exec("roster", table, statement), maxDerived: MAX_DERIVED, maxDerivedPairs: MAX_DERIVED_PAIRS },
        ctx,
      );
    },

    lookupTypes: movable.map((t) => t.recordType),

    /**
     * The rows of tables found by a value a person's rows can move away from (movable) still there, by
     * primary key, with the personal columns they still hold and their date: the verification after an
     * erasure sees a row the plan found that an address corrected or changed meanwhile took out of the
     * erase's reach (one it keeps is counted kept, and its purge erases it by key: eraseHeldBack).
     * Only those tables: a survey keeps the ids of what lookup finds, and a big table found by a user id is not held.
     */
    async *lookup(refs, ctx) {
      for (const t of movable) {
        const wanted = refs.filter((r) => r.category === t.category && r.type === t.recordType).map((r) => r.id);
        const replaced = t.erase.strategy === "ANONYMIZE" ? Object.entries(t.erase.columns) : [];
        const columns = [...new Set([t.primaryKey, t.identityColumn, ...t.exportColumns, ...replaced.map(([c]) => c), ...(t.recordedAtColumn ? [t.recordedAtColumn] : [])])];
        for (let at = 0; at < wanted.length; at += chunk) {
          if (ctx.signal.aborted) throw stopped(name, "collect", ctx.signal);
          const { rows } = await exec("collect", t.table, selectByKeys(d, t, columns, wanted.slice(at, at + chunk)));
          for (const row of rows) {
            // An anonymised row holds what its columns were replaced by; a deleted one is gone.
            const personalFields = replaced.length ? replaced.filter(([c, v]) => !holdsReplacement(row[c], v)).map(([c]) => c) : [t.identityColumn, ...t.exportColumns.filter((c) => c !== t.identityColumn && row[c] !== null && row[c] !== undefined)];
            const recordedAt = recordedAtOf(name, t, row);
            yield { category: t.category, type: t.recordType, id: String(row[t.primaryKey]), personalFields, ...(recordedAt ? { recordedAt } : {}) };
          }
        }
      }
    },

    close: () => db.close(),
  };
}
