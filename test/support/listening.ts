/** The port a service logged in its "dsr service listening" line, once it has. */
export function listeningPort(output: string): number | undefined {
  const match = /"url":"http:\/\/[^:"]+:(\d+)\//.exec(output);
  return match ? Number(match[1]) : undefined;
}

/** Times one call; a call that fails or takes longer than `limitMs` counts as unanswered. */
export async function timed(call: () => Promise<unknown>, limitMs: number): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([call(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("no answer")), limitMs)))]);
    return performance.now() - started;
  } catch {
    return Infinity;
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `call` every 50 ms until stop(), timing each answer (at most 5 s; Infinity for none) into `latencies`. */
export function keepProbing(call: () => Promise<unknown>): { latencies: number[]; stop(): Promise<void> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      latencies.push(await timed(call, 5000));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return { latencies, stop: () => ((running = false), loop) };
}
