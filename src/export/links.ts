import { createHmac, timingSafeEqual } from "node:crypto";
import { badField } from "../errors";

/** Default and longest life of a download link (exports, breach rosters), in seconds. */
export const DEFAULT_LINK_TTL_SECONDS = 24 * 3600;
export const MAX_LINK_TTL_SECONDS = 7 * 24 * 3600;
export const MIN_LINK_TTL_SECONDS = 60;

/** A link's life in seconds: `ttlSeconds` or the default; BAD_USER_INPUT outside MIN..MAX_LINK_TTL_SECONDS. */
export function linkTtlSeconds(ttlSeconds: number | undefined): number {
  const ttl = ttlSeconds ?? DEFAULT_LINK_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < MIN_LINK_TTL_SECONDS || ttl > MAX_LINK_TTL_SECONDS) {
    throw badField("ttl", `ttl must be a whole number of seconds from ${MIN_LINK_TTL_SECONDS} to ${MAX_LINK_TTL_SECONDS} (7 days)`);
  }
  return ttl;
}

/** What a signed link downloads: its route, and the word its signature is bound to (a link to one kind never opens the other). */
export const LINK_KINDS = {
  export: { path: "/exports", scope: "dsr-export-link:v1" },
  roster: { path: "/rosters", scope: "dsr-roster-link:v1" },
} as const;
export type LinkKind = keyof typeof LINK_KINDS;

const signature = (secret: string, kind: LinkKind, id: string, expires: number) => createHmac("sha256", secret).update(`${LINK_KINDS[kind].scope}:${id}:${expires}`, "utf8").digest("hex");

/** `<base>/<kind's path>/<id>?expires=<unix seconds>&signature=<HMAC-SHA256 hex>`: anyone holding it may download until it expires. */
export function signLink(secret: string, kind: LinkKind, baseUrl: string, id: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${baseUrl.replace(/\/+$/, "")}${LINK_KINDS[kind].path}/${encodeURIComponent(id)}?expires=${expires}&signature=${signature(secret, kind, id, expires)}`;
}

/** An export's link (signLink for exports). */
export const signExportLink = (secret: string, baseUrl: string, exportId: string, expiresAt: Date) => signLink(secret, "export", baseUrl, exportId, expiresAt);

/** Checks a link's parameters: "ok", "expired" (signature good, time passed) or "invalid" (anything changed). */
export function checkLink(secret: string, kind: LinkKind, id: string, expires: unknown, given: unknown, now: Date): "ok" | "expired" | "invalid" {
  if (typeof expires !== "string" || !/^\d{1,12}$/.test(expires) || typeof given !== "string" || !/^[0-9a-f]{64}$/.test(given)) return "invalid";
  const expected = Buffer.from(signature(secret, kind, id, Number(expires)), "hex");
  if (!timingSafeEqual(expected, Buffer.from(given, "hex"))) return "invalid";
  return Number(expires) * 1000 <= now.getTime() ? "expired" : "ok";
}
