import { unitNoteCodec } from "../unitNotes";

/**
 * The notes of the Zendesk connector's units of erasure that carry more than one id (see
 * unitNoteCodec): `zendesk-user:<JSON>`, `zendesk-suspended:<JSON>`, `zendesk-residue:<JSON>`, `zendesk-comment:<JSON>` and `zendesk-cc:<JSON>`. Ids, counts and instants only.
 */
const NOTES = unitNoteCodec({ user: "zendesk-user:", suspended: "zendesk-suspended:", residue: "zendesk-residue:", comment: "zendesk-comment:", cc: "zendesk-cc:" });

/**
 * A user's permanent delete, begun: the user's id, and what the attempt counted that a later one, the
 * user gone, could not count again: the records that stay on threads the subject shared with another
 * customer (`shared`: tickets, comments, attachments, side conversation messages) and of their staff
 * replies on other people's tickets (`staff`: tickets, comments, attachments), and the tickets whose
 * record of them goes with the user (`withUser`: closed ones they stay CC'd on or follow).
 */
export interface UserNote {
  user: number;
  withUser: number;
  shared: readonly number[];
  staff: readonly number[];
}

const count = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const counts = (list: unknown, length: number): list is number[] => Array.isArray(list) && list.length === length && list.every(count);

export const userNote = (n: UserNote): string => NOTES.encode("user", n)!;

/**
 * The user note's values, or undefined for any other note. A note the previous version wrote (before
 * this codec), `user:<id>[:tickets:comments:attachments[:side messages[:withUser[:staff tickets:comments:attachments]]]]`,
 * is read too: an attempt stopped after it began the delete may be retried by this version.
 */
export function userOfNote(note: string): UserNote | undefined {
  const value = NOTES.decode("user", note) as Partial<UserNote> | undefined;
  if (value !== undefined) {
    const { user, withUser, shared, staff } = value;
    return count(user) && count(withUser) && counts(shared, 4) && counts(staff, 3) ? { user, withUser, shared, staff } : undefined;
  }
  const legacy = /^user:(\d{1,15})(?::(\d{1,9}):(\d{1,9}):(\d{1,9})(?::(\d{1,9})(?::(\d{1,9})(?::(\d{1,9}):(\d{1,9}):(\d{1,9}))?)?)?)?$/.exec(note);
  if (!legacy) return undefined;
  const n = (i: number) => Number(legacy[i] ?? 0);
  return { user: n(1), shared: [n(2), n(3), n(4), n(5)], withUser: n(6), staff: [n(7), n(8), n(9)] };
}

/** A held-back email's delete, begun: its id, and when it arrived (the earliest a ticket made of it may be dated). */
export interface SuspendedNote {
  id: number;
  /** Milliseconds since the epoch; undefined in a note from before it was noted. */
  arrived?: number;
}

export const suspendedNote = (n: Required<SuspendedNote>): string => NOTES.encode("suspended", n)!;

/** The suspended note's values, or undefined for any other note; the previous version's `suspended:<id>` is read too. */
export function suspendedOfNote(note: string): SuspendedNote | undefined {
  const value = NOTES.decode("suspended", note) as Partial<SuspendedNote> | undefined;
  if (value !== undefined) return count(value.id) && count(value.arrived) ? { id: value.id, arrived: value.arrived } : undefined;
  const legacy = /^suspended:(\d{1,15})$/.exec(note);
  return legacy ? { id: Number(legacy[1]) } : undefined;
}

/**
 * What stays of the subject that an attempt found and no later one can find again, left (as a note of
 * work done, counting nothing: TaskContext.eraseUnit's `leaves`) by the unit that deleted their user for
 * good: the counts of a user note (`shared`, `staff`), and the held-back emails recovered into tickets
 * not tied to them (`recovered`). The attempt that takes the task over after a death before it completed
 * names them residual from it.
 */
export interface ResidueNote {
  shared: readonly number[];
  staff: readonly number[];
  recovered: number;
}

export const residueNote = (n: ResidueNote): string => NOTES.encode("residue", n)!;

/** The residue note's values, or undefined for any other note. */
export function residueOfNote(note: string): ResidueNote | undefined {
  const value = NOTES.decode("residue", note) as Partial<ResidueNote> | undefined;
  if (value === undefined) return undefined;
  const { shared, staff, recovered } = value;
  return counts(shared, 4) && counts(staff, 3) && count(recovered) ? { shared, staff, recovered } : undefined;
}

/**
 * A note of three ids or counts under `kind` (JSON, the values named by `keys`), or the previous version's
 * positional form of it, `<legacy>:<a>:<b>:<c>` (stored by an attempt before this version), read the same.
 */
function triple<T extends string>(kind: "comment" | "cc", legacy: string, keys: readonly [T, T, T], note: string): Record<T, number> | undefined {
  const value = NOTES.decode(kind, note) as Partial<Record<T, unknown>> | undefined;
  if (value !== undefined) return keys.every((k) => count(value[k])) ? (Object.fromEntries(keys.map((k) => [k, value[k]])) as Record<T, number>) : undefined;
  const old = new RegExp(`^${legacy}:(\\d{1,15}):(\\d{1,15}):(\\d{1,9})$`).exec(note);
  return old ? (Object.fromEntries(keys.map((k, i) => [k, Number(old[i + 1])])) as Record<T, number>) : undefined;
}

/** One comment's redaction, begun: the ticket, the comment, and the records it erases (the comment, its live attachments, and the thread's record when it goes with it). */
export interface CommentNote {
  ticket: number;
  comment: number;
  records: number;
}

export const commentNote = (n: CommentNote): string => NOTES.encode("comment", n)!;

/** The comment note's values, or undefined for any other note; the previous version's `comment:<ticket>:<comment>:<records>` is read too. */
export const commentOfNote = (note: string): CommentNote | undefined => triple("comment", "comment", ["ticket", "comment", "records"], note);

/** The subject taken off a thread's CCs and followers, begun: the ticket, their user, and the records that erases (the ticket's record of them). */
export interface CcNote {
  ticket: number;
  user: number;
  records: number;
}

export const ccNote = (n: CcNote): string => NOTES.encode("cc", n)!;

/** The CC note's values, or undefined for any other note; the previous version's `cc:<ticket>:<user>:<records>` is read too. */
export const ccOfNote = (note: string): CcNote | undefined => triple("cc", "cc", ["ticket", "user", "records"], note);
