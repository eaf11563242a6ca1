import { PassThrough } from "node:stream";
import { In } from "typeorm";
import { pipeline } from "node:stream/promises";
import { setImmediate as yieldTurn } from "node:timers/promises";
import { Connector, ConnectorError, normalizeEmail, RosterContext, RosterEntry } from "../connectors/sdk";
import { RequestRow, TaskRow, type BreachRosterRow, type RosterSystemResult } from "../entities";
import { TaskStep } from "../domain/tasks";
import { currentResidualSets, REPORTS_RESIDUE } from "../queries/deletionOutcomeFinder";
import { exportTools } from "../export/context";
import { encryptStream } from "../export/crypto";
import type { Services } from "../services";
import { removeSpillDir, spillDir, SpillWriter } from "../export/spill";
import { addRecords, PeopleIndex, type RosterPerson } from "./people";
import { rosterCsv } from "./rosterFile";

/** What one attempt at a roster gets from the runner that claimed it. */
export interface RosterLease {
  /** The claim's number: its fencing token, and part of the file's key. */
  attempt: number;
  /** Aborted when the claim is lost or the process stops. */
  signal: AbortSignal;
  /** Extends the claim; connectors call it between pages. */
  heartbeat(): Promise<void>;
}

export interface DrawnRoster {
  systems: RosterSystemResult[];
  people: number;
  withoutEmail: number;
  /** Where the encrypted file was written. */
  objectKey: string;
}

/** The binding of a roster file's data key and header (the export format's "request id"). */
export const rosterBinding = (rosterId: string) => `roster:${rosterId}`;

/** Where attempt `attempt` of a roster writes its file: each attempt its own, so a stale one never replaces another's. */
export const rosterFileKey = (rosterId: string, attempt: number) => `rosters/${rosterId}/${attempt}.csv.dsrx`;

/** Removes the files attempts 1..`upTo` of a roster may have written (nothing there is not an error). */
export async function removeRosterFiles(services: Pick<Services, "config" | "logger">, rosterId: string, upTo: number): Promise<void> {
  const { storage } = exportTools(services);
  for (let attempt = 1; attempt <= upTo; attempt += 1) await storage.delete(rosterFileKey(rosterId, attempt));
}

/** Entries between two looks at the event loop, so that a long listing never holds it. */
const ENTRIES_PER_TURN = 100;

/**
 * Lists everyone the roster's breached systems hold, joins them with the identity sources' entries (the
 * connectors that provide identity kinds: the account database knows the email behind a userId), and
 * writes the people the breached systems hold to an encrypted CSV file in export storage. A breached
 * system that cannot list, or whose listing fails for good, is named in `systems`, never passed over:
 * the roster is complete only when every breached system is LISTED. A retryable failure throws, so the
 * runner tries the whole roster again later.
 */
export async function drawRoster(services: Services, row: BreachRosterRow, lease: RosterLease): Promise<DrawnRoster> {
  const index = new PeopleIndex();
  let laterDir: string | null = null;
  const later = new SpillWriter(() => (laterDir ??= spillDir()));
  try {
    const outcomes = new Map<string, Pick<RosterSystemResult, "role" | "outcome" | "problem">>();
    const breached = new Set(row.connectors);
    const contacts = services.connectors.list().filter((c) => !breached.has(c.spec.name) && c.spec.provides.length > 0 && c.listSubjects);
    for (const name of row.connectors) {
      const connector = services.connectors.get(name);
      if (!connector) outcomes.set(name, { role: "BREACHED", outcome: "FAILED", problem: "not registered in this installation any more" });
      else if (!connector.listSubjects) outcomes.set(name, { role: "BREACHED", outcome: "NOT_LISTABLE", problem: notListable(connector) });
      else outcomes.set(name, { role: "BREACHED", ...(await listInto(services, index, connector, true, row.id, lease)) });
    }
    for (const connector of contacts) outcomes.set(connector.spec.name, { role: "CONTACTS", ...(await listInto(services, index, connector, false, row.id, lease)) });
    await addResidue(services, index, row.connectors);

    // One pass: the people are counted as the file is written (they are never a list).
    let people = 0;
    let withoutEmail = 0;
    const perSystem = new Map<string, { people: number; records: number | null }>();
    async function* counted(): AsyncGenerator<RosterPerson> {
      for await (const person of index.breachedPeople()) {
        people += 1;
        if (!person.identities.has("email")) withoutEmail += 1;
        for (const connector of person.listedBy) {
          const held = person.heldBy.get(connector);
          const tally = perSystem.get(connector) ?? { people: 0, records: 0 };
          tally.people += 1;
          if (held !== undefined) tally.records = addRecords(tally.records, held);
          perSystem.set(connector, tally);
        }
        if (people % ENTRIES_PER_TURN === 0 && lease.signal.aborted) throw lease.signal.reason;
        yield person;
      }
    }
    const objectKey = rosterFileKey(row.id, lease.attempt);
    const { keys, storage } = exportTools(services);
    const dataKey = await keys.newDataKey(rosterBinding(row.id));
    const body = new PassThrough();
    const stored = storage.put(objectKey, body);
    await Promise.all([pipeline(rosterCsv(counted(), later), encryptStream(dataKey.plain, { wrapping: keys.wrapping, requestId: rosterBinding(row.id), keyRef: keys.keyRef, wrappedKey: dataKey.wrapped }), body), stored]);
    const systems = [...outcomes].map(([connector, o]): RosterSystemResult => {
      if (o.outcome !== "LISTED" && o.outcome !== "PARTIAL") return { connector, ...o, people: null, records: null };
      const tally = perSystem.get(connector) ?? { people: 0, records: 0 };
      return { connector, ...o, people: tally.people, records: o.role === "CONTACTS" ? null : tally.records };
    });
    return { systems, people, withoutEmail, objectKey };
  } finally {
    later.discard();
    if (laterDir !== null) await removeSpillDir(laterDir);
    await index.close();
  }
}

