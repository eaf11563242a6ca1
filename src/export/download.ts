import { pipeline } from "node:stream/promises";
import type { RequestHandler } from "express";
import { appendAuditEvent } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { ExportRow } from "../entities";
import type { Services } from "../services";
import { exportTools } from "./context";
import { decryptStream, ExportDecryptionError } from "./crypto";
import { checkExportLink } from "./links";

const refuse = (status: number, code: string, message: string) => ({ status, body: { error: { code, message } } });

/**
 * GET /exports/:id?expires=&signature=: serves a signed export link. The archive is decrypted while it
 * streams (never written in plain text); a tampered link is 403, an expired one 410, a purged export
 * 404. Every download is an audit event, written before the first byte leaves. If authentication of
 * the file fails midway, the connection is cut, so the client never receives a complete archive.
 */
export function exportDownloadHandler(services: Services): RequestHandler {
  return async (req, res) => {
    const id = String(req.params.id ?? "");
    const verdict = checkExportLink(services.secret, id, req.query.expires, req.query.signature, services.clock.now());
    const no =
      verdict === "invalid" ? refuse(403, "FORBIDDEN", "This download link is not valid") : verdict === "expired" ? refuse(410, "FORBIDDEN", "This download link has expired; ask for a new one") : null;
    res.setHeader("Cache-Control", "no-store");
    if (no) return void res.status(no.status).json(no.body);
    const row = await services.ds.getRepository(ExportRow).findOneBy({ id });
    if (!row) return void res.status(404).json(refuse(404, "NOT_FOUND", "This export no longer exists (it was replaced or its retention ended)").body);
    const { keys, storage } = exportTools(services);
    const log = services.logger.child({ requestId: row.requestId, exportId: row.id });
    let source;
    try {
      source = await storage.get(row.objectKey);
    } catch (error) {
      log.error({ err: error }, "stored export unreadable");
      return void res.status(404).json(refuse(404, "NOT_FOUND", "This export is not available").body);
    }
    await inTransaction(services.ds, (em) =>
      appendAuditEvent(
        em,
        { requestId: row.requestId, actor: { id: `link:${row.id}`, role: "SYSTEM" }, action: "export.downloaded", details: { exportId: row.id, linkExpiresAt: new Date(Number(req.query.expires) * 1000).toISOString() } },
        services.clock.now(),
      ),
    );
    res.status(200);
    res.setHeader("Content-Type", "application/zip");
    res.setHeader("Content-Disposition", `attachment; filename="dsr-export-${row.requestId}.zip"`);
    const decrypt = decryptStream(async (header) => {
      if (header.requestId !== row.requestId) throw new ExportDecryptionError("the stored file belongs to another request");
      return keys.unwrap(header);
    });
    try {
      await pipeline(source, decrypt, res);
      log.info("export downloaded");
    } catch (error) {
      log.error({ err: error instanceof ExportDecryptionError ? error.message : error }, "export download cut off");
      res.destroy();
    }
  };
}
