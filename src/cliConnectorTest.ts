import fs from "node:fs";
import path from "node:path";
import type { Connector, Identities } from "./connectors/sdk";
import { normalizeEmail } from "./domain/identities";
import type { ConformanceResult, ConformanceRun } from "./connectors/testing/conformance";
import { RemoteFailure } from "./cliRequests";
import { PROJECT_ROOT } from "./cliScaffold";

export interface ConnectorTestOptions {
  connectorsFile?: string;
  subject?: string;
  other?: string;
  mixedCase?: string;
  idn?: string;
  expectRecords?: string;
  options?: string;
  erase?: boolean;
}

const usage = (message: string) => new RemoteFailure(message, "BAD_USER_INPUT");

/**
 * `email=ada@example.com,userId=42` as identities (email required), the email in matching form: a
 * connector gets what the service would pass it (`Zoe@Example.COM` is `zoe@example.com`, and an
 * internationalised domain is in Unicode whichever spelling was typed). Every other value exactly as
 * given, as the service carries it: `userId=usr_a ` is the account `usr_a ` (trimmed, the suite ran
 * against `usr_a`, another account, and --erase erased that one's records).
 */
function identities(flag: string, value: string | undefined): Identities {
  if (!value) throw usage(`${flag} is required for this target: give the identities of a person the system holds, e.g. ${flag} email=ada@example.com`);
  const ids: Record<string, string> = {};
  for (const pair of value.split(",")) {
    const at = pair.indexOf("=");
    if (at < 1) throw usage(`${flag} takes kind=value pairs separated by commas, e.g. ${flag} email=ada@example.com,userId=42`);
    const given = pair.slice(at + 1);
    // A value of spaces only is nobody's, as the service treats it (absent).
    if (given.trim() !== "") ids[pair.slice(0, at).trim()] = given;
  }
  if (!ids.email) throw usage(`${flag} needs an email=... pair`);
  return { ...ids, email: normalizeEmail(ids.email) } as Identities;
}

/** The JavaScript to load for a target path: a .ts file of this project is run from its compiled copy in dist/. */
function compiledModule(target: string): string {
  const file = path.resolve(target);
  if (!file.endsWith(".ts")) return file;
  const relative = path.relative(PROJECT_ROOT, file);
  const compiled = path.join(PROJECT_ROOT, "dist", relative.replace(/\.ts$/, ".js"));
  if (relative.startsWith("..") || !fs.existsSync(compiled) || fs.statSync(compiled).mtimeMs < fs.statSync(file).mtimeMs) {
    throw usage(`${target} is not compiled (or changed since): run \`npx tsc -p .\` in ${PROJECT_ROOT} first, or pass the compiled .js`);
  }
  return compiled;
}

type FlagRun = Omit<ConformanceRun, "connector" | "teardown">;

/** What the flags say about a run (read before anything runs, so a bad flag is one usage error): subjects, no fault injection. */
function flagRun(opts: ConnectorTestOptions): FlagRun {
  const expected = opts.expectRecords === undefined ? undefined : Number(opts.expectRecords);
  if (expected !== undefined && !(Number.isInteger(expected) && expected >= 0)) throw usage("--expect-records must be a whole number");
  return {
    subject: identities("--subject", opts.subject),
    otherSubject: identities("--other", opts.other),
    mixedCaseSubject: opts.mixedCase === undefined ? undefined : identities("--mixed-case", opts.mixedCase),
    internationalDomainSubject: opts.idn === undefined ? undefined : identities("--idn", opts.idn),
    expectedRecordCount: expected,
    skipErase: opts.erase ? undefined : "the erase cases change the system's data: pass --erase to run them against a test system",
  };
}

/**
 * How to set the suite up for a target: a module exporting conformance() (what `dsr connector new`
 * writes) runs as its author set it up; a module exporting only createConnector is built from --options;
 * anything else is the name of a connector in the connectors file. The second and third need the
 * subjects' identities on the command line, and skip the erase cases unless --erase is given.
 */
export async function conformanceSetup(target: string, opts: ConnectorTestOptions): Promise<{ name: string; setup: () => Promise<ConformanceRun>; close(): Promise<void> }> {
  if (/[/\\]|\.[cm]?[jt]s$/.test(target)) {
    const file = compiledModule(target);
    if (!fs.existsSync(file)) throw new RemoteFailure(`${target} does not exist`, "NOT_FOUND");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file) as { conformance?: () => Promise<ConformanceRun>; createConnector?: (o: Record<string, unknown>) => Connector | Promise<Connector> };
    if (typeof mod.conformance === "function") return { name: path.basename(target), setup: mod.conformance, close: async () => undefined };
    if (typeof mod.createConnector !== "function") throw usage(`${target} exports neither conformance() nor createConnector(options)`);
    let options: Record<string, unknown>;
    try {
      options = JSON.parse(opts.options ?? "{}") as Record<string, unknown>;
    } catch (error) {
      throw usage(`--options is not JSON: ${(error as Error).message}`);
    }
    const build = mod.createConnector;
    const flags = flagRun(opts);
    return {
      name: path.basename(target),
      setup: async () => {
        const connector = await build(options);
        return { ...flags, connector, teardown: async () => void (await connector.close?.()) };
      },
      close: async () => undefined,
    };
  }
  const flags = flagRun(opts);
  const file = opts.connectorsFile ?? process.env.DSR_CONNECTORS_FILE;
  if (!file) throw usage(`${target} is not a module path, so it names a connector of a connectors file: pass --connectors-file or set DSR_CONNECTORS_FILE`);
  const { loadConnectorsFile } = require("./orchestrator/connectorsFile") as typeof import("./orchestrator/connectorsFile");
  const connectors = await loadConnectorsFile(file);
  const connector = connectors.find((c) => c.spec.name === target);
  const closeAll = async () => void (await Promise.allSettled(connectors.map((c) => c.close?.())));
  if (!connector) {
    await closeAll();
    throw new RemoteFailure(`${file} has no connector named ${target} (it has ${connectors.map((c) => c.spec.name).join(", ") || "none"})`, "NOT_FOUND");
  }
  // One connector for every case: the connectors file's systems are real, nothing to start per case.
  return { name: target, setup: async () => ({ ...flags, connector, teardown: async () => undefined }), close: closeAll };
}

/** The results as a table: one row per case, failures and skips with their reason. */
export async function resultTable(results: ConformanceResult[]): Promise<string> {
  const Table = require("cli-table3") as typeof import("cli-table3");
  const table = new Table({ head: ["group", "case", "result", "reason"], style: { head: [], border: [], compact: true }, colWidths: [18, 62, 9, 60], wordWrap: true });
  for (const r of results) table.push([r.group, r.title, r.outcome === "pass" ? "pass" : r.outcome === "fail" ? "FAIL" : "skipped", r.reason ?? ""]);
  const count = (o: ConformanceResult["outcome"]) => results.filter((r) => r.outcome === o).length;
  return `${table.toString()}\n${count("pass")} passed, ${count("fail")} failed, ${count("skipped")} skipped`;
}
