import { resolveCertificateKey } from "../certificates/signing";
import { createHash, randomUUID } from "node:crypto";
import type { EntityManager } from "typeorm";
import { PassThrough, Transform } from "node:stream";
import { SYSTEM_ACTOR } from "../audit/actor";
import { appendAuditEvent } from "../audit/auditTrail";
import { ConnectorError, TaskContext } from "../connectors/sdk";
import { paced } from "../eventLoop";
import { RequestType } from "../domain/enums";
import { ExportRow, RequestRow, TaskRow } from "../entities";
import type { Services } from "../services";
import { exportTools } from "./context";
import { encryptStream } from "./crypto";
import { writeArchive } from "./merge";
import { checkStoredPortability } from "./portability";
import { deleteStaged } from "./staging";
import { existingStagingKey } from "./stagingKeys";
import { processingLocationOf } from "../orchestrator/registry";

/** Task rows of EXPORT steps carry this in place of a connector name. */
export const EXPORT_TASK_CONNECTOR = "export";

const DAY_MS = 86_400_000;

export interface WrittenExport {
  records: number;
  /** The stored archive's row, as record() writes it. */
  row: ExportRow;
  /**
   * Records the export (replacing an earlier one of the request) in `em`'s transaction: the task's
   * completion, whose guarded update makes sure an attempt that lost its task records nothing.
   */
  record(em: EntityManager): Promise<void>;
  /** The completion did not commit (the lease was lost, or it failed): the stored archive goes. */
  discard(): Promise<void>;
  /** Run once the task's completion is committed: drops the staged records and the replaced archive. */
  afterComplete(): Promise<void>;
}

/** How often long work extends its lease: a quarter of it (at most once a second), so a short lease never lapses. */
export const heartbeatEveryMs = (leaseMs: number) => Math.min(1000, leaseMs / 4);

/** Extends the lease at the heartbeat pace, and stops the work when the task was stopped from outside. */
function pacedHeartbeat(ctx: TaskContext, leaseMs: number): () => Promise<void> {
  const beat = paced(heartbeatEveryMs(leaseMs), () => ctx.heartbeat());
  return async () => {
    if (ctx.signal.aborted) throw new Error(`export stopped: ${String(ctx.signal.reason)}`);
    await beat();
  };
}

/**
 * The EXPORT step: merges the staged records into a ZIP, encrypts it while it is written (fresh data
 * key, wrapped), stores it, and records it (replacing an earlier export of the request). The task's
 * completion is the caller's; staged records are deleted only after it, so a failed attempt can rerun.
 */
export async function runExportStep(services: Services, task: TaskRow, ctx: TaskContext): Promise<WrittenExport> {
  // The export is the service's own work, bounded by the task timeout: its lease is kept on a timer, so
  // waits the archive loop does not see (a storage's fsync, a busy database) do not lose it.
  const keepAlive = setInterval(() => void ctx.heartbeat().catch(() => undefined), heartbeatEveryMs(services.config.DSR_TASK_LEASE_MS));
  try {
    return await writeExport(services, task, ctx);
  } finally {
    clearInterval(keepAlive);
  }
}

async function writeExport(services: Services, task: TaskRow, ctx: TaskContext): Promise<WrittenExport> {
  const { ds, clock } = services;
  const { keys, storage } = exportTools(services);
  const request = await ds.getRepository(RequestRow).findOneByOrFail({ id: task.requestId });
  const now = clock.now();
  const id = randomUUID();
  const objectKey = `${request.id}/${id}.dsrx`;
  const dataKey = await keys.newDataKey(request.id);
  const encrypted = encryptStream(dataKey.plain, { wrapping: keys.wrapping, requestId: request.id, keyRef: keys.keyRef, wrappedKey: dataKey.wrapped });
  const hash = createHash("sha256");
  let encryptedBytes = 0;
  const measured = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      encryptedBytes += chunk.length;
      done(null, chunk);
    },
  });
  const body = encrypted.pipe(measured).pipe(new PassThrough());
  encrypted.on("error", (error) => body.destroy(error));
  // The storage attaches its own handling only once it has started (after a mkdir, say): an archive
  // that fails before then must not make the destroyed body an uncaught 'error' event.
  body.on("error", () => undefined);
  const stored = storage.put(objectKey, body);
  stored.catch(() => undefined);
  let manifest;
  let stagingKey: Buffer | null = null;
  try {
    stagingKey = await existingStagingKey(ds, keys, request.id);
    const processingLocations = {
      primary: services.config.DSR_PROCESSING_LOCATION,
      byConnector: Object.fromEntries(services.connectors.list().map((c) => [c.spec.name, processingLocationOf(c) ?? null])),
    };
    manifest = await writeArchive(ds, request, encrypted, {
      now,
      heartbeat: pacedHeartbeat(ctx, services.config.DSR_TASK_LEASE_MS),
      stagingKey,
      processingLocations,
      signingKey: resolveCertificateKey(services.config),
    });
    await stored;
    if (request.type === RequestType.PORTABILITY) {
      const problems = await checkStoredPortability({ keys, storage }, objectKey, request.id);
      if (problems.length) throw new ConnectorError("The export did not pass the portability check", `portability problems: ${problems.slice(0, 5).join("; ")}`, false);
    }
  } catch (error) {
    encrypted.destroy(error as Error);
    await stored.catch(() => undefined);
    await storage.delete(objectKey).catch(() => undefined);
    throw error;
  } finally {
    dataKey.plain.fill(0);
    stagingKey?.fill(0);
  }
  const records = manifest.categories.reduce((n, c) => n + c.records, 0);
  const row = Object.assign(new ExportRow(), {
    id,
    requestId: request.id,
    taskId: task.id,
    storage: storage.kind,
    objectKey,
    keyRef: keys.keyRef,
    encryptedBytes,
    records,
    files: manifest.files.length + 1,
    sha256: hash.digest("hex"),
    createdAt: now,
    expiresAt: new Date(now.getTime() + services.config.DSR_EXPORT_RETENTION_DAYS * DAY_MS),
  });
  let replaced: ExportRow | null = null;
  return {
    records,
    row,
    record: async (em) => {
      // A request has one EXPORT task, and its row is written only by the completion that ends it
      // SUCCEEDED, which retryTask never re-queues: a first attempt (a retryTask's too, counted from 1
      // again) has no archive of its own to replace, and inserts without a read. A failed attempt's
      // archive was deleted by that attempt, or by runner's discard when its completion did not commit.
      // Should a row be there anyway, the unique index on requestId refuses the insert, this attempt
      // fails, and the next one replaces that row.
      replaced = task.attempts > 1 ? await em.getRepository(ExportRow).findOneBy({ requestId: request.id }) : null;
      if (replaced) await em.getRepository(ExportRow).delete({ id: replaced.id });
      await em.getRepository(ExportRow).insert(row);
      await appendAuditEvent(
        em,
        { requestId: request.id, actor: SYSTEM_ACTOR, action: "export.stored", details: { exportId: id, storage: storage.kind, records, files: row.files, encryptedBytes, keyRef: keys.keyRef, replaced: replaced?.id ?? null } },
        now,
      );
    },
    discard: () => storage.delete(objectKey),
    afterComplete: async () => {
      ctx.logger.info({ exportId: id, records, encryptedBytes, storage: storage.kind }, "export stored");
      if (replaced) await storage.delete(replaced.objectKey);
      // The task is already SUCCEEDED: a failure here is not the task's, and the purge finishes the job.
      await deleteStaged(ds, request.id).catch((error: unknown) => ctx.logger.warn({ err: error }, "staged records left for the purge"));
    },
  };
}
