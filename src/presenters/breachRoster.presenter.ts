import { BreachRosterRow, BreachRosterStatus, notListed } from "../entities";
import { noRosterFileReason } from "../queries/breachRosterFinder";
import type { BreachRoster } from "../schema/breachRoster.type";

/** A roster row as the API shows it: counts, outcomes and whether its file can be had. */
export function presentBreachRoster(row: BreachRosterRow): BreachRoster {
  const systems = row.systems ?? [];
  const completed = row.status === BreachRosterStatus.COMPLETED;
  return {
    id: row.id,
    connectors: row.connectors,
    reason: row.reason,
    caseReference: row.caseReference,
    status: row.status,
    requestedBy: row.requestedBy,
    createdAt: row.createdAt,
    completedAt: row.completedAt,
    complete: completed ? notListed(systems).length === 0 : null,
    people: row.people,
    withoutEmail: row.withoutEmail,
    systems,
    fileAvailable: noRosterFileReason(row) === null,
    fileExpiresAt: completed && row.objectKey ? row.expiresAt : null,
    attempts: row.attempts,
    lastError: row.lastError,
  };
}