/**
 * The people earlier deletions reported residual records of in the breached systems (records erasure
 * could not erase, such as a payment dispute's evidence): the system still holds their data, though it
 * may no longer lead to them (their customer deleted, their payment redacted), so its listing may not
 * name them. The deletion did, with the subject's email: they join the roster with those records.
 */
async function addResidue(services: Services, index: PeopleIndex, connectors: readonly string[]): Promise<void> {
  const tasks = await services.ds
    .getRepository(TaskRow)
    .createQueryBuilder("t")
    .where("t.connector IN (:...connectors)", { connectors })
    .andWhere(REPORTS_RESIDUE)
    .getMany();
  if (!tasks.length) return;
  const emails = new Map<string, string>();
  const ids = [...new Set(tasks.map((t) => t.requestId))];
  for (let i = 0; i < ids.length; i += 500) {
    // A request whose record's personal data was removed (DSR_REQUEST_RECORD_RETENTION_DAYS) no longer says whose its residue is.
    for (const r of await services.ds.getRepository(RequestRow).find({ where: { id: In(ids.slice(i, i + 500)) }, select: { id: true, subjectEmail: true } })) if (r.subjectEmail) emails.set(r.id, r.subjectEmail);
  }
  // A purge of such a request names what is residual now, residue or none: it replaces the erasure's sets (currentResidualSets).
  const byRequest = new Map<string, TaskRow[]>();
  const purges: TaskRow[] = [];
  for (let i = 0; i < ids.length; i += 500) purges.push(...(await services.ds.getRepository(TaskRow).find({ where: { step: TaskStep.PURGE, connector: In([...connectors]), requestId: In(ids.slice(i, i + 500)) } })));
  for (const t of [...tasks.filter((x) => x.step !== TaskStep.PURGE), ...purges]) byRequest.set(t.requestId, [...(byRequest.get(t.requestId) ?? []), t]);
  for (const [id, ofRequest] of byRequest) {
    const email = emails.get(id);
    if (!email) continue;
    const records = new Map<string, number>();
    for (const set of currentResidualSets(ofRequest)) records.set(set.connector, (records.get(set.connector) ?? 0) + set.records);
    for (const [connector, n] of records) if (n > 0) index.add(connector, { identities: { email }, records: n }, true);
  }
}

/** The entry with its emails in matching form, whatever the connector gave (a person must not split on a letter's case). */
function inMatchingForm(entry: RosterEntry): RosterEntry {
  const { email } = entry.identities;
  const more = entry.moreIdentities?.email;
  if (typeof email !== "string" && !Array.isArray(more)) return entry;
  return {
    ...entry,
    identities: typeof email === "string" ? { ...entry.identities, email: normalizeEmail(email) } : entry.identities,
    ...(Array.isArray(more) ? { moreIdentities: { ...entry.moreIdentities, email: more.map((e) => (typeof e === "string" ? normalizeEmail(e) : e)) } } : {}),
  };
}

function notListable(connector: Connector): string {
  return connector.spec.manual
    ? "a manual connector: no API lists the people it holds; list them from the system itself"
    : "this connector cannot list the people it holds (it has no listSubjects): list them from the system itself";
}

/** Adds one connector's listing to the index; a failure for good is its outcome, a retryable one throws. */
async function listInto(services: Services, index: PeopleIndex, connector: Connector, breached: boolean, rosterId: string, lease: RosterLease): Promise<Pick<RosterSystemResult, "outcome" | "problem">> {
  const name = connector.spec.name;
  const logger = services.logger.child({ rosterId, connector: name });
  // What the listing could not reach (each said once): the system is then PARTIAL, and the roster not complete.
  const unreached = new Set<string>();
  const ctx: RosterContext = { logger, signal: lease.signal, heartbeat: lease.heartbeat, notListed: (what) => void unreached.add(what) };
  let entries = 0;
  try {
    for await (const entry of connector.listSubjects!(ctx)) {
      index.add(name, inMatchingForm(entry), breached);
      if (++entries % ENTRIES_PER_TURN === 0) {
        await yieldTurn();
        if (lease.signal.aborted) throw lease.signal.reason;
      }
    }
  } catch (error) {
    if (lease.signal.aborted) throw error;
    if (error instanceof ConnectorError && !error.retryable) {
      logger.warn({ err: error.internalMessage, entries }, "listing for a breach roster failed");
      return { outcome: "FAILED", problem: error.userMessage };
    }
    throw error;
  }
  logger.info({ entries, partial: unreached.size > 0 }, "listed for a breach roster");
  return unreached.size ? { outcome: "PARTIAL", problem: `not listed: ${[...unreached].join("; ")}` } : { outcome: "LISTED", problem: null };
}
