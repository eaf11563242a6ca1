/**
 * What a system says it did with a correction, checked against what the correction asks: every field
 * asked for is either changed or not held there, and nothing else is claimed changed. A field the
 * system is silent about may still hold the old value, so a correction cannot be reported done.
 */
export function correctionGaps(asked: readonly string[], changed: readonly string[], notHeld: readonly string[]): { silent: string[]; notAsked: string[] } {
  const said = new Set([...changed, ...notHeld]);
  return { silent: [...new Set(asked)].filter((f) => !said.has(f)), notAsked: [...new Set([...changed, ...notHeld])].filter((f) => !asked.includes(f)) };
}
