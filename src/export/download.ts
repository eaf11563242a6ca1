import { pipeline } from "node:stream/promises";
import type { RequestHandler } from "express";
import { appendAuditEvent, AuditDetails } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { BreachRosterRow, BreachRosterStatus, ExportRow } from "../entities";
import { rosterBinding } from "../roster/rosterJob";
import type { Services } from "../services";
import { exportTools } from "./context";
import { decryptStream, ExportDecryptionError } from "./crypto";
import { checkLink, LinkKind } from "./links";
import { ExportNotStoredError } from "./storage/storage";

const refuse = (status: number, code: string, message: string) => ({ status, body: { error: { code, message } } });

/** A stored encrypted file a signed link may serve. */
interface Served {
  objectKey: string;
  /** What the file's header must be bound to (a file moved from elsewhere fails). */
  binding: string;
  /** The audit stream the download is written to (a request's, or installation-wide). */
  requestId: string | null;
  details: AuditDetails;
  contentType: string;
  filename: string;
  log: Record<string, string>;
}

/**
 * GET <kind's path>/:id?expires=&signature=: serves a signed link to an encrypted file. The file is
 * decrypted while it streams (never written in plain text); a tampered link is 403, an expired one 410,
 * a purged file 404, storage that cannot be read now 503. Every download is an audit event `<kind>.downloaded`, written before the first byte
 * leaves; one that does not reach its end (the client went away, or the file failed authentication and
 * the connection was cut, so the client never holds a complete file) is followed by
 * `<kind>.download_interrupted`, so the trail never reads as a delivery that did not happen. HEAD
 * answers what GET would (status and headers) and sends nothing, so it is no download and not audited.
 */
function signedDownloadHandler(services: Services, kind: LinkKind, find: (id: string, linkExpiresAt: string) => Promise<Served | null>, gone: string): RequestHandler {
  return async (req, res) => {
    const id = String(req.params.id ?? "");
    const verdict = checkLink(services.secret, kind, id, req.query.expires, req.query.signature, services.clock.now());
    const no =
      verdict === "invalid" ? refuse(403, "FORBIDDEN", "This download link is not valid") : verdict === "expired" ? refuse(410, "FORBIDDEN", "This download link has expired; ask for a new one") : null;
    res.setHeader("Cache-Control", "no-store");
    if (no) return void res.status(no.status).json(no.body);
    const served = await find(id, new Date(Number(req.query.expires) * 1000).toISOString());
    if (!served) return void res.status(404).json(refuse(404, "NOT_FOUND", gone).body);
    const { keys, storage } = exportTools(services);
    const log = services.logger.child(served.log);
    let source;
    try {
      source = await storage.get(served.objectKey);
    } catch (error) {
      // Gone is 404; storage that did not answer (S3 down, a disk fault) is not "gone": 503, try again.
      if (error instanceof ExportNotStoredError) return void res.status(404).json(refuse(404, "NOT_FOUND", gone).body);
      log.error({ err: error }, "stored file unreadable");
      res.setHeader("Retry-After", "60");
      return void res.status(503).json(refuse(503, "INTERNAL_SERVER_ERROR", "The file could not be read from storage just now; nothing was downloaded. Try the same link again later").body);
    }
    res.status(200);
    res.setHeader("Content-Type", served.contentType);
    res.setHeader("Content-Disposition", `attachment; filename="${served.filename}"`);
    if (req.method === "HEAD") return void (source.destroy(), res.end());
    const audit = (action: string, details: AuditDetails = {}) =>
      inTransaction(services.ds, (em) => appendAuditEvent(em, { requestId: served.requestId, actor: { id: `link:${id}`, role: "SYSTEM" }, action: `${kind}.${action}`, details: { ...served.details, ...details } }, services.clock.now()));
    await audit("downloaded");
    const decrypt = decryptStream(async (header) => {
      if (header.requestId !== served.binding) throw new ExportDecryptionError("the stored file belongs to another request");
      return keys.unwrap(header);
    });
    try {
      await pipeline(source, decrypt, res);
      log.info(`${kind} downloaded`);
    } catch (error) {
      const unreadable = error instanceof ExportDecryptionError;
      log.error({ err: unreadable ? error.message : error }, `${kind} download cut off`);
      res.destroy();
      await audit("download_interrupted", { reason: unreadable ? "the stored file failed authentication; the connection was cut" : "the connection closed before the whole file was sent" }).catch((auditError) =>
        log.error({ err: auditError }, `${kind} download cut off, and its audit event could not be written`),
      );
    }
  };
}

/** GET /exports/:id: a request's export archive. */
export function exportDownloadHandler(services: Services): RequestHandler {
  return signedDownloadHandler(
    services,
    "export",
    async (id, linkExpiresAt) => {
      const row = await services.ds.getRepository(ExportRow).findOneBy({ id });
      return row && { objectKey: row.objectKey, binding: row.requestId, requestId: row.requestId, details: { exportId: row.id, linkExpiresAt }, contentType: "application/zip", filename: `dsr-export-${row.requestId}.zip`, log: { requestId: row.requestId, exportId: row.id } };
    },
    "This export no longer exists (it was replaced or its retention ended)",
  );
}

/** GET /rosters/:id: a breach roster's CSV file. */
export function rosterDownloadHandler(services: Services): RequestHandler {
  return signedDownloadHandler(
    services,
    "roster",
    async (id, linkExpiresAt) => {
      const row = await services.ds.getRepository(BreachRosterRow).findOneBy({ id, status: BreachRosterStatus.COMPLETED });
      return row?.objectKey ? { objectKey: row.objectKey, binding: rosterBinding(row.id), requestId: null, details: { rosterId: row.id, linkExpiresAt }, contentType: "text/csv; charset=utf-8", filename: `breach-roster-${row.id}.csv`, log: { rosterId: row.id } } : null;
    },
    "This roster's file no longer exists (its retention ended)",
  );
}
