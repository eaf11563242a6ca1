import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Command } from "commander";
import { refuseExistingOut, writeOutFile } from "./outFile";
import { call, newTable, pollInterval, print, remoteOf, RemoteFailure, sleep, withRemote } from "./cliRequests";

const FIELDS = "id status complete people withoutEmail attempts lastError fileAvailable fileExpiresAt connectors systems { connector role outcome people records problem }";
const START = `mutation Start($input: StartBreachRosterInput!) { startBreachRoster(input: $input) { ${FIELDS} } }`;
const SHOW = `query Show($id: ID!) { breachRoster(id: $id) { ${FIELDS} } }`;
const LINK = `mutation Link($id: ID!) { createBreachRosterLink(id: $id) { url } }`;

interface Roster {
  id: string;
  status: string;
  complete: boolean | null;
  people: number | null;
  withoutEmail: number | null;
  attempts: number;
  lastError: string | null;
  fileAvailable: boolean;
  systems: Array<{ connector: string; role: string; outcome: string; people: number | null; records: number | null; problem: string | null }>;
}

type Remote = ReturnType<typeof remoteOf>;

function summary(r: Roster): string {
  const head = `${r.id}  ${r.status}${r.status === "COMPLETED" ? `  ${r.people} people (${r.withoutEmail} without an email)  ${r.complete ? "complete" : "INCOMPLETE: see the systems not LISTED"}` : ""}${r.lastError ? `  (${r.lastError})` : ""}`;
  if (!r.systems.length) return head;
  const table = newTable({ head: ["connector", "role", "outcome", "people", "records", "problem"], style: { head: [], border: [] } });
  for (const s of r.systems) table.push([s.connector, s.role, s.outcome, s.people ?? "", s.records ?? "", s.problem ?? ""]);
  return `${head}\n${table.toString()}`;
}

/** Downloads a roster's CSV to `out` (mode 0600: it lists people), through a signed link as any client would. */
async function download(remote: Remote, id: string, out: string, force: boolean | undefined): Promise<void> {
  await writeOutFile(out, force, async (part) => {
    const { createBreachRosterLink } = await call<{ createBreachRosterLink: { url: string } }>(remote, LINK, { id });
    const res = await fetch(createBreachRosterLink.url);
    if (!res.ok || !res.body) throw new RemoteFailure(`the roster's file could not be downloaded (HTTP ${res.status})`, "INTERNAL_SERVER_ERROR");
    await pipeline(Readable.fromWeb(res.body as import("node:stream/web").ReadableStream), part);
  });
}

/** Waits until the roster is drawn (or failed), asking every `interval` ms. */
async function until(remote: Remote, id: string, interval: number): Promise<Roster> {
  for (;;) {
    const { breachRoster } = await call<{ breachRoster: Roster }>(remote, SHOW, { id });
    if (breachRoster.status === "COMPLETED" || breachRoster.status === "FAILED") return breachRoster;
    await sleep(interval);
  }
}

/** `dsr roster draw|show|download`: breach rosters on a running service, over GraphQL. Exit 1 when a roster failed or is incomplete. */
export function addRosterCommands(cli: Command): void {
  const roster = cli.command("roster").description("breach rosters: list whose data breached systems hold, on a running service (over GraphQL)");

  withRemote(roster.command("draw").description("draw a roster of the breached connectors, wait until it is drawn, print its summary (and save its CSV with --out)"))
    .requiredOption("--connector <name...>", "a connector whose data the breach touched (repeat for several)")
    .requiredOption("--reason <text>", "what happened (3-500 characters)")
    .option("--case <reference>", "the incident's reference")
    .option("--out <file>", "save the roster's CSV here (mode 0600; an existing file is refused unless --force)")
    .option("--force", "replace the --out file if it exists")
    .option("--interval <ms>", "how often to ask the service", "1000")
    .action(async (opts: { connector: string[]; reason: string; case?: string; out?: string; force?: boolean; interval: string; url?: string; token?: string }) => {
      const remote = remoteOf(opts);
      // Before the roster is started: a refused --out or --interval would leave a drawn roster nobody saved.
      if (opts.out) refuseExistingOut(opts.out, opts.force);
      const interval = pollInterval(opts.interval);
      const { startBreachRoster } = await call<{ startBreachRoster: Roster }>(remote, START, { input: { connectors: opts.connector, reason: opts.reason, caseReference: opts.case ?? null } });
      process.stderr.write(`roster ${startBreachRoster.id} queued; waiting for a worker to draw it\n`);
      const r = await until(remote, startBreachRoster.id, interval);
      print(summary(r));
      if (r.status === "COMPLETED" && opts.out) {
        await download(remote, r.id, opts.out, opts.force);
        process.stderr.write(`saved to ${opts.out}\n`);
      }
      if (r.status !== "COMPLETED" || !r.complete) process.exitCode = 1;
    });

  withRemote(roster.command("show").description("show a roster's status and counts"))
    .argument("<id>", "roster id")
    .action(async (id: string, opts: { url?: string; token?: string }) => {
      const { breachRoster } = await call<{ breachRoster: Roster }>(remoteOf(opts), SHOW, { id });
      print(summary(breachRoster));
      if (breachRoster.status === "FAILED" || breachRoster.complete === false) process.exitCode = 1;
    });

  withRemote(roster.command("download").description("save a drawn roster's CSV (mode 0600)"))
    .argument("<id>", "roster id")
    .requiredOption("--out <file>", "where to save it (mode 0600; an existing file is refused unless --force)")
    .option("--force", "replace the --out file if it exists")
    .action(async (id: string, opts: { out: string; force?: boolean; url?: string; token?: string }) => {
      await download(remoteOf(opts), id, opts.out, opts.force);
      process.stderr.write(`saved to ${opts.out}\n`);
    });
}
