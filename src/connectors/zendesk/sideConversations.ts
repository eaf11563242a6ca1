import { normalizeEmail } from "../../domain/identities";
import { CallContext, ZendeskClient } from "./client";
import { WireParticipant, WireSideConversation, WireSideEvent, WireTicket } from "./records";

/**
 * What reading side conversations met over one collect or erase, ticket after ticket: how many messages
 * there were other people's (neither from the subject nor to them: left out), and whether Zendesk refused
 * to list side conversations at all (403: the account has no Collaboration add-on, which side
 * conversations need, or the API user may not see them). Once refused, no other ticket's are asked for.
 */
export interface SideReach {
  others: number;
  refused: boolean;
  /** Hears of the refusal, once: the caller names the kind not searched. */
  onRefused: () => void;
}

export const sideReach = (onRefused: () => void): SideReach => ({ others: 0, refused: false, onRefused });

/**
 * The side conversation messages of the ticket that are the subject's communications: those they sent,
 * and those sent to them (they are among its recipients), from their Zendesk user or from one of their
 * proven addresses as an outside participant (`proven`, senderAddresses). Only the side conversations
 * they are on are read message by message; the messages there between other people (neither from nor to
 * them) are counted in `reach.others` (their words: left out). Zendesk lists side conversations by
 * ticket only, never by participant.
 */
export async function* sideMessagesOf(
  client: ZendeskClient,
  ticket: WireTicket,
  userId: number,
  proven: ReadonlySet<string>,
  op: "collect" | "erase",
  ctx: CallContext,
  reach: SideReach,
): AsyncGenerator<{ sc: WireSideConversation; event: WireSideEvent; fromThem: boolean }> {
  if (reach.refused) return;
  const hers = (p?: WireParticipant | null): boolean => !!p && (p.user_id === userId || (p.user_id == null && typeof p.email === "string" && proven.has(normalizeEmail(p.email))));
  const refused = () => {
    reach.refused = true;
    reach.onRefused();
  };
  for await (const sc of client.listUnlessRefused<WireSideConversation>(`tickets/${ticket.id}/side_conversations.json`, "side_conversations", op, ctx, refused)) {
    if (!(sc.participants ?? []).some(hers)) continue;
    for await (const event of client.list<WireSideEvent>(`tickets/${ticket.id}/side_conversations/${encodeURIComponent(sc.id)}/events.json`, "events", op, ctx)) {
      if (!event.message) continue;
      const fromThem = hers(event.message.from);
      if (fromThem || (event.message.to ?? []).some(hers)) yield { sc, event, fromThem };
      else reach.others += 1;
    }
  }
}

/** How many of the ticket's side conversation messages are the subject's (sideMessagesOf), for erase's counts. */
export async function sideMessageCount(client: ZendeskClient, ticket: WireTicket, userId: number, proven: ReadonlySet<string>, ctx: CallContext, reach: SideReach): Promise<number> {
  let n = 0;
  for await (const _ of sideMessagesOf(client, ticket, userId, proven, "erase", ctx, reach)) n += 1;
  return n;
}
