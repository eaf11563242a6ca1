/**
 * What a system says it did with a correction, checked against what the correction asks: every field
 * asked for is either changed or not held there, and nothing else is claimed changed. A field the
 * system is silent about may still hold the old value, so a correction cannot be reported done.
 */
export function correctionGaps(asked: readonly string[], changed: readonly string[], notHeld: readonly string[]): { silent: string[]; notAsked: string[] } {
  const said = new Set([...changed, ...notHeld]);
  return { silent: [...new Set(asked)].filter((f) => !said.has(f)), notAsked: [...new Set([...changed, ...notHeld])].filter((f) => !asked.includes(f)) };
}

/**
 * Whether a correction writes the email, the identity every later request of the person (the settings
 * page's too) is looked up by in every system: in any letter case, as a database's field names may be.
 * Only a caller who vouches for the new address may ask for it (the emailed code proves the old one).
 */
export function correctsEmail(corrections: readonly { field: string }[] | null | undefined): boolean {
  return (corrections ?? []).some((c) => c.field.toLowerCase() === "email");
}
