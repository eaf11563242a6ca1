import fs from "node:fs";
import path from "node:path";

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The project the CLI belongs to (bin/, src/, tsconfig.json): this file runs from dist/src/. */
export const PROJECT_ROOT = path.resolve(__dirname, "../..");

/**
 * Writes <dir>/<name>.ts (a connector module for the connectors file, with an in-memory stand-in of the
 * system and its conformance setup) and <dir>/<name>.test.ts (the suite in mocha). As generated, both
 * compile and pass the conformance suite; the TODOs mark what to replace with the real system's calls.
 * Returns the files written; refuses to overwrite.
 */
export function writeScaffold(name: string, dir: string): { module: string; test: string } {
  const files = { module: path.join(dir, `${name}.ts`), test: path.join(dir, `${name}.test.ts`) };
  for (const file of Object.values(files)) if (fs.existsSync(file)) throw new Error(`${file} already exists; nothing was written`);
  // Imports point at this installation's sources, wherever the files are written.
  const src = path.relative(dir, path.join(PROJECT_ROOT, "src")).split(path.sep).join("/");
  const from = src.startsWith(".") ? src : `./${src}`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(files.module, moduleTemplate(name, from));
  fs.writeFileSync(files.test, testTemplate(name, from));
  return files;
}

function moduleTemplate(name: string, from: string): string {
  const fn = camel(name);
  return `import type { ConformanceRun } from "${from}/connectors/testing/conformance";
import { CheckResult, Connector, ConnectorConfigError, ConnectorError, ErasureInstruction, ErasureOutcome, Identities, normalizeEmail, RosterContext, RosterEntry, SubjectRecord, TaskContext } from "${from}/connectors/sdk";

/** Options of the ${name} connector (secrets come from environment variables named in the connectors file). */
export interface ${fn}Options {
  /** TODO: where the system is, e.g. its base URL. */
  baseUrl: string;
  /** TODO: remove with the stand-in below once the connector calls the real system. */
  standIn?: ${fn}StandIn;
}

/**
 * TODO: a stand-in for the ${name} system, so the connector runs (and passes the conformance suite) before
 * it talks to the real one. Replace its use in createConnector with API calls; keep it for tests if useful.
 */
export class ${fn}StandIn {
  readonly records = new Map<string, SubjectRecord[]>();
  /** While true, every call fails as a network blip would (the suite checks such faults are retryable). */
  failing = false;

  seed(email: string, records: SubjectRecord[]): this {
    this.records.set(email, records);
    return this;
  }
}

/** Builds the connector; every configuration problem is reported at once. */
export function createConnector(options: Partial<${fn}Options>): Connector {
  const problems: string[] = [];
  if (typeof options.baseUrl !== "string" || !/^https?:\\/\\//.test(options.baseUrl)) problems.push("baseUrl must be an http(s) URL");
  if (problems.length) throw new ConnectorConfigError("${name}", problems);
  const system = options.standIn ?? new ${fn}StandIn();
  const reach = () => {
    // TODO: a real call fails with ConnectorError(userMessage, internalMessage, retryable, retryAfterMs?).
    if (system.failing) throw new ConnectorError("${name} did not answer; the task will be retried", "stand-in failing", true);
  };
  return {
    spec: { name: "${name}", version: "0.1.0", supports: ["access", "erasure"], needs: ["email"], provides: [], categories: ["ACCOUNT"] },

    async check(_ctx: Pick<TaskContext, "logger" | "signal">): Promise<CheckResult> {
      // TODO: call the system's cheapest authenticated endpoint.
      if (new URL(options.baseUrl!).hostname.endsWith(".invalid")) return { ok: false, message: \`${name}: \${options.baseUrl} does not resolve; check baseUrl\` };
      return { ok: true, message: \`${name}: reached \${options.baseUrl}\` };
    },

    async *collect(ids: Identities, ctx: TaskContext): AsyncIterable<SubjectRecord> {
      // TODO: page through the system's records of ids.email; stream them, never buffer all.
      reach();
      for (const record of system.records.get(ids.email) ?? []) {
        if (ctx.signal.aborted) throw new ConnectorError("${name}: stopped before the end; it resumes on the next attempt", "aborted", true);
        yield record;
      }
    },

    async *listSubjects(ctx: RosterContext): AsyncIterable<RosterEntry> {
      // TODO: page through everyone the system holds (breach rosters): each person once, emails in matching form.
      reach();
      for (const [email, records] of system.records) {
        if (ctx.signal.aborted) throw new ConnectorError("${name}: stopped before the end of the listing", "aborted", true);
        if (records.length) yield { identities: { email: normalizeEmail(email) }, records: records.length };
      }
    },

    async erase(ids: Identities, instruction: ErasureInstruction, ctx: TaskContext): Promise<ErasureOutcome> {
      // TODO: delete through the API, passing ctx.idempotencyKey; deleting twice must be harmless.
      reach();
      const all = system.records.get(ids.email) ?? [];
      // Only the listed categories, and never what retention keeps (recorded at or after keepRecordedSince).
      const erasable = (r: SubjectRecord) => {
        const since = instruction.keepRecordedSince?.[r.category];
        return instruction.categories.includes(r.category) && !(since && r.recordedAt && r.recordedAt >= new Date(since));
      };
      const left = all.filter((r) => !erasable(r));
      system.records.set(ids.email, left);
      ctx.logger.info({ connector: "${name}", erased: all.length - left.length }, "erased");
      return { erased: all.length - left.length };
    },
  };
}

/** What \`dsr connector test\` and ${name}.test.ts run the conformance suite with: fresh data each time. */
export async function conformance(): Promise<ConformanceRun> {
  // TODO: start a local copy of the real system (or point at a test instance) instead of the stand-in.
  const standIn = new ${fn}StandIn()
    .seed("ada@example.com", [
      { category: "ACCOUNT", type: "${fn}", id: "1", data: { note: "first" }, recordedAt: new Date("2024-01-02T10:00:00Z") },
      { category: "ACCOUNT", type: "${fn}", id: "2", data: { note: "second" }, recordedAt: new Date("2024-03-04T10:00:00Z") },
    ])
    .seed("grace@example.com", [{ category: "ACCOUNT", type: "${fn}", id: "3", data: { note: "other" } }]);
  return {
    connector: createConnector({ baseUrl: "https://${name}.example.com", standIn }),
    badConnector: createConnector({ baseUrl: "https://${name}.invalid", standIn }),
    subject: { email: "ada@example.com" },
    otherSubject: { email: "grace@example.com" },
    expectedRecordCount: 2,
    injectRetryableFault: async () => {
      standIn.failing = true;
      return async () => void (standIn.failing = false);
    },
    teardown: async () => undefined,
  };
}
`;
}

function testTemplate(name: string, from: string): string {
  return `import { describeConnectorConformance } from "${from}/connectors/testing/conformance";
import { conformance } from "./${name}";

// The same suite \`dsr connector test\` runs; npm test runs this file once it is compiled.
describeConnectorConformance("${name}", conformance);
`;
}
