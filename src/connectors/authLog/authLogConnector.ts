import { createHash } from "node:crypto";
import {
  type CheckResult,
  type Connector,
  ConnectorConfigError,
  ConnectorError,
  type ConnectorSpec,
  type ErasureInstruction,
  type ErasureOutcome,
  type Identities,
  type RosterContext,
  type RosterEntry,
  specProblems,
  type TaskContext,
} from "../sdk";
import { breathe, paced, turnDue } from "../../eventLoop";
import { WriteOutOfTime } from "../sql/database";
import { stopped, type Operation } from "../sql/errors";
import { createDynamoStore } from "./dynamoStore";
import { AUTH_EVENT_TYPE, keyBound, recordedAtOfKey, toAuthRecord } from "./events";
import { AUTH_LOG_PAGE_SIZE, authLogOptionProblems, type AuthLogOptions, DEFAULT_NAME } from "./options";
import { createSqlStore } from "./sqlStore";
import type { AuthLogStore, EventPage } from "./store";
import { unitNoteCodec } from "../unitNotes";

/** The auth-log connector: erase is always present, and close() releases the store's connections. */
export interface AuthLogConnector extends Connector {
  erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome>;
  listSubjects(ctx: RosterContext): AsyncIterable<RosterEntry>;
  /** Ends the DynamoDB client or the database connections it opened (a DataSource passed in stays open). */
  close(): Promise<void>;
}

export const AUTH_LOG_VERSION = "1.0.0";

/** Calls ctx.heartbeat() when at least `everyMs` passed since the last call (or since the start). */
const pacer = (ctx: Pick<TaskContext, "heartbeat">, everyMs: number) => paced(everyMs, () => ctx.heartbeat());

/**
 * A user's pages in order, the next one fetched while the caller works on the current one: at most two
 * pages are ever held, however many events the user has. Stopping early aborts the prefetch.
 */
async function* pages(connector: string, op: Operation, ctx: TaskContext, fetch: (after: string | undefined, signal: AbortSignal) => Promise<EventPage>): AsyncGenerator<EventPage> {
  const local = new AbortController();
  const signal = AbortSignal.any([ctx.signal, local.signal]);
  const start = (after: string | undefined): Promise<EventPage> => {
    const page = ctx.signal.aborted ? Promise.reject(stopped(connector, op, ctx.signal)) : fetch(after, signal);
    // A prefetch nobody awaits (the caller stopped) must not become an unhandled rejection.
    page.catch(() => undefined);
    return page;
  };
  let pending: Promise<EventPage> | undefined = start(undefined);
  try {
    while (pending) {
      const page: EventPage = await pending;
      pending = page.next === undefined ? undefined : start(page.next);
      yield page;
      // The SQL store on SQLite answers synchronously: without this a big user's pages never let the loop turn.
      await breathe();
    }
  } finally {
    local.abort("pages no longer needed");
  }
}

/**
 * The notes of the auth log's units of erasure (TaskContext.eraseUnit), one codec for both kinds:
 * `auth-log-<kind>:<JSON>`, at most 500 characters (what a note holds), no personal data (sort keys,
 * <ISO instant>#<event id>, in the subject's partition).
 *
 * `delete` (SENT_NOTE): deletes sent without learning whether they landed, not counted yet (the keys).
 * A unit that ends well with such keys hands them to the task's next attempt with its end and count
 * (`leaves`), as many notes as they need, replacing what the call's earlier units left: so an attempt
 * stopped between two units (lease lost, task timeout, process killed after one unit ended and before
 * the next noted its range) leaves no such delete unnoted. The next attempt sends those deletes again
 * first, in a unit of the note: gone by then (the condition fails), each counts as this request's
 * delete, once (the listing no longer finds it to count it); there, the unit deletes and counts it.
 * Before, only a call that failed with its signal not aborted noted them, one key a note: a delete in
 * doubt when the attempt stopped between units that landed later was counted by no one.
 * A hold on AUTH_LOGS by then refuses that unit (or the erase is told nothing of AUTH_LOGS): the keys
 * are then only read (landedBeforeHold), and a landed delete is still counted erased, once.
 *
 * `range` (RANGE_NOTE): a DynamoDB unit's keys, noted before it sends a delete: the listing's key just
 * before its first (null: from the oldest) and its last, and how many keys between them, both
 * included, were there to delete (those not already counted gone). A delete cannot be called back, so
 * a unit that never ends well (the process killed, or its attempt lost the task and the next attempt
 * took the notes over before its end: takeOverNotes) leaves this note, and with it counted none of its
 * deletes. The next attempt, in a unit of the note (finished when it ends well), takes the range's keys still there as in doubt (a
 * delete DynamoDB was still working on may land on them later, and is then counted by their resend),
 * and counts none of those gone as erased: which of them that unit's deletes removed, and which TTL or
 * another hand did (DynamoDB's TTL removes expired auth events in the background, another deletion of
 * the same user may run), no one can tell any more. They were no longer there when this attempt ran,
 * and the outcome says so (FEWER_RECORDS: erased by an earlier attempt or outside the service), as
 * for a record a SQL connector finds gone; never erased by this deletion, nor residual or kept. Before,
 * every key gone from the range was counted erased, another hand's included.
 */
