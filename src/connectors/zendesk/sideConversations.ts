import { normalizeEmail } from "../../domain/identities";
import { CallContext, ZendeskClient } from "./client";
import { WireParticipant, WireSideConversation, WireSideEvent, WireTicket } from "./records";

/**
 * The messages the subject sent in the ticket's side conversations: from their Zendesk user, or from
 * one of their proven addresses as an outside participant (`proven`, senderAddresses). Only the side
 * conversations they are on are read message by message; `others` counts the other people's messages
 * there (their words: left out). Zendesk lists side conversations by ticket only, never by participant.
 */
export async function* sideMessagesOf(
  client: ZendeskClient,
  ticket: WireTicket,
  userId: number,
  proven: ReadonlySet<string>,
  op: "collect" | "erase",
  ctx: CallContext,
  others?: { count: number },
): AsyncGenerator<{ sc: WireSideConversation; event: WireSideEvent }> {
  const hers = (p?: WireParticipant | null): boolean => !!p && (p.user_id === userId || (p.user_id == null && typeof p.email === "string" && proven.has(normalizeEmail(p.email))));
  for await (const sc of client.list<WireSideConversation>(`tickets/${ticket.id}/side_conversations.json`, "side_conversations", op, ctx)) {
    if (!(sc.participants ?? []).some(hers)) continue;
    for await (const event of client.list<WireSideEvent>(`tickets/${ticket.id}/side_conversations/${encodeURIComponent(sc.id)}/events.json`, "events", op, ctx)) {
      if (!event.message) continue;
      if (hers(event.message.from)) yield { sc, event };
      else if (others) others.count += 1;
    }
  }
}

/** How many messages the subject sent in the ticket's side conversations (sideMessagesOf), for erase's counts. */
export async function sideMessageCount(client: ZendeskClient, ticket: WireTicket, userId: number, proven: ReadonlySet<string>, ctx: CallContext): Promise<number> {
  let n = 0;
  for await (const _ of sideMessagesOf(client, ticket, userId, proven, "erase", ctx)) n += 1;
  return n;
}
