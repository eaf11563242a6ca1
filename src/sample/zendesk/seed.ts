import { recordDates, SAMPLE_EPOCH, SamplePerson } from "../people";
import type { ZendeskComment, ZendeskState, ZendeskTicket, ZendeskUser } from "./types";

/** The support agent who answers every sample ticket (not a sample person: agents are staff). */
export const SAMPLE_AGENT_ID = 9_000_001;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PROBLEMS = [
  ["Cannot sign in with my security key", "my security key is no longer accepted when I sign in."],
  ["Lost the phone with my authenticator", "I lost the phone that had my authenticator app on it."],
  ["SMS codes arrive late", "the SMS codes arrive several minutes after I ask for them."],
  ["Question about my invoice", "my last invoice shows two charges for the same month."],
  ["Backup codes not accepted", "none of my backup codes are accepted any more."],
  ["How do I export my data?", "I would like a copy of the data you hold about me."],
] as const;

const iso = (ms: number) => new Date(ms).toISOString();
const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function user(p: SamplePerson): ZendeskUser {
  return {
    id: Number(p.ticketingUserId),
    name: p.name,
    email: p.email,
    phone: p.phone ?? null,
    role: "end-user",
    active: true,
    verified: true,
    external_id: p.userId,
    time_zone: "London",
    locale: "en-GB",
    created_at: p.createdAt.toISOString(),
    updated_at: p.createdAt.toISOString(),
  };
}

/** Copied into each seed: a stand-in that deletes its agent must not change the next stand-in's (one process runs many). */
const agent: ZendeskUser = {
  id: SAMPLE_AGENT_ID,
  name: "Sam Support",
  email: "sam.support@support.example.com",
  phone: null,
  role: "agent",
  active: true,
  verified: true,
  external_id: null,
  time_zone: "London",
  locale: "en-GB",
  created_at: "2017-01-02T09:00:00.000Z",
  updated_at: "2017-01-02T09:00:00.000Z",
};

/**
 * Zendesk's state for the sample people who wrote in (those with a ticketingUserId): each requests
 * `ticketCount` tickets dated by recordDates (spread over up to 8 years, so some fall inside the 5-year
 * rule and some outside), with 2-5 comments each, attachments on some, and every second ticket CC'ing
 * another writer two places further down the list (so the first two writers never share a ticket when
 * there are at least four). Deterministic: the same people give the same ids.
 */
export function seedZendesk(people: readonly SamplePerson[]): ZendeskState {
  const writers = people.filter((p) => p.ticketingUserId && p.ticketCount > 0);
  const users = [{ ...agent }, ...people.filter((p) => p.ticketingUserId).map(user)];
  const tickets: ZendeskTicket[] = [];
  let ticketId = 1;
  let nextId = 10_000_000;
  writers.forEach((p, pos) => {
    const requester = Number(p.ticketingUserId);
    const first = p.name.split(" ")[0];
    const ccPerson = writers[(pos + 2) % writers.length];
    const cc = ccPerson && ccPerson !== p ? Number(ccPerson.ticketingUserId) : undefined;
    recordDates(p, p.ticketCount, "ticket").forEach((date, k) => {
      const [subject, problem] = PROBLEMS[(p.index + k) % PROBLEMS.length];
      const collaborators = k % 2 === 1 && cc !== undefined ? [cc] : [];
      const comments: ZendeskComment[] = [];
      const count = 2 + ((p.index + k) % 4);
      for (let j = 0; j < count; j += 1) {
        const byAgent = j % 2 === 1;
        const author = byAgent ? SAMPLE_AGENT_ID : j === 2 && collaborators.length ? collaborators[0] : requester;
        const text = byAgent
          ? j === 3
            ? `Internal note: ${first}'s account was checked, nothing unusual.`
            : `Hi ${first}, thanks for writing in. We have looked into it and reset the factor; please try again.`
          : j === 0
            ? `Hello, this is ${p.name}: ${problem} My phone is ${p.phone ?? "not available"}.`
            : `Thanks, it works again now. Regards, ${author === requester ? p.name : "a colleague"}.`;
        const id = nextId++;
        comments.push({
          id,
          type: "Comment",
          author_id: author,
          body: text,
          html_body: `<div class="zd-comment" dir="auto"><p>${escapeHtml(text)}</p></div>`,
          plain_body: text,
          public: j !== 3,
          attachments:
            !byAgent && id % 3 === 0
              ? [{ id: nextId++, file_name: `screenshot-${k + 1}-${j + 1}.png`, content_type: "image/png", size: 20_000 + (id % 977) * 13, inline: false, content_path: `/attachments/token/tok${id}/?name=screenshot.png` }]
              : [],
          via: { channel: byAgent ? "web" : "email" },
          created_at: iso(date.getTime() + j * 5 * HOUR),
        });
      }
      const last = comments[comments.length - 1].created_at;
      tickets.push({
        id: ticketId++,
        subject,
        description: comments[0].plain_body,
        type: k % 3 === 0 ? "incident" : "question",
        priority: k % 4 === 0 ? "high" : "normal",
        status: SAMPLE_EPOCH.getTime() - Date.parse(last) > 30 * DAY ? "closed" : "open",
        requester_id: requester,
        submitter_id: requester,
        assignee_id: SAMPLE_AGENT_ID,
        collaborator_ids: collaborators,
        tags: ["mfa"],
        via: { channel: "email" },
        created_at: date.toISOString(),
        updated_at: last,
        comments,
      });
    });
  });
  return { users, tickets, nextId };
}