const NOTES = unitNoteCodec({ delete: "auth-log-delete:", range: "auth-log-range:", long: "auth-log-long-delete:" });
const encodeNote = NOTES.encode;
const decodeNote = NOTES.decode;

/** A key's SHA-256, hex: how a LONG_NOTE names a key too long to write whole. */
const keyHash = (key: string): string => createHash("sha256").update(key).digest("hex");

/**
 * `long` (LONG_NOTE): one delete in doubt whose sort key is too long for a delete note (about 475
 * characters: DynamoDB allows 1,024 bytes), named by a prefix of the key and the key's SHA-256. The next
 * attempt reads the keys under that prefix: one with that hash is still there (sent again, as a delete
 * note's key is); none, the delete landed (counted, once, in the unit of the note). Before, such a key
 * was left unnoted (logged) and a delete of it that landed later was counted by no one.
 */
const longKeyNote = (key: string): string | undefined => {
  for (let n = Math.min(key.length, 400); n > 0; n = Math.floor(n * 0.8)) {
    // Never half a surrogate pair: the prefix is a bound of a DynamoDB query.
    const prefix = key.slice(0, n).replace(/[\ud800-\udbff]$/, "");
    const note = encodeNote("long", [prefix, keyHash(key)]);
    if (note !== undefined) return note;
  }
  return undefined;
};
/** The prefix and hash a LONG_NOTE names, or undefined for any other note. */
const longOfNote = (note: string): { prefix: string; hash: string } | undefined => {
  const value = decodeNote("long", note);
  if (!Array.isArray(value) || typeof value[0] !== "string" || typeof value[1] !== "string" || !/^[0-9a-f]{64}$/.test(value[1])) return undefined;
  return { prefix: value[0], hash: value[1] };
};

/** The delete notes naming `keys`, as few as hold them (a key too long for a note of its own gets a LONG_NOTE; one too long even for that is in `unnoted`). */
const deleteNotes = (keys: Iterable<string>): { notes: string[]; unnoted: number } => {
  const notes: string[] = [];
  let unnoted = 0;
  let group: string[] = [];
  for (const key of keys) {
    if (encodeNote("delete", [...group, key]) !== undefined) {
      group.push(key);
      continue;
    }
    if (group.length) notes.push(encodeNote("delete", group)!);
    group = encodeNote("delete", [key]) === undefined ? [] : [key];
    if (group.length) continue;
    const long = longKeyNote(key);
    if (long) notes.push(long);
    else unnoted += 1;
  }
  if (group.length) notes.push(encodeNote("delete", group)!);
  return { notes, unnoted };
};
/** The keys a delete note names (one key alone: a note from before they were grouped), or undefined for any other note. */
const keysOfNote = (note: string): string[] | undefined => {
  const value = decodeNote("delete", note);
  if (typeof value === "string") return [value];
  return Array.isArray(value) && value.length && value.every((k) => typeof k === "string") ? (value as string[]) : undefined;
};

const rangeNote = (after: string | undefined, last: string, count: number): string | undefined => encodeNote("range", [after ?? null, last, count]);
/** The range a range note names, or undefined for any other note. */
const rangeOfNote = (note: string): { after: string | undefined; last: string; count: number } | undefined => {
  const value = decodeNote("range", note);
  if (!Array.isArray(value)) return undefined;
  const [after, last, count] = value as unknown[];
  if ((after !== null && typeof after !== "string") || typeof last !== "string" || !Number.isSafeInteger(count) || (count as number) < 0) return undefined;
  return { after: after ?? undefined, last, count: count as number };
};

