import { Actor } from "../audit/actor";
import { reasonDetails } from "../audit/auditTrail";
import { inTransaction } from "../db/transaction";
import { addCalendarDays, MAX_EXTENSION_DAYS } from "../domain/deadlines";
import { TERMINAL_STATUSES } from "../domain/enums";
import { RequestRow } from "../entities";
import { conflict } from "../errors";
import { Services } from "../services";
import { loadRequest, updateRequest } from "./requestTransition";

/** Moves a request's due date later by `days`, with a reason; at most MAX_EXTENSION_DAYS in total. */
export async function extendDeadline(services: Services, actor: Actor, id: string, days: number, reason: string): Promise<RequestRow> {
  return inTransaction(services.ds, async (em) => {
    const row = await loadRequest(em, id);
    if (TERMINAL_STATUSES.includes(row.status)) throw conflict(`Request ${row.id} is ${row.status}; a closed request has no deadline to extend`);
    if (row.extendedDays + days > MAX_EXTENSION_DAYS) {
      throw conflict(
        `Request ${row.id} was already extended by ${row.extendedDays} day(s); the total may not exceed ${MAX_EXTENSION_DAYS}`,
        { extendedDays: row.extendedDays },
      );
    }
    const dueAt = addCalendarDays(row.dueAt, days);
    return updateRequest(
      em,
      row,
      { dueAt, extendedDays: row.extendedDays + days, extensionReason: reason.trim() },
      { actor, action: "request.deadline_extended", details: { days, dueAt: dueAt.toISOString(), ...reasonDetails(actor, reason.trim()) } },
      services.clock.now(),
    );
  });
}
