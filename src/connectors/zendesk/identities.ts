import { normalizeEmail } from "../../domain/identities";
import type { WireIdentity } from "./records";

/**
 * Whether an email identity was proven its user's: `verified` (the older field) or `verification_method`
 * (its successor: `none` and `low` are not proof). The search finds a user by an unverified address
 * too, and anyone's profile can be given one: taking it as proof would hand that user's tickets to
 * whoever asks with the address, and erase them for them.
 */
export const provenIdentity = (identity: { verified?: unknown; verification_method?: unknown }): boolean =>
  identity.verified === true || (typeof identity.verification_method === "string" && ["full", "sso", "embed"].includes(identity.verification_method));

/** The user's email identities that hold `wanted` (an address in matching form), proven or not. */
export const holdersOf = (identities: readonly WireIdentity[], wanted: string): WireIdentity[] =>
  identities.filter((i) => i.type === "email" && typeof i.value === "string" && normalizeEmail(i.value) === wanted);
