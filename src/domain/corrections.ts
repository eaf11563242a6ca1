import type { ConnectorSpec } from "../connectors/sdk";

/**
 * What a system says it did with a correction, checked against what the correction asks: every field
 * asked for is either changed or not held there, and nothing else is claimed changed. A field the
 * system is silent about may still hold the old value, so a correction cannot be reported done.
 */
export function correctionGaps(asked: readonly string[], changed: readonly string[], notHeld: readonly string[]): { silent: string[]; notAsked: string[] } {
  const said = new Set([...changed, ...notHeld]);
  return { silent: [...new Set(asked)].filter((f) => !said.has(f)), notAsked: [...new Set([...changed, ...notHeld])].filter((f) => !asked.includes(f)) };
}

/** A field name in one spelling: letter case, `_`, `-` and spaces aside (`user_id`, `userId` and `USER-ID` are one). */
export const folded = (name: string): string => name.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");

/**
 * The corrections asked for under another spelling of a field a connector corrects (`Email` or `EMAIL`
 * where it corrects `email`, `job_title` where it corrects `jobTitle`), each with the connectors' own
 * spelling: connectors match field names exactly, so such a field would be reported held by no system
 * while the old value stays. A field some connector corrects under exactly that name is not among them.
 */
export function respelledCorrections(corrections: readonly { field: string }[] | null | undefined, specs: readonly Pick<ConnectorSpec, "name" | "correctionFields">[]): { at: number; known: string; by: string[] }[] {
  const declared = specs.flatMap((s) => (s.correctionFields ?? []).map((field) => ({ field, by: s.name })));
  const found: { at: number; known: string; by: string[] }[] = [];
  (corrections ?? []).forEach(({ field }, at) => {
    if (declared.some((d) => d.field === field)) return;
    const alike = declared.filter((d) => folded(d.field) === folded(field));
    if (alike.length) found.push({ at, known: [...new Set(alike.map((d) => d.field))].sort().join(" or "), by: [...new Set(alike.map((d) => d.by))].sort() });
  });
  return found;
}

/** What the identity rule reads of a connector's spec: how it finds people and which correction fields write such a value. */
export type IdentitySpec = Pick<ConnectorSpec, "name" | "needs" | "provides" | "identityFields" | "correctionFields">;

/** A corrected field that decides whom later requests reach, and the systems that find people by what it writes. */
export interface IdentityCorrection {
  field: string;
  /** The field as the connectors spell it (a declared field or a kind): messages name it so, never echoing the request's text. */
  known: string;
  /** Whether it is the email: every later request of the person (the settings page's too) is looked up by it. */
  email: boolean;
  /** The connectors that find people by the value, or provide it to others that do. */
  findBy: string[];
}

/**
 * The corrections that write an identity: a value the service or a configured connector finds people by.
 * Derived from the connectors, not from a list of names: a field a connector declares it writes into an
 * identity (`identityFields`: the SQL connector's rectifiable column that a table is found by or that an
 * identity is provided from, whatever the field is called), and a field named as an identity kind some
 * connector needs or provides (in any spelling: a person correcting a manual system, or a connector that
 * declares nothing, writes what the name says). The email is one whether or not a connector needs it.
 */
export function identityCorrections(corrections: readonly { field: string }[] | null | undefined, specs: readonly IdentitySpec[]): IdentityCorrection[] {
  const kindsOf = (s: IdentitySpec): string[] => [...s.needs, ...s.provides].map(String);
  const findersOf = (kind: string) => specs.filter((s) => kindsOf(s).includes(kind)).map((s) => s.name);
  const found: IdentityCorrection[] = [];
  for (const { field } of corrections ?? []) {
    const name = folded(field);
    const findBy = new Set<string>();
    let known = name === "email" ? "email" : undefined;
    for (const s of specs) {
      for (const declared of s.identityFields ?? []) {
        if (folded(declared.field) !== name) continue;
        known ??= declared.field;
        findBy.add(s.name);
        for (const finder of findersOf(declared.kind)) findBy.add(finder);
      }
      for (const kind of kindsOf(s)) {
        if (folded(kind) !== name) continue;
        known ??= kind;
        for (const finder of findersOf(kind)) findBy.add(finder);
      }
    }
    if (known !== undefined) found.push({ field, known, email: name === "email", findBy: [...findBy].sort() });
  }
  return found;
}
