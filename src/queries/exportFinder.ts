import { EntityManager } from "typeorm";
import { RequestStatus, RequestType } from "../domain/enums";
import { ExportRow, RequestRow } from "../entities";

type RequestFacts = Pick<RequestRow, "id" | "type" | "status" | "duplicateOf">;

/**
 * The request whose work answers `request`: a request that followed an earlier duplicate was answered
 * by that one (see planRequest), so its export and certificate are that one's.
 */
export const answeringRequestId = (request: Pick<RequestRow, "id" | "duplicateOf">): string => request.duplicateOf ?? request.id;

/** The export that answers a request (its own, or the original's for a duplicate), or null. */
export async function findRequestExport(em: EntityManager, request: RequestFacts): Promise<ExportRow | null> {
  return em.getRepository(ExportRow).findOneBy({ requestId: answeringRequestId(request) });
}

/** Why a request has no export, in one sentence that agrees with its type and status. */
export function noExportReason(request: RequestFacts, retentionDays: number): string {
  if (request.type !== RequestType.ACCESS && request.type !== RequestType.PORTABILITY) {
    return `Request ${request.id} is a ${request.type} request; only ACCESS and PORTABILITY requests have an export`;
  }
  if (request.status === RequestStatus.COMPLETED) {
    return `The export of request ${request.id} is no longer kept (exports are removed ${retentionDays} days after they are written); submit a new request for a fresh copy`;
  }
  if (request.status === RequestStatus.FAILED || request.status === RequestStatus.REJECTED || request.status === RequestStatus.CANCELLED) {
    return `Request ${request.id} ended ${request.status} without an export`;
  }
  return `Request ${request.id} is ${request.status}; its export is written when the request completes`;
}
