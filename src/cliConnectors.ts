import fs from "node:fs";
import path from "node:path";
import { Command } from "commander";
import Table from "cli-table3";
import { systemClock } from "./clock";
import { loadConfig } from "./config/env";
import { createLogger } from "./logger";
import { checkConnector } from "./orchestrator/health";
import { buildRegistry } from "./server";
import { RemoteFailure } from "./cliRequests";

/** `dsr connectors check`: runs every configured connector's check() from this machine and prints a table. */
export function addConnectorsCommand(cli: Command): void {
  const connectors = cli.command("connectors").description("the connectors of this installation (DSR_CONNECTORS_FILE, or the sample workspace)");
  connectors
    .command("check")
    .description("run every connector's check (reachability, credentials) and print a table; exits 1 if one fails")
    .option("--timeout <ms>", "time each check may take", "5000")
    .action(async (opts: { timeout: string }) => {
      const config = loadConfig();
      const registry = await buildRegistry(config);
      const list = registry.list();
      if (list.length === 0) throw new RemoteFailure("no connectors are configured: set DSR_CONNECTORS_FILE (see docs/connectors.md)", "BAD_USER_INPUT");
      const logger = createLogger("silent");
      const results = await Promise.all(list.map(async (c) => ({ c, health: await checkConnector(c, systemClock, logger, Number(opts.timeout) || 5000) })));
      const table = new Table({ head: ["connector", "version", "ok", "message"], style: { head: [], border: [] } });
      for (const { c, health } of results) table.push([c.spec.name, c.spec.version, health.ok ? "yes" : "NO", health.message]);
      process.stdout.write(`${table.toString()}\n`);
      await registry.close();
      const failed = results.filter((r) => !r.health.ok).length;
      if (failed) process.exitCode = 1;
    });
}

const NAME = /^[a-z][a-z0-9-]{1,40}$/;

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** `dsr connector new <name>`: a connector module and its conformance test, ready to fill in. */
export function addConnectorNewCommand(cli: Command): void {
  const connector = cli.command("connector").description("write a new connector");
  connector
    .command("new")
    .description("scaffold <dir>/<name>.ts (a connector module for the connectors file) and <dir>/<name>.test.ts (the conformance suite, wired in)")
    .argument("<name>", "lower-case letters, digits and '-', e.g. crm")
    .option("--dir <dir>", "where to write the files", "connectors")
    .action((name: string, opts: { dir: string }) => {
      if (!NAME.test(name)) throw new RemoteFailure("the name must be lower-case letters, digits and '-' (2-41 characters), starting with a letter", "BAD_USER_INPUT");
      const dir = path.resolve(opts.dir);
      const files = { module: path.join(dir, `${name}.ts`), test: path.join(dir, `${name}.test.ts`) };
      for (const file of Object.values(files)) if (fs.existsSync(file)) throw new RemoteFailure(`${file} already exists; nothing was written`, "BAD_USER_INPUT");
      // Imports point at this installation's sources, wherever the files are written.
      const src = path.relative(dir, path.resolve(__dirname, "../../src")).split(path.sep).join("/");
      const from = src.startsWith(".") ? src : `./${src}`;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(files.module, moduleTemplate(name, from));
      fs.writeFileSync(files.test, testTemplate(name, from));
      process.stdout.write(`${files.module}\n${files.test}\n`);
      process.stderr.write(`next: fill in the TODOs, run the conformance test, then register it in DSR_CONNECTORS_FILE as {"type": "module", "module": "<path to the compiled ${name}.js>"}\n`);
    });
}

function moduleTemplate(name: string, from: string): string {
  const fn = camel(name);
  return `import { CheckResult, Connector, ConnectorConfigError, ConnectorError, ErasureOutcome, Identities, SubjectRecord, TaskContext } from "${from}/connectors/sdk";

/** Options of the ${name} connector (secrets come from environment variables named in the connectors file). */
export interface ${fn}Options {
  /** TODO: where the system is, e.g. its base URL. */
  baseUrl: string;
  /** TODO: the system's records, until the real API calls replace this in-memory stand-in. */
  records?: Map<string, SubjectRecord[]>;
}

/** Builds the connector; every configuration problem is reported at once. */
export function createConnector(options: Partial<${fn}Options>): Connector {
  const problems: string[] = [];
  if (typeof options.baseUrl !== "string" || !/^https?:\\/\\//.test(options.baseUrl)) problems.push("baseUrl must be an http(s) URL");
  if (problems.length) throw new ConnectorConfigError("${name}", problems);
  const records = options.records ?? new Map<string, SubjectRecord[]>();
  return {
    spec: { name: "${name}", version: "0.1.0", supports: ["access", "erasure"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },
    async check(_ctx: Pick<TaskContext, "logger" | "signal">): Promise<CheckResult> {
      // TODO: call the system's cheapest authenticated endpoint.
      if (options.baseUrl!.includes("invalid")) return { ok: false, message: "${name} is not reachable" };
      return { ok: true, message: "${name} reachable" };
    },
    async *collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord> {
      // TODO: page through the system's records of ids.email; stream them, never buffer all.
      if (ctx.signal.aborted) throw new ConnectorError("${name} was interrupted", "aborted", true);
      for (const record of records.get(ids.email!) ?? []) yield record;
    },
    async erase(ids: Identities, _plan, ctx: TaskContext): Promise<ErasureOutcome> {
      // TODO: delete through the API, passing ctx.idempotencyKey; deleting twice must be harmless.
      const erased = records.get(ids.email!)?.length ?? 0;
      records.delete(ids.email!);
      return { erased };
    },
  };
}
`;
}

function testTemplate(name: string, from: string): string {
  const fn = camel(name);
  return `import { describeConnectorConformance } from "${from}/connectors/testing/conformance";
import type { SubjectRecord } from "${from}/connectors/sdk";
import { createConnector } from "./${name}";

// TODO: start a real (or fake, local) ${name} system here instead of the in-memory records.
describeConnectorConformance("${name}", async () => {
  const records = new Map<string, SubjectRecord[]>([
    ["ada@example.com", [{ category: "ACCOUNT", type: "${fn}", id: "1", data: { note: "first" } }, { category: "ACCOUNT", type: "${fn}", id: "2", data: { note: "second" } }]],
    ["grace@example.com", [{ category: "ACCOUNT", type: "${fn}", id: "3", data: { note: "other" } }]],
  ]);
  return {
    connector: createConnector({ baseUrl: "http://127.0.0.1:1", records }),
    badConnector: createConnector({ baseUrl: "http://invalid.example", records }),
    subject: { email: "ada@example.com" },
    otherSubject: { email: "grace@example.com" },
    expectedRecordCount: 2,
    teardown: async () => undefined,
  };
});
`;
}
