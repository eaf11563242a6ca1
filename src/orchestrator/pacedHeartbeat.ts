/**
 * A task's heartbeat paced by its lease: `now()` beats at once, `due()` only once a third of `leaseMs`
 * has passed since the last beat of either. Work made of many short steps (units of erasure or of
 * correction, polls for other units) calls due() after each: the lease is kept without a heartbeat's
 * transaction per step.
 */
export function pacedHeartbeat(beat: () => Promise<void>, leaseMs: number): { now: () => Promise<void>; due: () => Promise<void> } {
  let beatAt = performance.now();
  const now = async () => {
    beatAt = performance.now();
    await beat();
  };
  const due = async () => {
    if (performance.now() - beatAt > leaseMs / 3) await now();
  };
  return { now, due };
}
