import { ConnectorError } from "../sdk";
import { CallContext, Operation, ZendeskClient } from "./client";
import type { WireIdentity, WireUser } from "./records";

/** Users per page of the incremental user export (Zendesk's most, and its default). */
const EXPORT_PAGE = 1_000;

/**
 * Pages of the export one lookup reads at most: it answers 10 calls a minute, and a window of minutes
 * holds a few thousand changed users on all but the busiest accounts.
 */
export const RECENT_USER_PAGES = 5;

/** One page of the cursor-based incremental user export, identities sideloaded. */
interface ExportPage {
  users: WireUser[];
  identities?: (WireIdentity & { user_id?: unknown })[];
  after_url?: string | null;
  end_of_stream?: boolean;
}

/** What a lookup of recent users could not do: each is named by the caller (a kind of record not searched). */
export interface RecentReach {
  /** Zendesk refused the export (403: it answers only to an admin's API token). */
  refused?: () => void;
  /** More users changed within the window than RECENT_USER_PAGES pages hold: the rest were not looked through. */
  unread?: () => void;
}

/** The export's first page: the users changed since `windowMs` ago, `perPage` of them, identities sideloaded. */
const firstPage = (windowMs: number, perPage: number) => `incremental/users/cursor.json?start_time=${Math.floor((Date.now() - windowMs) / 1000)}&per_page=${perPage}&include=identities`;

/**
 * Whether the API token may read the incremental user export (one user's worth, for a check): Zendesk
 * answers it only to an admin's token, and refuses an agent's (403).
 */
export async function recentUsersReadable(client: ZendeskClient, windowMs: number, ctx: CallContext): Promise<boolean> {
  const { status } = await client.get(firstPage(windowMs, 1), "check", ctx, 0, [403, 404]);
  return status !== 403 && status !== 404;
}

/**
 * The live users Zendesk shows changed within the last `o.windowMs` (made, or changed since), each with its
 * identities: Zendesk's user search may take minutes to show a new user ("it can take up to a few minutes
 * for new tickets, users, and other resources to be indexed"), its incremental user export does not lag
 * (though it leaves out the last minute). Read in at most RECENT_USER_PAGES calls, whatever the account's
 * size; the caller confirms each user as it confirms a search hit (a verified identity holding the exact
 * address), from the identities sideloaded with the page, so no call per user.
 */
export async function* recentUsers(client: ZendeskClient, o: { name: string; windowMs: number }, op: Exclude<Operation, "check">, ctx: CallContext, reach: RecentReach = {}): AsyncGenerator<{ user: WireUser; identities: WireIdentity[] }> {
  let next: string | null | undefined = firstPage(o.windowMs, EXPORT_PAGE);
  for (let page = 0; next; page += 1) {
    if (page === RECENT_USER_PAGES) return reach.unread?.();
    const { status, body }: { status: number; body: ExportPage } = await client.get<ExportPage>(next, op, ctx, undefined, [403, 404], { key: "users", list: true });
    if (status === 403 || status === 404) return reach.refused?.();
    const byUser = new Map<unknown, WireIdentity[]>();
    for (const i of body.identities ?? []) byUser.set(i.user_id, [...(byUser.get(i.user_id) ?? []), i]);
    for (const user of body.users) if (user.active) yield { user, identities: byUser.get(user.id) ?? [] };
    next = body.end_of_stream === false ? body.after_url : null;
    // More promised and no way to it: stopping here would pass the rest over as if there were none.
    if (body.end_of_stream === false && !next) throw new ConnectorError(`${o.name}: Zendesk's incremental user export said it goes on but gave no link to the rest; the task will be retried`, `${op}: end_of_stream false without after_url`, true);
    await ctx.heartbeat?.();
  }
}
