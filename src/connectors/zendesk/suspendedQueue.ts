import type { CallContext, Operation, ZendeskClient } from "./client";
import type { WireSuspendedTicket } from "./records";

/**
 * The held-back (suspended) queue from its start, up to `limit` emails (suspendedScanLimit): Zendesk has
 * no filter by sender, so collect, erase and the roster alike read it in order, each 100 a call. `beyond`
 * hears, once, when emails past the limit were left unread (on the last page read, or a next one, which
 * is not asked for); a queue that ends at the limit says nothing.
 */
export async function* suspendedQueue(client: ZendeskClient, op: Exclude<Operation, "check">, ctx: CallContext, limit: number, beyond?: () => void): AsyncGenerator<WireSuspendedTicket> {
  let read = 0;
  let served = 0;
  let more = false;
  const counted = (page: Record<string, unknown>) => {
    served += Array.isArray(page.suspended_tickets) ? page.suspended_tickets.length : 0;
    more = (page.meta as { has_more?: unknown } | undefined)?.has_more === true;
  };
  for await (const s of client.list<WireSuspendedTicket>("suspended_tickets.json", "suspended_tickets", op, ctx, counted)) {
    read += 1;
    yield s;
    if (read < limit) continue;
    if (served > read || more) beyond?.();
    return;
  }
}
