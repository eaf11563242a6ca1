import type { Connector, Identities, SubjectRecord, TaskContext } from "../connectors/sdk";
import { ConnectorError } from "../connectors/sdk";
import type { KeptByEarlier, RetentionExceptionRow } from "../entities";
import type { EarlierException } from "../queries/retentionFinder";
import { HEARTBEAT_EVERY } from "./deletion";

const recordKey = (r: SubjectRecord) => `${r.category}\u0000${r.type}\u0000${r.id}`;

/**
 * What earlier deletions of the person keep in the system that this erasure could not look for (it
 * lacked an identity they were kept under), counted in the system itself: the records their identities
 * reach there and this erasure's do not, per category, at most what their open exceptions keep. A
 * missing identity alone proves nothing: Zendesk finds the user by address too, so a later deletion
 * lacking the ticketing user id still reaches the tickets an earlier one keeps (and keeps them by its
 * own rule, or erases them). Counting them as unreached said the system held twice what it holds, and
 * an exception whose records the later erasure erased stayed open. `reached`: `earlier`, with nothing
 * missing for each exception whose category holds nothing here beyond what this erasure reached (so
 * exceptionsErasedBy may close it). The earlier identities are only read with, never erased with; a
 * system that refuses them (an identity no row of the person confirms any more) leaves the exceptions
 * unreached, with their own counts.
 */
export async function earlierReach(
  connector: Connector,
  ids: Identities,
  earlier: readonly EarlierException[],
  ctx: TaskContext,
  now: Date,
): Promise<{ reached: EarlierException[]; keptByEarlier: KeptByEarlier | null }> {
  const lacking = earlier.filter((e) => e.missing.length);
  if (!lacking.length) return { reached: [...earlier], keptByEarlier: null };
  const seen = new Set<string>();
  await eachRecord(connector, ids, ctx, (r) => void seen.add(recordKey(r)));
  // Per exception lacking an identity: how many records only the earlier identities reach in its category (undefined: not countable).
  const beyondOf = new Map<EarlierException, number | undefined>();
  for (const requestId of new Set(lacking.map((e) => e.exception.requestId))) {
    const sets = lacking.filter((e) => e.exception.requestId === requestId);
    // Each record counted once, for the first request reaching it.
    let beyond: Map<string, number> | undefined = new Map();
    try {
      const found = beyond;
      await eachRecord(connector, { ...ids, ...sets[0].missingValues } as Identities, ctx, (r) => {
        if (seen.has(recordKey(r))) return;
        seen.add(recordKey(r));
        found.set(String(r.category), (found.get(String(r.category)) ?? 0) + 1);
      });
    } catch (error) {
      if (!(error instanceof ConnectorError) || ctx.signal.aborted) throw error;
      ctx.logger.warn({ error: error.internalMessage }, "could not count, with an earlier deletion's identities, what it keeps: its exceptions' counts stand");
      beyond = undefined;
    }
    for (const e of sets) beyondOf.set(e, beyond ? (beyond.get(e.exception.category) ?? 0) : undefined);
  }
  const reached = earlier.map((e) => (beyondOf.get(e) === 0 ? { ...e, missing: [] } : e));
  const unreached = reached.filter((e) => e.missing.length);
  let records = 0;
  for (const requestId of new Set(unreached.map((e) => e.exception.requestId))) {
    for (const category of new Set(unreached.filter((e) => e.exception.requestId === requestId).map((e) => e.exception.category))) {
      const inCategory = unreached.filter((e) => e.exception.requestId === requestId && e.exception.category === category);
      const exceptionsSay = inCategory.reduce((n, e) => n + e.exception.recordCount, 0);
      const beyond = beyondOf.get(inCategory[0]);
      records += beyond === undefined ? exceptionsSay : Math.min(beyond, exceptionsSay);
    }
  }
  if (!records) return { reached, keptByEarlier: null };
  const exceptions: RetentionExceptionRow[] = unreached.map((e) => e.exception);
  return {
    reached,
    keptByEarlier: {
      records,
      countedAt: now.toISOString(),
      requests: [...new Set(exceptions.map((e) => e.requestId))],
      exceptions: exceptions.map((e) => e.id),
      identityKinds: [...new Set(unreached.flatMap((e) => e.missing))].sort(),
    },
  };
}

/** Streams what collect finds with `ids` into `each`, with heartbeats. */
async function eachRecord(connector: Connector, ids: Identities, ctx: TaskContext, each: (r: SubjectRecord) => void): Promise<void> {
  let seen = 0;
  for await (const record of connector.collect(ids, ctx)) {
    each(record);
    if (++seen % HEARTBEAT_EVERY === 0) await ctx.heartbeat();
  }
}
