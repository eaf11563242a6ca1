import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { ExportRow, RequestRow } from "../entities";
import { badField, conflict, notFound } from "../errors";
import { DEFAULT_LINK_TTL_SECONDS, MAX_LINK_TTL_SECONDS, MIN_LINK_TTL_SECONDS, signExportLink } from "../export/links";
import { findRequestExport, noExportReason } from "../queries/exportFinder";
import { Services } from "../services";

export interface ExportLink {
  url: string;
  expiresAt: Date;
  export: ExportRow;
}

/**
 * Hands out a signed, expiring download link for a request's export (default 24 hours, at most 7 days,
 * and never past the export's own retention). A request that followed an earlier duplicate gets that
 * one's export. Audited; the link itself is not stored anywhere.
 */
export async function createExportLink(services: Services, actor: Actor, requestId: string, ttlSeconds: number | undefined, baseUrl: string): Promise<ExportLink> {
  const ttl = ttlSeconds ?? DEFAULT_LINK_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < MIN_LINK_TTL_SECONDS || ttl > MAX_LINK_TTL_SECONDS) {
    throw badField("ttl", `ttl must be a whole number of seconds from ${MIN_LINK_TTL_SECONDS} to ${MAX_LINK_TTL_SECONDS} (7 days)`);
  }
  const now = services.clock.now();
  return inTransaction(services.ds, async (em) => {
    const request = await em.getRepository(RequestRow).findOneBy({ id: requestId.toLowerCase() });
    if (!request) throw notFound("Request", requestId);
    const row = await findRequestExport(em, request);
    if (!row) throw conflict(noExportReason(request, services.config.DSR_EXPORT_RETENTION_DAYS), { status: request.status });
    const expiresAt = new Date(Math.min(now.getTime() + ttl * 1000, row.expiresAt.getTime()));
    const details = { exportId: row.id, expiresAt: expiresAt.toISOString(), ...(row.requestId !== request.id ? { answeredWith: row.requestId } : {}) };
    await appendAuditEvent(em, { requestId: request.id, actor, action: "export.link_created", details }, now);
    return { url: signExportLink(services.secret, baseUrl, row.id, expiresAt), expiresAt, export: row };
  });
}
