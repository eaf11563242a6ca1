import { ConnectorError, Identities } from "./sdk";

/**
 * Whether an object another system holds may be the subject's, by the platform's link on it to one of its
 * accounts (a user id, in matching form; null when the object carries none): unlinked, or linked to the
 * subject's own user id.
 */
export const linkedToSubject = (link: string | null, ids: Identities): boolean => link === null || (typeof ids.userId === "string" && link === ids.userId);

/** What an object reached by an id from the account database is, for otherAccountById's message. */
export interface ReachedById {
  /** The object, as the person reads it: "payment customer". */
  thing: string;
  /** The system holding it: "Stripe". */
  system: string;
  /** The platform's link on it: "its accountMetadataKey". */
  link: string;
  /** The account database's column for it, as the person reads it: "customer id". */
  id: string;
  /** What another person's would be: "payments". */
  data: string;
  /** The identity kind the account database gave (internal message only): "paymentCustomerId". */
  kind: string;
}

/**
 * Stops a call when the object the account database gives by id carries the platform's link to another
 * account (linkedToSubject, while the subject's user id is known): the account database says the object is
 * the subject's, the link that it is another account's, and neither can be taken over the other, so
 * nothing is read or erased by it. The message names the kind, never a value.
 */
export function refuseOtherAccountById(link: string | null, ids: Identities, name: string, op: string, what: ReachedById): void {
  if (typeof ids.userId !== "string" || linkedToSubject(link, ids)) return;
  throw new ConnectorError(
    `${name}: the ${what.thing} the account database holds for the subject is tagged at ${what.system} as another account's (${what.link} names another user id); the ${op} stopped rather than reach another person's ${what.data}. Check the account database's ${what.id} by hand`,
    `${name} ${op}: ${what.kind} is linked to another account`,
    false,
  );
}
