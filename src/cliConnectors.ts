import path from "node:path";
import { Command } from "commander";
import { call, RemoteFailure, wholeNumber } from "./cliRequests";
import type { ConnectorTestOptions } from "./cliConnectorTest";

type Health = { name: string; version: string; health: { ok: boolean; message: string }; processingLocation: string | null; outsidePrimaryLocation: boolean };

/** Where a system processes the data, as the table shows it (POLICY: any location but the primary is recorded). */
const located = (r: Health) => (r.processingLocation ? `${r.processingLocation}${r.outsidePrimaryLocation ? " (outside the primary location)" : ""}` : "not recorded");

async function healthTable(rows: Health[]): Promise<string> {
  const Table = require("cli-table3") as typeof import("cli-table3");
  const table = new Table({ head: ["connector", "version", "ok", "message", "processed in"], style: { head: [], border: [] } });
  for (const r of rows) table.push([r.name, r.version, r.health.ok ? "yes" : "NO", r.health.message, located(r)]);
  return table.toString();
}

/** The checks the running service itself makes (its configuration, from where it runs). */
async function remoteHealth(url: string, token: string): Promise<Health[]> {
  return (await call<{ connectors: Health[] }>({ url, token }, `{ connectors { name version health { ok message } processingLocation outsidePrimaryLocation } }`)).connectors;
}

/** The checks of this machine's configuration (DSR_CONNECTORS_FILE, or a copy of the sample workspace), logging nothing. */
async function localHealth(timeoutMs: number): Promise<Health[]> {
  const { loadConfig } = require("./config/env") as typeof import("./config/env");
  const { buildRegistry } = require("./server") as typeof import("./server");
  const { checkConnector } = require("./orchestrator/health") as typeof import("./orchestrator/health");
  const { createLogger } = require("./logger") as typeof import("./logger");
  const { systemClock } = require("./clock") as typeof import("./clock");
  const { locationOf } = require("./orchestrator/registry") as typeof import("./orchestrator/registry");
  const config = loadConfig();
  const logger = createLogger("silent");
  if (!config.DSR_CONNECTORS_FILE && config.sampleWorkspace) {
    process.stderr.write(
      "dsr: no DSR_CONNECTORS_FILE: checking the sample workspace, in a copy this command starts (to check what a running service uses: dsr connectors check --url <graphql url> --token <token>)\n",
    );
  }
  const registry = await buildRegistry(config, undefined, logger);
  try {
    const list = registry.list();
    if (list.length === 0) throw new RemoteFailure("no connectors are configured: set DSR_CONNECTORS_FILE (see docs/connectors.md)", "BAD_USER_INPUT");
    return await Promise.all(
      list.map(async (c): Promise<Health> => ({ name: c.spec.name, version: c.spec.version, health: await checkConnector(c, systemClock, logger, timeoutMs), ...locationOf(c, config.DSR_PROCESSING_LOCATION) })),
    );
  } finally {
    await registry.close();
  }
}

/** `dsr connectors check`: every connector's check() in a table; exit 1 if one fails. */
export function addConnectorsCommand(cli: Command): void {
  const connectors = cli.command("connectors").description("the connectors of this installation (DSR_CONNECTORS_FILE, or the sample workspace)");
  connectors
    .command("check")
    .description(
      "run every connector's check (reachability, credentials) and print a table with where each system processes the data; exits 1 if one fails. With --url/--token (or DSR_URL/DSR_TOKEN) the running service checks the connectors it uses; otherwise this machine checks DSR_CONNECTORS_FILE",
    )
    .option("--url <url>", "GraphQL endpoint of a running service (default: DSR_URL)")
    .option("--token <token>", "bearer token for it (default: DSR_TOKEN)")
    .option("--timeout <ms>", "time each local check may take", "5000")
    .action(async (opts: { url?: string; token?: string; timeout: string }) => {
      const url = opts.url ?? process.env.DSR_URL;
      const token = opts.token ?? process.env.DSR_TOKEN;
      if (url && !token) throw new RemoteFailure("checking a running service needs a token: pass --token or set DSR_TOKEN", "BAD_USER_INPUT");
      const rows = url && token ? await remoteHealth(url, token) : await localHealth(wholeNumber(opts.timeout, "--timeout", 100, 600_000));
      if (url) process.stderr.write(`dsr: the connectors of the service at ${url}, as it checks them\n`);
      process.stdout.write(`${await healthTable(rows)}\n`);
      if (rows.some((r) => !r.health.ok)) process.exitCode = 1;
    });
}

