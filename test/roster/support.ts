import { expect } from "chai";
import { parse } from "csv-parse/sync";
import { readCsvCell } from "../export/support";
import type { TestService } from "../support/harness";

export const ROSTER_FIELDS = `id status complete people withoutEmail attempts lastError fileAvailable fileExpiresAt connectors reason caseReference
  systems { connector role outcome people records problem }`;
export const START = `mutation Start($input: StartBreachRosterInput!) { startBreachRoster(input: $input) { ${ROSTER_FIELDS} } }`;
export const SHOW = `query Show($id: ID!) { breachRoster(id: $id) { ${ROSTER_FIELDS} } }`;
export const LINK = `mutation Link($id: ID!, $ttl: Int) { createBreachRosterLink(id: $id, ttl: $ttl) { url expiresAt roster { id fileAvailable } } }`;

/** One line of a roster file, as read back from its CSV. */
export interface RosterLine {
  emails: string;
  phones: string;
  other_identities: string;
  systems: string;
  records: string;
}

/** Starts a roster through GraphQL and waits until it is drawn (COMPLETED or FAILED). */
export async function drawRoster(t: TestService, connectors: string[], timeoutMs = 60_000): Promise<any> {
  const { startBreachRoster } = await t.ok(START, { input: { connectors, reason: "laptop with a database dump stolen", caseReference: "INC-42" } });
  expect(startBreachRoster.status).to.equal("QUEUED");
  return t.waitFor(
    async () => {
      const { breachRoster } = await t.ok(SHOW, { id: startBreachRoster.id });
      return ["COMPLETED", "FAILED"].includes(breachRoster.status) ? breachRoster : undefined;
    },
    "roster drawn",
    timeoutMs,
  );
}

/** Downloads a roster's file through a signed link, as its user would, and parses it. */
export async function downloadRoster(t: TestService, id: string): Promise<{ text: string; lines: RosterLine[] }> {
  const { createBreachRosterLink } = await t.ok(LINK, { id });
  const response = await fetch(createBreachRosterLink.url);
  expect(response.status).to.equal(200);
  expect(response.headers.get("content-type")).to.match(/^text\/csv/);
  const bytes = Buffer.from(await response.arrayBuffer());
  // UTF-8 with a byte-order mark, so spreadsheet programs read accents right.
  expect([...bytes.subarray(0, 3)]).to.deep.equal([0xef, 0xbb, 0xbf]);
  const text = bytes.subarray(3).toString("utf8");
  // A cell a spreadsheet would run as a formula is written behind an apostrophe (README): read back as the README says.
  const lines = parse(text, { columns: true, cast: readCsvCell }) as RosterLine[];
  return { text, lines };
}

/** The identities of a line, as kind -> values. */
export function identitiesOf(line: RosterLine): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  const add = (kind: string, value: string) => ids.set(kind, [...(ids.get(kind) ?? []), value]);
  for (const email of line.emails ? line.emails.split("; ") : []) add("email", email);
  for (const phone of line.phones ? line.phones.split("; ") : []) add("phone", phone);
  for (const pair of line.other_identities ? line.other_identities.split("; ") : []) {
    const at = pair.indexOf("=");
    add(pair.slice(0, at), pair.slice(at + 1));
  }
  return ids;
}
