import { createHmac, timingSafeEqual } from "node:crypto";

/** Default and longest life of an export link, in seconds. */
export const DEFAULT_LINK_TTL_SECONDS = 24 * 3600;
export const MAX_LINK_TTL_SECONDS = 7 * 24 * 3600;
export const MIN_LINK_TTL_SECONDS = 60;

/** Path of the download route; the export id follows. */
export const DOWNLOAD_PATH = "/exports";

const signature = (secret: string, exportId: string, expires: number) =>
  createHmac("sha256", secret).update(`dsr-export-link:v1:${exportId}:${expires}`, "utf8").digest("hex");

/** `<base>/exports/<id>?expires=<unix seconds>&signature=<HMAC-SHA256 hex>`: anyone holding it may download until it expires. */
export function signExportLink(secret: string, baseUrl: string, exportId: string, expiresAt: Date): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  return `${baseUrl.replace(/\/+$/, "")}${DOWNLOAD_PATH}/${encodeURIComponent(exportId)}?expires=${expires}&signature=${signature(secret, exportId, expires)}`;
}

/** Checks a link's parameters: "ok", "expired" (signature good, time passed) or "invalid" (anything changed). */
export function checkExportLink(secret: string, exportId: string, expires: unknown, given: unknown, now: Date): "ok" | "expired" | "invalid" {
  if (typeof expires !== "string" || !/^\d{1,12}$/.test(expires) || typeof given !== "string" || !/^[0-9a-f]{64}$/.test(given)) return "invalid";
  const expected = Buffer.from(signature(secret, exportId, Number(expires)), "hex");
  if (!timingSafeEqual(expected, Buffer.from(given, "hex"))) return "invalid";
  return Number(expires) * 1000 <= now.getTime() ? "expired" : "ok";
}
