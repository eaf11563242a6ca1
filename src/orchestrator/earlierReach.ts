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
 * lacking the ticketing user id still reaches (and keeps, by its own rule) the tickets an earlier one
 * keeps, and counting them again as unreached said the system held twice what it holds. The earlier
 * identities are only read with (never erased with). A system that refuses them (an identity no row of
 * the person confirms any more) leaves the exceptions' own counts, as they stand.
 */
export async function keptUnreached(connector: Connector, ids: Identities, earlier: readonly EarlierException[], ctx: TaskContext, now: Date): Promise<KeptByEarlier | null> {
  const unreached = earlier.filter((e) => e.missing.length);
  if (!unreached.length) return null;
  const reached = new Set<string>();
  await eachRecord(connector, ids, ctx, (r) => void reached.add(recordKey(r)));
  const named: EarlierException[] = [];
  let records = 0;
  for (const requestId of new Set(unreached.map((e) => e.exception.requestId))) {
    const sets = unreached.filter((e) => e.exception.requestId === requestId);
    // Records only the earlier deletion's identities reach, per category (each counted once, for the first request reaching it).
    let beyond: Map<string, number> | undefined = new Map();
    try {
      const found = beyond;
      await eachRecord(connector, { ...ids, ...sets[0].missingValues } as Identities, ctx, (r) => {
        if (reached.has(recordKey(r))) return;
        reached.add(recordKey(r));
        found.set(String(r.category), (found.get(String(r.category)) ?? 0) + 1);
      });
    } catch (error) {
      if (!(error instanceof ConnectorError) || ctx.signal.aborted) throw error;
      ctx.logger.warn({ error: error.internalMessage }, "could not count, with an earlier deletion's identities, what it keeps: its exceptions' counts stand");
      beyond = undefined;
    }
    for (const category of new Set(sets.map((e) => e.exception.category))) {
      const inCategory = sets.filter((e) => e.exception.category === category);
      const exceptionsSay = inCategory.reduce((n, e) => n + e.exception.recordCount, 0);
      const n = beyond ? Math.min(beyond.get(category) ?? 0, exceptionsSay) : exceptionsSay;
      if (!n) continue;
      records += n;
      named.push(...inCategory);
    }
  }
  if (!records) return null;
  const exceptions: RetentionExceptionRow[] = named.map((e) => e.exception);
  return {
    records,
    countedAt: now.toISOString(),
    requests: [...new Set(exceptions.map((e) => e.requestId))],
    exceptions: exceptions.map((e) => e.id),
    identityKinds: [...new Set(named.flatMap((e) => e.missing))].sort(),
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
