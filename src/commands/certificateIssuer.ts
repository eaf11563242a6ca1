import { createHmac } from "node:crypto";
import { keptSetSummary } from "../presenters/retention.presenter";
import { certificateForSubject } from "../presenters/holdPrivacy";
import { EntityManager, In } from "typeorm";
import { CERTIFICATE_FORMAT, DeletionCertificateBody } from "../certificates/deletionCertificate";
import { resolveCertificateKey, signDocument } from "../certificates/signing";
import { RequestStatus, RequestType } from "../domain/enums";
import { TaskStep } from "../domain/tasks";
import { keptSubjectEmail, RetentionExceptionRow, RetentionExceptionStatus } from "../entities";
import { keptByEarlierOf } from "../presenters/task.presenter";
import { inReadSnapshot } from "../db/transaction";
import { conflict } from "../errors";
import { Services } from "../services";
import { answeringRequestId } from "../queries/exportFinder";
import { currentResidualSets, erasedResidueOf, tasksOf } from "../queries/deletionOutcomeFinder";
import { findTasks, notSearchedIn } from "../queries/taskFinder";
import { holdsExtending } from "../queries/retentionFinder";
import { loadRequest } from "./requestTransition";

/** The subject as a keyed hash: the service can match it, a reader of the certificate learns nothing. */
export function subjectReference(secret: string, email: string): string {
  return `hmac-sha256:${createHmac("sha256", secret).update(`dsr-certificate-subject\n${email}`, "utf8").digest("hex")}`;
}

/**
 * The certificate's content, read from the request, its tasks and its retention exceptions in one
 * snapshot (`em`, inReadSnapshot): never a purge's outcome beside the exceptions it closed still open.
 */
async function certificateBody(em: EntityManager, services: Services, requestId: string): Promise<DeletionCertificateBody> {
  const request = await loadRequest(em, requestId);
  if (request.type !== RequestType.DELETION) throw conflict(`Request ${request.id} is a ${request.type} request; only deletions have a certificate`);
  if (request.status !== RequestStatus.COMPLETED) {
    throw conflict(`Request ${request.id} is ${request.status}; a deletion certificate exists once the request is COMPLETED`, { status: request.status });
  }
  // A request that followed an earlier duplicate was answered by that one's work.
  const workedBy = answeringRequestId(request);
  const all = await findTasks(em, workedBy);
  const tasks = tasksOf(all, TaskStep.ERASE);
  const exceptions = await em.getRepository(RetentionExceptionRow).find({ where: { requestId: workedBy }, order: { connector: "ASC", category: "ASC", recordType: "ASC", id: "ASC" } });
  const extending = await holdsExtending(em, request.subjectEmail, exceptions);
  // The exceptions of other deletions that erasures named as keeping records where they could not look: open now, or closed since they counted.
  const named = tasks.flatMap((t) => t.result?.keptByEarlier?.exceptions ?? []);
  const stillOpen = new Set(named.length ? (await em.getRepository(RetentionExceptionRow).findBy({ id: In(named), status: RetentionExceptionStatus.OPEN })).map((e) => e.id) : []);
  return {
    format: CERTIFICATE_FORMAT,
    requestId: request.id,
    answeredWith: request.duplicateOf,
    // Its record's email removed (DSR_REQUEST_RECORD_RETENTION_DAYS): the reference computed before it went.
    subjectReference: request.subjectReference ?? subjectReference(services.secret, keptSubjectEmail(request)),
    source: request.source,
    receivedAt: request.receivedAt.toISOString(),
    completedAt: (request.closedAt ?? request.updatedAt).toISOString(),
    issuedAt: services.clock.now().toISOString(),
    erased: tasks.map((t) => ({
      connector: t.connector,
      status: t.status,
      records: t.result?.erased ?? 0,
      kept: t.result?.kept ?? 0,
      redacted: t.result?.redacted ?? 0,
      residual: t.result?.residual ?? 0,
      note: t.note,
      confirmation: t.result?.confirmation ?? null,
      attestedBy: t.result?.attestedBy ?? null,
      keptByEarlier: t.result?.keptByEarlier ? { ...keptByEarlierOf(t.result.keptByEarlier), stillOpen: t.result.keptByEarlier.exceptions.filter((id) => stillOpen.has(id)) } : null,
    })),
    kept: exceptions.map((e) => ({ ...keptSetSummary(e), holdId: e.holdId, extendedByHoldId: extending.get(e.id) ?? null, status: e.status })),
    // What is residual now (a purge names what it met, and erases residue kept records held back), and what purges erased of it.
    residual: currentResidualSets(all).map((r) => ({ ...r, fields: [...r.fields] })),
    residualErased: erasedResidueOf(all).map((r) => ({ ...r, erasedAt: r.erasedAt.toISOString() })),
    notSearched: notSearchedIn(all),
  };
}

/**
 * The certificate with only the other requests `visible` lets its reader be told of (requestIdsVisibleTo):
 * `answeredWith` null and `keptByEarlier.requests` without the others, before it is signed, so the signed
 * file names none of them either. Counts and exceptions stay: they say what was done and kept, not who asked.
 */
async function withOtherRequestsShown(body: DeletionCertificateBody, visible: (ids: readonly string[]) => Promise<ReadonlySet<string>>): Promise<DeletionCertificateBody> {
  const named = [...(body.answeredWith ? [body.answeredWith] : []), ...body.erased.flatMap((e) => e.keptByEarlier?.requests ?? [])];
  if (!named.length) return body;
  const shown = await visible(named);
  return {
    ...body,
    answeredWith: body.answeredWith && shown.has(body.answeredWith) ? body.answeredWith : null,
    erased: body.erased.map((e) => (e.keptByEarlier ? { ...e, keptByEarlier: { ...e.keptByEarlier, requests: e.keptByEarlier.requests.filter((id) => shown.has(id)) } } : e)),
  };
}

/**
 * Issues the signed receipt of a COMPLETED deletion: the signed file's text (what an auditor saves and
 * checks with `dsr certificate verify`) and its content. Anything but a completed deletion is CONFLICT.
 */
export async function issueDeletionCertificate(
  services: Services,
  requestId: string,
  visible?: (ids: readonly string[]) => Promise<ReadonlySet<string>>,
  holdsShown = true,
): Promise<{ body: DeletionCertificateBody; signed: string; keyId: string }> {
  const read = await inReadSnapshot(services.ds, (em) => certificateBody(em, services, requestId));
  const shown = visible ? await withOtherRequestsShown(read, visible) : read;
  // For the subject's side (holdsShown false): no hold named, before it is signed (certificateForSubject).
  const body = holdsShown ? shown : certificateForSubject(shown);
  const key = resolveCertificateKey(services.config);
  return { body, signed: signDocument(body, key), keyId: key.keyId };
}
