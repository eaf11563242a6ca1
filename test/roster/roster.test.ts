import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parse } from "csv-parse/sync";
import { normalizeEmail, type Identities } from "../../src/connectors/sdk";
import { collectAll } from "../../src/connectors/testing/conformance";
import { purgeExpiredExports } from "../../src/export/purge";
import { describeEachDatabase } from "../support/databases";
import { accountsFile, queryIn, runVerified, sampleSetup } from "../identity/support";
import { FORMULA_START } from "../export/support";
import { downloadRoster, drawRoster, identitiesOf, LINK, RosterLine, SHOW, START } from "./support";

const REQUEST_SHOW = `query Show($id: ID!) { request(id: $id) { id status } }`;
const RESIDUE_SHOW = `query Show($id: ID!) { request(id: $id) { id status statusReason residualRecords { connector recordType records } } }`;
const DAY = 86_400_000;
/** A person a line names no email of: identities whose connectors look nobody up by email. */
const NO_EMAIL = "nobody@roster.invalid";

/** What each breached system holds of the person a line names, found by collect with the line's identities (not by listSubjects). */
async function heldThroughCollect(setup: ReturnType<typeof sampleSetup>, line: RosterLine, systems: string[]): Promise<Record<string, number>> {
  const ids = identitiesOf(line);
  const held: Record<string, number> = {};
  for (const name of systems) {
    const connector = setup.ws.connectors.find((c) => c.spec.name === name)!;
    // A system that needs an identity the line does not name cannot be holding this person by it.
    const needs = connector.spec.needs.filter((k) => k !== "email");
    if (needs.length && !(connector.spec.needsAny ? needs.some((k) => ids.has(k)) || ids.has("email") : needs.every((k) => ids.has(k)))) continue;
    let total = 0;
    // One collect per email the line names (a person the systems know by two addresses), with the other identities.
    for (const email of ids.get("email") ?? [NO_EMAIL]) {
      const person: Record<string, string> = { email };
      for (const [kind, values] of ids) if (kind !== "email") person[kind] = values[0];
      total += (await collectAll(connector, person as Identities)).length;
    }
    if (total) held[name] = total;
  }
  return held;
}