/**
 * The auth-log connector over either store: DynamoDB (production) or a SQL table (the embedded
 * default). Throws ConnectorConfigError listing every problem of the options; connects on first use.
 */
export function createAuthLogConnector(options: AuthLogOptions): AuthLogConnector {
  const given = (options ?? {}) as Partial<AuthLogOptions>;
  const name = given.name ?? DEFAULT_NAME;
  const spec: ConnectorSpec = { name, version: AUTH_LOG_VERSION, supports: ["access", "erasure"], needs: ["userId"], provides: [], categories: ["AUTH_LOGS"] };
  const problems = [...(given.name === undefined ? [] : specProblems(spec)), ...authLogOptionProblems(options)];
  if (problems.length) throw new ConnectorConfigError(name, problems, "auth-log connector");

  const dynamo = options.store === "dynamodb";
  const pageSize = options.pageSize ?? AUTH_LOG_PAGE_SIZE;
  const heartbeatEveryMs = options.heartbeatEveryMs ?? 2000;
  const store: AuthLogStore = dynamo ? createDynamoStore(options, name, pageSize) : createSqlStore(options, name, pageSize);

  /** The partition the subject's events live in; the planner only runs this connector once it is known. */
  const userIdOf = (ids: Identities): string => {
    if (typeof ids.userId === "string" && ids.userId !== "") return ids.userId;
    throw new ConnectorError(`${name}: the subject's user id is not known, so their auth log cannot be found`, `${name}: called without ids.userId`, false);
  };

  /** One event's delete could not end within a unit of erasure (the task's lease): cut, it was not counted. */
  const outOfTime = () =>
    new ConnectorError(
      `${name}: deleting one auth event took longer than a unit of erasure may last (the task's lease); the task will be retried`,
      `${name}: a one-key delete was cut at its unit's deadline`,
      true,
    );

  /** Retention: the bound below which events may be erased, or undefined to erase all. */
  const boundOf = (instruction: ErasureInstruction): string | undefined => {
    const since = instruction.keepRecordedSince?.AUTH_LOGS;
    if (since === undefined) return undefined;
    const at = new Date(since);
    if (Number.isNaN(at.getTime())) throw new ConnectorError(`${name}: the retention instant is not a valid date`, `${name}: keepRecordedSince.AUTH_LOGS invalid`, false);
    return keyBound(at);
  };

  /**
   * DynamoDB, when a hold keeps AUTH_LOGS (placed between attempts, or refusing a unit of this one):
   * the deletes in doubt, `keys` (the earlier attempt's delete notes, this call's `unsettled`), settled
   * by reading only, never sent again. A key gone was deleted by this deletion: its delete was sent
   * before the hold (a placement waits for the unit that sent it, and a unit does not end while a delete
   * it sent may still land), and no unit ends with its note now, so nothing else counts it. A key still
   * there is the hold's, kept like the rest. Before, the retry dropped the notes: a delete that had
   * landed was named no longer there (FEWER_RECORDS), not erased by this deletion.
   * The `notes` naming them are finished with that count in one transaction (ctx.settleNotes): before,
   * they went with the erase call's units and the count only with the task's completion, so a process
   * that died in between (during the verification pass) lost the count, its retry finding no note.
   */
  const landedBeforeHold = async (userId: string, notes: readonly string[], keys: Iterable<string>, ctx: TaskContext, landed = 0): Promise<number> => {
    const doubt = [...new Set(keys)];
    const gone = landed + (store.goneOf && doubt.length ? (await store.goneOf(userId, doubt, ctx.signal, () => ctx.heartbeat())).length : 0);
    if (doubt.length) ctx.logger.info({ connector: name, inDoubt: doubt.length, gone }, "deletes in doubt from before the hold, read back: those gone counted erased, the rest kept by the hold");
    if (notes.length || gone) await ctx.settleNotes?.("AUTH_LOGS", notes, gone);
    return gone;
  };
  /** The delete notes among `notes` (LONG_NOTEs included). */
  const deleteNotesOf = (notes: readonly string[]): string[] => notes.filter((n) => keysOfNote(n) !== undefined || longOfNote(n) !== undefined);
  /** The key a LONG_NOTE names, found again under its prefix by its hash: undefined when no item holds it (its delete landed). */
  const longKeyOf = async (userId: string, long: { prefix: string; hash: string }, ctx: TaskContext): Promise<string | undefined> => {
    const bound = `${long.prefix}\u{10FFFF}`;
    for await (const page of pages(name, "erase", ctx, (after, signal) => store.page(userId, { after: after ?? long.prefix, before: bound, keysOnly: true }, signal, () => ctx.heartbeat()))) {
      const found = page.events.find((e) => keyHash(e.key) === long.hash);
      if (found) return found.key;
    }
    return undefined;
  };
  /** The keys of the LONG_NOTEs among `notes` still there, and how many are gone (their deletes landed). */
  const longKeys = async (userId: string, notes: readonly string[], ctx: TaskContext): Promise<{ keys: string[]; landed: number }> => {
    const keys: string[] = [];
    let landed = 0;
    for (const note of notes) {
      const long = longOfNote(note);
      if (!long) continue;
      const key = await longKeyOf(userId, long, ctx);
      if (key === undefined) landed += 1;
      else keys.push(key);
    }
    return { keys, landed };
  };
  /** Every key the delete notes among `notes` name. */
  const notedKeys = (notes: readonly string[]): string[] => notes.flatMap((n) => keysOfNote(n) ?? []);

  /**
   * The erase itself: first what an earlier attempt left noted (its delete notes, then its ranges), each
   * in a unit of its note, then the listed keys, a unit at a time. `unsettled`: see erase.
   */
  const eraseNotedThenListed = async (userId: string, before: string | undefined, ctx: TaskContext, beat: () => Promise<void>, unsettled: Set<string>): Promise<ErasureOutcome> => {
    let erased = 0;
    let throttledRounds = 0;
    /** DynamoDB: the keys this call's units counted deleted (a later unit's RANGE_NOTE leaves them out of its count, and none is counted twice). */
    const gone = new Set<string>();
    /** Deletes `keys` in the running unit, `unsettled` kept over units; what they deleted, or the failure with it. */
    const removeInUnit = async (keys: readonly string[]): Promise<{ deleted: number; failure?: { error: unknown } }> => {
      let deleted = 0;
      try {
        const counted = (n: number, key?: string) => {
          deleted += n;
          if (key !== undefined) gone.add(key);
        };
        throttledRounds += await store.remove(userId, keys, ctx.signal, beat, counted, () => ctx.unitTimeLeft?.(), unsettled, () => ctx.heartbeat());
        return { deleted };
      } catch (error) {
        return { deleted, failure: { error } };
      }
    };
    /** The delete notes the last unit that ended left to the next attempt (what a withdrawal settles with the earlier attempts'). */
    let left: readonly string[] = [];
    /** DynamoDB: each unit hands the deletes still in doubt to the next attempt as it ends (delete notes). */
    const leaves = dynamo
      ? {
          leaves: () => {
            const { notes, unnoted } = deleteNotes(unsettled);
            if (unnoted) ctx.logger.warn({ connector: name, unnoted }, "a delete in doubt whose sort key is too long for a unit note: left unnoted");
            left = notes;
            return notes;
          },
        }
      : undefined;
    const earlier = [...new Set(await ctx.unfinishedUnits())];
    /** The earlier attempt's LONG_NOTEs a unit of this call finished (and counted). */
    const finishedLong = new Set<string>();
    /** A hold took AUTH_LOGS: no unit may begin; the deletes still in doubt are settled by reading (landedBeforeHold). */
    const withdrawn = async (): Promise<ErasureOutcome> => {
      const long = await longKeys(userId, earlier.filter((n) => !finishedLong.has(n)), ctx);
      erased += await landedBeforeHold(userId, [...deleteNotesOf(earlier), ...left], [...unsettled, ...notedKeys(earlier), ...long.keys].filter((k) => !gone.has(k)), ctx, long.landed);
      ctx.logger.info({ connector: name, erased }, "the erasure was withdrawn; stopping here");
      return { erased };
    };
    // The delete notes first: a range note left beside one covers its keys too, and counts only what they did not.
    for (const note of earlier) {
      const long = longOfNote(note);
      // A LONG_NOTE's key, found again by its hash; none: its delete landed, counted by the unit of the note.
      const found = long ? await longKeyOf(userId, long, ctx) : undefined;
      const landed = long && found === undefined ? 1 : 0;
      const keys = (long ? (found === undefined ? [] : [found]) : keysOfNote(note))?.filter((k) => !gone.has(k));
      if (!keys?.length && !landed) continue;
      for (const key of keys ?? []) unsettled.add(key);
      const ran = await ctx.eraseUnit(
        "AUTH_LOGS",
        async () => {
          const { deleted, failure } = await removeInUnit(keys ?? []);
          // Failed, the unit keeps its note for the next attempt, and counts nothing: that attempt's
          // resends count what landed (the note names the keys).
          if (failure) throw failure.error instanceof WriteOutOfTime ? outOfTime() : failure.error;
          erased += deleted + landed;
          return deleted + landed;
        },
        note,
        leaves,
      );
      if (!ran) return withdrawn();
      if (long) finishedLong.add(note);
    }
    for (const note of earlier) {
      const range = rangeOfNote(note);
      if (!range) continue;
      // A unit of an earlier attempt that never ended well: which of its range's keys its deletes removed
      // is known to no one now (see RANGE_NOTE). Those still there are in doubt; those gone are not counted.
      const inRange = (key: string) => (range.after === undefined || key > range.after) && key <= range.last;
      const ran = await ctx.eraseUnit(
        "AUTH_LOGS",
        async () => {
          let there = 0;
          const bound = `${range.last}\u0000`;
          for await (const page of pages(name, "erase", ctx, (after, signal) => store.page(userId, { after: after ?? range.after, before: bound, keysOnly: true }, signal, () => ctx.heartbeat()))) {
            for (const e of page.events) unsettled.add(e.key);
            there += page.events.length;
          }
          const unknown = Math.max(0, range.count - there - [...gone].filter(inRange).length);
          if (unknown) ctx.logger.info({ connector: name, gone: unknown }, "events of an interrupted unit's range gone, by its deletes or another hand (TTL): not counted as erased");
          return 0;
        },
        note,
        leaves,
      );
      if (!ran) return withdrawn();
    }
    // Keys per unit of erasure: a page, halved (for the rest of the call) when a unit's DELETE could
    // not end within the unit (cut and rolled back: a hold placement waits for a unit only until its end),
    // or when DynamoDB could not delete even one key within a unit.
    let size = pageSize;
    /** The last key of the pages before this one (a RANGE_NOTE's start). */
    let previous: string | undefined;
    // Deleted keys stay valid cursors, so paging on while deleting neither skips nor repeats an event.
    for await (const page of pages(name, "erase", ctx, (after, signal) => store.page(userId, { after, before, keysOnly: true }, signal, () => ctx.heartbeat()))) {
      const keys = page.events.map((e) => e.key);
      for (let at = 0; at < keys.length; ) {
        const part = keys.slice(at, at + size);
        // Each part is a unit of erasure: the orchestrator may withdraw the category between units.
        // A unit that fails part-way (throttled deletes given up on, a later statement cut) still ends
        // with what it deleted, so the task's retry (which no longer finds those events) starts from that count.
        let failure: { error: unknown } | undefined;
        // DynamoDB: the unit notes its keys before it sends a delete (RANGE_NOTE). Keys an earlier unit
        // of the call counted gone are not sent again: a resend answered with doubt, then read back
        // gone, would count one a second time.
        const left = part.filter((k) => !gone.has(k));
        const note = dynamo ? rangeNote(at > 0 ? keys[at - 1] : previous, part[part.length - 1], left.length) : undefined;
        const ran = await ctx.eraseUnit(
          "AUTH_LOGS",
          async () => {
            const removed = await removeInUnit(left);
            // Stopped (the lease lost, the task timed out) with deletes of it in doubt, the unit still
            // ends well: its end keeps what it deleted and hands those deletes to the next attempt as
            // delete notes (leaves), which count each once, landed or not. Failed, it left only its range
            // note, and the deletes that landed after were named gone by another hand (FEWER_RECORDS).
            // An attempt that took the task's notes over first refuses this end (mayEnd in the orchestrator).
            failure = removed.failure;
            erased += removed.deleted;
            return removed.deleted;
          },
          note,
          leaves,
        );
        if (failure) {
          if (!(failure.error instanceof WriteOutOfTime)) throw failure.error;
          // DynamoDB: the unit's time ran out after its first `done` keys sent: the rest go in a new unit.
          if (failure.error.done > 0) {
            at += failure.error.done < left.length ? part.indexOf(left[failure.error.done]) : part.length;
            await ctx.heartbeat();
            continue;
          }
          if (size === 1) throw outOfTime();
          // Its keys already deleted are gone from the next try's DELETE, which counts only what it removes.
          size = Math.ceil(size / 2);
          ctx.logger.info({ connector: name, keys: size }, "a DELETE could not end within its unit of erasure: nothing more erased, trying fewer keys");
          await ctx.heartbeat();
          continue;
        }
        if (!ran) return withdrawn();
        at += part.length;
      }
      previous = keys.at(-1) ?? previous;
      await beat();
    }
    const outcome: ErasureOutcome = { erased };
    if (before !== undefined) {
      const kept = await store.keptFrom(userId, before, ctx.signal, () => ctx.heartbeat());
      const newest = kept.newestKey === undefined ? undefined : recordedAtOfKey(kept.newestKey);
      if (kept.count && !newest) {
        throw new ConnectorError(`${name}: a kept event's key does not start with its time (<ISO instant>#<event id>); fix the data or the sortKey option`, `${name}: unparsable newest kept key`, false);
      }
      if (kept.count && newest) outcome.kept = [{ category: "AUTH_LOGS", type: AUTH_EVENT_TYPE, count: kept.count, newestRecordedAt: newest }];
    }
    ctx.logger.info({ connector: name, erased, kept: outcome.kept?.[0]?.count ?? 0, throttledRounds }, "auth events erased");
    return outcome;
  };

  return {
    spec: store.minUnitMs === undefined ? spec : { ...spec, minUnitMs: store.minUnitMs },

    async check(ctx): Promise<CheckResult> {
      try {
        const problem = await store.check(ctx.signal);
        if (problem) return { ok: false, message: `${name}: ${problem}` };
        return { ok: true, message: `${name}: reached the ${store.description}, shaped as expected` };
      } catch (error) {
        const failure = error instanceof ConnectorError ? error : new ConnectorError(`${name}: the check failed unexpectedly`, String(error), true);
        ctx.logger.warn({ connector: name, internal: failure.internalMessage, retryable: failure.retryable }, "check failed");
        return { ok: false, message: failure.userMessage };
      }
    },

    async *collect(ids, ctx) {
      const userId = userIdOf(ids);
      const beat = pacer(ctx, heartbeatEveryMs);
      let count = 0;
      for await (const page of pages(name, "collect", ctx, (after, signal) => store.page(userId, { after, keysOnly: false }, signal, () => ctx.heartbeat()))) {
        for (const event of page.events) yield toAuthRecord(event);
        count += page.events.length;
        await beat();
      }
      ctx.logger.debug({ connector: name, records: count }, "auth events collected");
    },

    async erase(ids, instruction, ctx) {
      // Withdrawn by a hold (placed since an earlier attempt): nothing is deleted, and that attempt's
      // deletes in doubt are settled by reading only (landedBeforeHold).
      if (!instruction.categories.includes("AUTH_LOGS")) {
        const noted = dynamo ? deleteNotesOf(await ctx.unfinishedUnits()) : [];
        if (!noted.length) return { erased: 0 };
        const long = await longKeys(userIdOf(ids), noted, ctx);
        return { erased: await landedBeforeHold(userIdOf(ids), noted, [...notedKeys(noted), ...long.keys], ctx, long.landed) };
      }
      const userId = userIdOf(ids);
      const before = boundOf(instruction);
      const beat = pacer(ctx, heartbeatEveryMs);
      // Deletes sent without learning whether they landed, not counted yet (AuthLogStore.remove): each
      // unit that ends well notes those still in doubt for the next attempt; one that fails keeps its own note.
      return eraseNotedThenListed(userId, before, ctx, beat, new Set<string>());
    },
    /** Each user id the log holds, with their event count: collect yields one record per event. */
    async *listSubjects(ctx) {
      const beat = pacer(ctx, heartbeatEveryMs);
      let people = 0;
      let empty = 0;
      for await (const user of store.users(ctx.signal, beat)) {
        // As stored (not trimmed): `usr_a ` is another user than `usr_a`, whom collect finds by those exact bytes.
        const userId = user.userId.trim() === "" ? "" : user.userId;
        // An empty user id is nobody's: collect refuses it.
        if (userId === "") empty += 1;
        else {
          people += 1;
          yield { identities: { userId }, records: user.events };
        }
        if (turnDue()) await breathe();
      }
      ctx.logger.info({ connector: name, people, emptyUserIds: empty }, "roster listed");
    },

    close: () => store.close(),
  };
}
