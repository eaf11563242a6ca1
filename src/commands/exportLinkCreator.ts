import { Actor } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { ExportRow, RequestRow } from "../entities";
import { conflict, notFound } from "../errors";
import { linkTtlSeconds, signExportLink } from "../export/links";
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
 * one's export; none once the export's retention ended, purged yet or not. Audited; the link itself is
 * not stored anywhere.
 */
export async function createExportLink(services: Services, actor: Actor, requestId: string, ttlSeconds: number | undefined, baseUrl: string): Promise<ExportLink> {
  const ttl = linkTtlSeconds(ttlSeconds);
  const now = services.clock.now();
  return inTransaction(services.ds, async (em) => {
    const request = await em.getRepository(RequestRow).findOneBy({ id: requestId.toLowerCase() });
    if (!request) throw notFound("Request", requestId);
    const row = await findRequestExport(em, request);
    // An export past its retention is gone for the reader even while its row waits for the next purge
    // (any worker's, every ten minutes): a link to it would be expired when made, or lose its file.
    if (!row || row.expiresAt <= now) throw conflict(noExportReason(request, services.config.DSR_EXPORT_RETENTION_DAYS), { status: request.status });
    const expiresAt = new Date(Math.min(now.getTime() + ttl * 1000, row.expiresAt.getTime()));
    const details = { exportId: row.id, expiresAt: expiresAt.toISOString(), ...(row.requestId !== request.id ? { answeredWith: row.requestId } : {}) };
    await appendAuditEvent(em, { requestId: request.id, actor, action: "export.link_created", details }, now);
    return { url: signExportLink(services.secret, baseUrl, row.id, expiresAt), expiresAt, export: row };
  });
}
