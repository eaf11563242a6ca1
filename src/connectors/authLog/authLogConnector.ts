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
 * A delete sent without learning whether it landed, left to the task's next attempt: the note of a
 * unit that fails with the call (no personal data: the event's sort key, <ISO instant>#<event id>, in
 * the subject's partition). The next attempt sends that key's delete again first, in a unit given the
 * same note: gone by then (the condition fails), the item is counted as this request's delete, the
 * listing no longer finding it to count it; there, this unit deletes and counts it. Ending well, the unit
 * finishes the note in the transaction that counts it (holdFence), so no later attempt counts it again.
 * A key whose note would pass the 500 characters a note holds is not noted.
 */
const SENT_NOTE = "auth-log-delete:";
const sentNote = (key: string): string | undefined => {
  const note = `${SENT_NOTE}${JSON.stringify(key)}`;
  return note.length <= 500 ? note : undefined;
};
/** The sort key a sentNote names, or undefined for any other note. */
const keyOfNote = (note: string): string | undefined => {
  if (!note.startsWith(SENT_NOTE)) return undefined;
  try {
    const key: unknown = JSON.parse(note.slice(SENT_NOTE.length));
    return typeof key === "string" ? key : undefined;
  } catch {
    return undefined;
  }
};

/**
 * A DynamoDB unit of erasure's keys, noted before it sends a delete (no personal data: sort keys, as
 * SENT_NOTE's): the listing's key just before its first (null: from the oldest) and its last, and how many
 * keys between them, both included, were there to delete (those not already counted gone). A delete
 * cannot be called back, so a unit that never ends well (the process killed, the attempt stopped with a
 * delete still in doubt: see eraseNotedThenListed) leaves this note, and with it counted none of its
 * deletes. The next attempt counts as that unit's the keys of the range no longer there, in a unit of the
 * same note (finished when it ends well, so counted once), and takes the keys still there as in doubt (a
 * delete DynamoDB was still working on may land on them later, and is then counted by their resend).
 * Before, a delete that landed after the attempt's signal aborted (lease lost, task timeout, shutdown: no
 * unit can begin then to note it) was counted by no one: the next attempt's listing no longer found it.
 */
const RANGE_NOTE = "auth-log-range:";
const rangeNote = (after: string | undefined, last: string, count: number): string | undefined => {
  const note = `${RANGE_NOTE}${JSON.stringify([after ?? null, last, count])}`;
  return note.length <= 500 ? note : undefined;
};
/** The range a rangeNote names, or undefined for any other note. */
const rangeOfNote = (note: string): { after: string | undefined; last: string; count: number } | undefined => {
  if (!note.startsWith(RANGE_NOTE)) return undefined;
  try {
    const [after, last, count]: unknown[] = JSON.parse(note.slice(RANGE_NOTE.length));
    if ((after !== null && typeof after !== "string") || typeof last !== "string" || !Number.isSafeInteger(count) || (count as number) < 0) return undefined;
    return { after: after ?? undefined, last, count: count as number };
  } catch {
    return undefined;
  }
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
   * The erase itself: first the deletes an earlier attempt left noted (SENT_NOTE), each in a unit of its
   * note, then the listed keys, a unit at a time. `unsettled` and `noted`: see erase.
   */
  const eraseNotedThenListed = async (userId: string, before: string | undefined, ctx: TaskContext, beat: () => Promise<void>, unsettled: Set<string>, noted: Set<string>): Promise<ErasureOutcome> => {
    let erased = 0;
    let throttledRounds = 0;
    /** DynamoDB: the keys this call's units counted deleted (a later unit's RANGE_NOTE leaves them out of its count). */
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
    for (const note of new Set(await ctx.unfinishedUnits())) {
      const range = rangeOfNote(note);
      if (range) {
        // A unit of an earlier attempt that never ended well: what of its range is gone is its deletes.
        const ran = await ctx.eraseUnit(
          "AUTH_LOGS",
          async () => {
            let there = 0;
            const bound = `${range.last}\u0000`;
            for await (const page of pages(name, "erase", ctx, (after, signal) => store.page(userId, { after: after ?? range.after, before: bound, keysOnly: true }, signal, () => ctx.heartbeat()))) {
              for (const e of page.events) unsettled.add(e.key);
              there += page.events.length;
            }
            const n = Math.max(0, range.count - there);
            erased += n;
            return n;
          },
          note,
        );
        if (!ran) return { erased };
        continue;
      }
      const key = keyOfNote(note);
      if (key === undefined) continue;
      unsettled.add(key);
      const ran = await ctx
        .eraseUnit(
          "AUTH_LOGS",
          async () => {
            const { deleted, failure } = await removeInUnit([key]);
            // Failed, the unit keeps its note for the next attempt (a one-key unit counts nothing then).
            if (failure) throw failure.error instanceof WriteOutOfTime ? outOfTime() : failure.error;
            erased += deleted;
            return deleted;
          },
          note,
        )
        .catch((error: unknown) => {
          noted.add(key);
          throw error;
        });
      if (!ran) {
        ctx.logger.info({ connector: name, erased }, "the erasure was withdrawn; stopping here");
        return { erased };
      }
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
        // DynamoDB: the unit notes its keys before it sends a delete (RANGE_NOTE).
        const left = part.filter((k) => !gone.has(k));
        const note = dynamo ? rangeNote(at > 0 ? keys[at - 1] : previous, part[part.length - 1], left.length) : undefined;
        const ran = await ctx.eraseUnit(
          "AUTH_LOGS",
          async () => {
            const removed = await removeInUnit(part);
            // Stopped with a delete of it in doubt, the unit must not end well: no unit can begin now to
            // note that delete, so this unit's note hands its whole range to the next attempt to count.
            if (ctx.signal.aborted && part.some((k) => unsettled.has(k))) throw stopped(name, "erase", ctx.signal);
            failure = removed.failure;
            erased += removed.deleted;
            return removed.deleted;
          },
          note,
        );
        if (failure) {
          if (!(failure.error instanceof WriteOutOfTime)) throw failure.error;
          // DynamoDB: the unit's time ran out after its first `done` keys: the rest go in a new unit.
          if (failure.error.done > 0) {
            at += failure.error.done;
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
        if (!ran) {
          ctx.logger.info({ connector: name, erased }, "the erasure was withdrawn; stopping here");
          return { erased };
        }
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
      if (!instruction.categories.includes("AUTH_LOGS")) return { erased: 0 };
      const userId = userIdOf(ids);
      const before = boundOf(instruction);
      const beat = pacer(ctx, heartbeatEveryMs);
      // Deletes sent without learning whether they landed, not counted yet (AuthLogStore.remove), and
      // those of them whose noted unit failed in this call (its note is left already).
      const unsettled = new Set<string>();
      const noted = new Set<string>();
      try {
        return await eraseNotedThenListed(userId, before, ctx, beat, unsettled, noted);
      } catch (error) {
        // Each delete that may have landed uncounted goes to the next attempt under a note (SENT_NOTE):
        // a unit that fails with this call keeps it. Not once the task is lost: no unit begins then (the
        // unit that sent it keeps its RANGE_NOTE instead).
        if (!ctx.signal.aborted) {
          for (const key of unsettled) {
            const note = sentNote(key);
            if (note === undefined || noted.has(key)) continue;
            await ctx
              .eraseUnit("AUTH_LOGS", () => Promise.reject(error), note)
              .catch(() => undefined);
          }
        }
        throw error;
      }
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