const NAME = /^[a-z][a-z0-9-]{1,39}$/;

/** `dsr connector new <name>` and `dsr connector test <target>`. */
export function addConnectorNewCommand(cli: Command): void {
  const connector = cli.command("connector").description("write a new connector, and run the conformance suite against any connector");
  connector
    .command("new")
    .description("scaffold <dir>/<name>.ts (a connector module for the connectors file, with a stand-in system) and <dir>/<name>.test.ts; both compile and pass the conformance suite as generated")
    .argument("<name>", "lower-case letters, digits and '-', e.g. crm")
    .option("--dir <dir>", "where to write the files (the project's tsconfig compiles <project>/connectors)")
    .action(async (name: string, opts: { dir?: string }) => {
      if (!NAME.test(name)) throw new RemoteFailure("the name must be lower-case letters, digits and '-' (2-40 characters), starting with a letter", "BAD_USER_INPUT");
      const { PROJECT_ROOT, writeScaffold } = require("./cliScaffold") as typeof import("./cliScaffold");
      const dir = path.resolve(opts.dir ?? path.join(PROJECT_ROOT, "connectors"));
      let files;
      try {
        files = writeScaffold(name, dir);
      } catch (error) {
        throw new RemoteFailure((error as Error).message, "BAD_USER_INPUT");
      }
      process.stdout.write(`${files.module}\n${files.test}\n`);
      const inProject = path.relative(path.join(PROJECT_ROOT, "connectors"), dir).startsWith("..") ? ` (outside ${path.join(PROJECT_ROOT, "connectors")}: add ${dir} to tsconfig.json's include)` : "";
      process.stderr.write(
        `next: compile (npx tsc -p ${PROJECT_ROOT})${inProject}, then run the conformance suite: npx dsr connector test ${path.relative(process.cwd(), files.module) || files.module}\n` +
          `then fill in the TODOs and register it in DSR_CONNECTORS_FILE as {"type": "module", "module": "<path to the compiled ${name}.js>", "options": {"baseUrl": "..."}} (see docs/connectors.md)\n`,
      );
    });
  connector
    .command("test")
    .description("run the conformance suite against a connector and print a table (pass, fail, skipped with the reason); exit 1 if a case fails")
    .argument("<target>", "a connector module (its .ts in this project, or a .js) exporting conformance() or createConnector(options), or the name of a connector in the connectors file")
    .option("--connectors-file <file>", "for a connector name: the connectors file (default: DSR_CONNECTORS_FILE)")
    .option("--subject <ids>", "without conformance(): a person the system holds, as kind=value pairs (email=ada@example.com,userId=42)")
    .option("--other <ids>", "without conformance(): another person the system holds, who must stay untouched")
    .option("--mixed-case <ids>", "without conformance(): a person the system stores in mixed case (an account created as Zoe@Example.COM)")
    .option("--idn <ids>", "without conformance(): a person the system stores with an internationalised domain in ASCII (bjorn@xn--bcher-kva.de)")
    .option("--expect-records <n>", "without conformance(): how many records the subject has")
    .option("--options <json>", "for a module without conformance(): the options for createConnector")
    .option("--erase", "without conformance(): also run the erase cases, which change the system's data (use a test system)")
    .option("--json", "print the results as JSON instead of a table")
    .action(async (target: string, opts: ConnectorTestOptions & { json?: boolean }) => {
      const { conformanceSetup, resultTable } = require("./cliConnectorTest") as typeof import("./cliConnectorTest");
      const { runConformance } = require("./connectors/testing/conformance") as typeof import("./connectors/testing/conformance");
      const { name, setup, close } = await conformanceSetup(target, opts);
      process.stderr.write(`dsr: running the conformance suite against ${name}\n`);
      try {
        const results = await runConformance(setup);
        process.stdout.write(opts.json ? `${JSON.stringify(results, null, 2)}\n` : `${await resultTable(results)}\n`);
        if (results.some((r) => r.outcome === "fail")) process.exitCode = 1;
      } finally {
        await close();
      }
    });
}
