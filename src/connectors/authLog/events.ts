import type { SubjectRecord } from "../sdk";

/**
 * The shape of an auth-log event, shared by both stores so that a subject's export looks the same
 * whichever store holds it. Events are keyed by user id (partition) and an event key (sort):
 * `<ISO-8601 UTC instant>#<event id>`, e.g. `2025-03-01T10:00:00.000Z#evt_000123`. Because the key
 * starts with a fixed-width instant, key order is time order, and "recorded before T" is the key range
 * `< T.toISOString()` in both stores.
 */

/** Record type of every event in the export. */
export const AUTH_EVENT_TYPE = "auth_event";

/** The fields of an event besides its keys, as they appear in the export (and as DynamoDB attributes). */
export const AUTH_EVENT_FIELDS = ["eventId", "recordedAt", "event", "result", "factor", "device", "ip", "browser", "os"] as const;
export type AuthEventField = (typeof AUTH_EVENT_FIELDS)[number];

/** One event as a sample system (or a test) writes it. */
export type AuthEvent = { userId: string; key: string } & Record<AuthEventField, string>;

/** An event as a store reads it: its sort key and its other fields (absent when only keys were read). */
export interface StoredEvent {
  key: string;
  data?: Record<string, unknown>;
}

/** The sort key of an event recorded at `at`. */
export function eventKey(at: Date, eventId: string): string {
  return `${at.toISOString()}#${eventId}`;
}

const ISO_PREFIX = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)(#|$)/;

/** The instant a sort key starts with, or undefined for a key not of the `<instant>#<id>` form. */
export function recordedAtOfKey(key: string): Date | undefined {
  const match = ISO_PREFIX.exec(key);
  if (!match) return undefined;
  const at = new Date(match[1]);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The lowest sort key of events recorded at or after `since`: keys below it are older. */
export function keyBound(since: Date): string {
  return new Date(since).toISOString();
}

/** Makes a stored value JSON-safe: sets become arrays, binary becomes base64, maps are walked. */
export function plain(value: unknown): unknown {
  if (value instanceof Set) return [...value].map(plain);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") return flat(value as Record<string, unknown>) ? value : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Whether every value of a map is already JSON-safe (strings, numbers, booleans, null): the usual event, kept as it is. */
function flat(map: Record<string, unknown>): boolean {
  for (const key in map) {
    const v = map[key];
    if (v !== null && typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") return false;
  }
  return true;
}

/** The subject's record for one stored event; its id is the sort key (unique per user, stable). */
export function toAuthRecord(event: StoredEvent): SubjectRecord {
  const record: SubjectRecord = { category: "AUTH_LOGS", type: AUTH_EVENT_TYPE, id: event.key, data: (plain(event.data ?? {}) as Record<string, unknown>) };
  const recordedAt = recordedAtOfKey(event.key);
  if (recordedAt) record.recordedAt = recordedAt;
  return record;
}