describeEachDatabase("breach roster: whose data a system holds, through GraphQL", (db) => {
  const setup = sampleSetup(db, REQUEST_SHOW);

  it("lists every person the breached systems hold, each once, with the records collect finds for them, and nobody else", async () => {
    const systems = ["account-db", "auth-log", "payments", "ticketing"];
    const roster = await drawRoster(setup.t, systems);
    expect(roster.status, roster.lastError).to.equal("COMPLETED");
    expect(roster.complete).to.equal(true);
    expect(roster.systems.map((s: any) => [s.connector, s.role, s.outcome])).to.deep.equal(systems.map((c) => [c, "BREACHED", "LISTED"]));
    const { lines } = await downloadRoster(setup.t, roster.id);
    expect(lines.length).to.equal(roster.people);
    // Every line is a person the systems hold: collect, given the line's identities, finds exactly the records and systems it names.
    for (const line of lines) {
      const held = await heldThroughCollect(setup, line, systems);
      expect(Object.keys(held).sort().join("; "), `systems of ${line.emails || line.other_identities}`).to.equal(line.systems);
      if (line.records) expect(Number(line.records), `records of ${line.emails || line.other_identities}`).to.equal(Object.values(held).reduce((a, b) => a + b, 0));
    }
    // Every sample person with data anywhere is on exactly one line, at their email.
    for (const person of setup.ws.people) {
      const held = await setup.heldBy({ email: person.email.toLowerCase(), userId: person.userId, ...(person.paymentCustomerId ? { paymentCustomerId: person.paymentCustomerId } : {}), ...(person.ticketingUserId ? { ticketingUserId: person.ticketingUserId } : {}) } as Identities);
      const theirs = lines.filter((l) => identitiesOf(l).get("userId")?.includes(person.userId));
      if (!Object.values(held).some((n) => n > 0)) continue;
      expect(theirs.length, `${person.email} on ${theirs.length} lines`).to.equal(1);
    }
    // The counts the roster reports are the file's.
    for (const s of roster.systems) expect(s.people, s.connector).to.equal(lines.filter((l) => l.systems.split("; ").includes(s.connector)).length);
    expect(roster.withoutEmail).to.equal(lines.filter((l) => !l.emails).length);
  });

  it("reaches the people of a system that knows them only by id at the email the account database holds", async () => {
    const roster = await drawRoster(setup.t, ["auth-log"]);
    expect(roster.status, roster.lastError).to.equal("COMPLETED");
    expect(roster.complete).to.equal(true);
    const auth = roster.systems.find((s: any) => s.connector === "auth-log");
    const contacts = roster.systems.find((s: any) => s.connector === "account-db");
    expect([auth.role, auth.outcome, contacts.role, contacts.outcome]).to.deep.equal(["BREACHED", "LISTED", "CONTACTS", "LISTED"]);
    const { lines } = await downloadRoster(setup.t, roster.id);
    // Exactly the people with auth events, read from the auth log itself through collect.
    const withEvents = [];
    for (const p of setup.ws.people) if ((await setup.heldBy({ email: p.email.toLowerCase(), userId: p.userId } as Identities))["auth-log"] > 0) withEvents.push(p);
    expect(lines.length).to.equal(withEvents.length);
    expect(roster.people).to.equal(withEvents.length);
    for (const p of withEvents) {
      const line = lines.find((l) => identitiesOf(l).get("userId")?.includes(p.userId));
      expect(line, p.userId).to.not.equal(undefined);
      expect(identitiesOf(line!).get("email")).to.include(normalizeEmail(p.email));
      expect(line!.systems).to.equal("auth-log");
    }
    expect(contacts.people).to.equal(withEvents.length);
    expect(roster.withoutEmail).to.equal(0);
  });

  it("names a person an earlier deletion left residual records of, though the system no longer leads to them", async () => {
    const buyer = setup.ws.people.find((p) => !p.paymentCustomerId && p.index > 1)!;
    const created = Date.UTC(2012, 2, 1) / 1000;
    setup.ws.stripe.store.put(
      { id: "ch_guest_roster", object: "charge", created, customer: null, disputed: true, amount: 900, currency: "eur", status: "succeeded", description: "Guest checkout", receipt_email: null, metadata: {}, billing_details: { name: buyer.name, email: buyer.email, phone: null, address: null }, invoice: null, livemode: false },
      "test.seed",
    );
    const evidence = { customer_name: buyer.name, customer_email_address: buyer.email, customer_purchase_ip: "198.51.100.7", billing_address: null, shipping_address: null, uncategorized_text: null, product_description: "Hardware key" };
    setup.ws.stripe.store.put({ id: "dp_guest_roster", object: "dispute", created: created + 30 * 86_400, charge: "ch_guest_roster", payment_intent: null, amount: 900, currency: "eur", reason: "fraudulent", status: "lost", evidence, metadata: {}, livemode: false }, "test.seed");
    const before = (await downloadRoster(setup.t, (await drawRoster(setup.t, ["payments"])).id)).lines;
    expect(before.filter((l) => l.emails === buyer.email.toLowerCase()).map((l) => l.systems)).to.deep.equal(["payments"]);
    const deletion = await runVerified(setup.t, RESIDUE_SHOW, "DELETION", buyer.email);
    expect(deletion.status, deletion.statusReason).to.equal("COMPLETED");
    expect(deletion.residualRecords.map((r: any) => [r.connector, r.recordType, r.records])).to.deep.equal([["payments", "dispute", 1]]);
    // The processor no longer leads to the buyer: the charge is redacted, the dispute's evidence cannot be.
    const payments = setup.ws.connectors.find((c) => c.spec.name === "payments")!;
    expect(await collectAll(payments, { email: buyer.email.toLowerCase() } as Identities)).to.deep.equal([]);
    expect(setup.ws.stripe.store.get("dispute", "dp_guest_roster")).to.deep.include({ evidence });
    // Its listing does not name them; the deletion did: the roster does, with the residual record.
    const after = await drawRoster(setup.t, ["payments"]);
    const lines = (await downloadRoster(setup.t, after.id)).lines.filter((l) => l.emails === buyer.email.toLowerCase());
    expect(lines.map((l) => [l.systems, l.records])).to.deep.equal([["payments", "1"]]);
    // Past the record period the deletion's record keeps her still: it is the only record of whose the evidence is.
    setup.t.clock.advance((setup.t.service.services.config.DSR_REQUEST_RECORD_RETENTION_DAYS + 1) * 86_400_000);
    await purgeExpiredExports(setup.t.service.services);
    const { request } = await setup.t.ok(`query($id: ID!) { request(id: $id) { subjectRemovedAt subject { email } } }`, { id: deletion.id });
    expect([request.subjectRemovedAt, request.subject?.email]).to.deep.equal([null, buyer.email]);
    const later = await drawRoster(setup.t, ["payments"]);
    expect((await downloadRoster(setup.t, later.id)).lines.filter((l) => l.emails === buyer.email.toLowerCase()).map((l) => [l.systems, l.records])).to.deep.equal([["payments", "1"]]);
  });

  it("keeps the list encrypted at rest, audits every step, and removes the file when its retention ends", async () => {
    const roster = await drawRoster(setup.t, ["account-db"]);
    expect(roster.status, roster.lastError).to.equal("COMPLETED");
    const dir = path.join(setup.t.service.services.config.dataDir, "exports", "rosters", roster.id);
    const files = fs.readdirSync(dir);
    expect(files).to.deep.equal(["1.csv.dsrx"]);
    const stored = fs.readFileSync(path.join(dir, files[0]));
    const { lines, text } = await downloadRoster(setup.t, roster.id);
    expect(lines.length).to.be.greaterThan(3);
    for (const l of lines) expect(stored.includes(Buffer.from(l.emails.split("; ")[0]))).to.equal(false);
    expect(stored.includes(Buffer.from(text.slice(0, 40)))).to.equal(false);
    // A changed link opens nothing; an expired one says so.
    const { createBreachRosterLink } = await setup.t.ok(LINK, { id: roster.id, ttl: 60 });
    const tampered = createBreachRosterLink.url.replace(/signature=(.)/, (_: string, c: string) => `signature=${c === "0" ? "1" : "0"}`);
    expect((await fetch(tampered)).status).to.equal(403);
    const asExport = createBreachRosterLink.url.replace("/rosters/", "/exports/");
    expect((await fetch(asExport)).status).to.equal(403);
    setup.t.clock.advance(61_000);
    expect((await fetch(createBreachRosterLink.url)).status).to.equal(410);
    const actions: Array<{ action: string }> = await setup.t.ds.query("SELECT action FROM audit_events WHERE requestId IS NULL AND action LIKE 'roster.%' ORDER BY occurredAt, seq");
    expect(actions.map((a) => a.action)).to.deep.equal(["roster.requested", "roster.completed", "roster.link_created", "roster.downloaded", "roster.link_created"]);
    // Retention: the file goes, the counts stay, no link is handed out.
    setup.t.clock.advance(31 * DAY);
    expect((await purgeExpiredExports(setup.t.service.services)).rosters).to.equal(1);
    expect(fs.existsSync(path.join(dir, files[0]))).to.equal(false);
    const { breachRoster } = await setup.t.ok(SHOW, { id: roster.id });
    expect([breachRoster.status, breachRoster.fileAvailable, breachRoster.fileExpiresAt, breachRoster.people]).to.deep.equal(["COMPLETED", false, null, roster.people]);
    const refused = await setup.t.gql(LINK, { id: roster.id });
    expect(refused.errors?.[0].extensions?.code).to.equal("CONFLICT");
    expect(refused.errors?.[0].message).to.match(/retention ended/);
  });

  it("writes no cell a spreadsheet would run as a formula: an address that starts with = and every phone, behind an apostrophe", async () => {
    // A valid address whoever signs up may choose (= and + are letters of an address), and a phone in E.164.
    await queryIn(accountsFile(setup.dir), `INSERT INTO users (id, email, name, phone, company, job_title, status, created_at) SELECT 'u-formula', '=1+2@example.com', 'Eve', '+442079460999', company, job_title, status, created_at FROM users LIMIT 1`, []);
    const roster = await drawRoster(setup.t, ["account-db"]);
    expect(roster.status, roster.lastError).to.equal("COMPLETED");
    const { text, lines } = await downloadRoster(setup.t, roster.id);
    const cells = (parse(text, { columns: false }) as string[][]).slice(1).flat();
    expect(cells.filter((c) => FORMULA_START.test(c)), "cells a spreadsheet would run").to.deep.equal([]);
    expect(cells).to.include("'=1+2@example.com");
    // Read as the README says (one apostrophe off such a cell), the line gives the values the system holds.
    const eve = lines.filter((l) => identitiesOf(l).get("userId")?.includes("u-formula"));
    expect(eve.map((l) => [l.emails, l.phones])).to.deep.equal([["=1+2@example.com", "+442079460999"]]);
    expect(lines.filter((l) => l.phones).every((l) => l.phones.startsWith("+")), "every phone read back in E.164").to.equal(true);
  });

  it("refuses a roster of an unknown or repeated connector, or with no reason, and creates nothing; only deciders draw or download", async () => {
    const bad = [
      { connectors: ["account-db", "crm-of-doom"], reason: "breach at the CRM" },
      { connectors: [], reason: "breach somewhere" },
      { connectors: ["auth-log", "auth-log"], reason: "breach at the auth log" },
      { connectors: ["Account-DB"], reason: "breach" },
      { connectors: ["account-db"], reason: "x" },
    ];
    for (const input of bad) {
      const result = await setup.t.gql(START, { input });
      expect(result.errors?.[0].extensions?.code, JSON.stringify(input)).to.equal("BAD_USER_INPUT");
      expect(JSON.stringify(result.errors)).to.not.include("crm-of-doom");
      expect(JSON.stringify(result.errors)).to.not.include("Account-DB");
    }
    expect(await setup.t.count("breach_rosters")).to.equal(0);
    for (const role of ["AUDITOR", "SERVICE"]) {
      const result = await setup.t.gql(START, { input: { connectors: ["account-db"], reason: "breach at the CRM" } }, role);
      expect(result.errors?.[0].extensions?.code, role).to.equal("FORBIDDEN");
    }
    expect(await setup.t.count("breach_rosters")).to.equal(0);
    const roster = await drawRoster(setup.t, ["account-db"]);
    expect((await setup.t.gql(SHOW, { id: roster.id }, "AUDITOR")).data.breachRoster.people).to.equal(roster.people);
    expect((await setup.t.gql(SHOW, { id: roster.id }, "SERVICE")).errors?.[0].extensions?.code).to.equal("FORBIDDEN");
    expect((await setup.t.gql(LINK, { id: roster.id }, "AUDITOR")).errors?.[0].extensions?.code).to.equal("FORBIDDEN");
    expect((await setup.t.gql(SHOW, { id: "7f8e1c52-0000-4000-8000-000000000000" })).errors?.[0].extensions?.code).to.equal("NOT_FOUND");
  });
});
