import { createHash } from "node:crypto";

/** The hash a stream's first event points at. */
export const GENESIS_HASH = "0".repeat(64);

/** The stream of events that concern no request (tokens, legal holds, previews, the upgrade itself). */
export const INSTALLATION_STREAM = "installation";

/**
 * Which chain an event joins: its request's own, or the installation's. One chain per request means a
 * transaction waits only for others writing about the same request, never for the whole service.
 */
export function streamOf(requestId: string | null): string {
  return requestId ?? INSTALLATION_STREAM;
}

/** How a stream is named to a person reading a verification. */
export function describeStream(stream: string): string {
  return stream === INSTALLATION_STREAM ? "the installation trail" : `the trail of request ${stream}`;
}

/** JSON with object keys sorted, so the same details always hash the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The columns an event's hash covers: all of them but the hash itself. */
export interface HashedEventContent {
  stream: string;
  seq: number;
  requestId: string | null;
  actorId: string;
  actorRole: string;
  action: string;
  details: string;
  occurredAt: Date;
  prevHash: string;
}

/** SHA-256 of one event: its stream and position, its content and the previous event's hash. */
export function eventHash(e: HashedEventContent): string {
  const content = [e.stream, e.seq, e.requestId, e.actorId, e.actorRole, e.action, e.details, e.occurredAt.toISOString(), e.prevHash];
  return createHash("sha256").update(JSON.stringify(content)).digest("hex");
}
