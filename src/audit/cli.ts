import type { KeyObject } from "node:crypto";
import fs from "node:fs";
import { Command } from "commander";
import type { DataSource } from "typeorm";
import type { systemClock } from "../clock";
import type { Config } from "../config/env";
import { AUDIT_KEY_PATH, fetchPublicKey } from "../cliCertificates";

// What the commands need is loaded when they run (like the rest of the CLI): `dsr --help` loads none of it.
const load = () => ({
  clock: (require("../clock") as typeof import("../clock")).systemClock,
  loadConfig: (require("../config/env") as typeof import("../config/env")).loadConfig,
  sealCheckpoint: (require("./checkpointer") as typeof import("./checkpointer")).sealCheckpoint,
  publicKeyFromPem: (require("./signingKey") as typeof import("./signingKey")).publicKeyFromPem,
  verifyAuditTrail: (require("./verifyCommand") as typeof import("./verifyCommand")).verifyAuditTrail,
  checkStorage: (require("../export/storage") as typeof import("../export/storage")).checkStorage,
});

type Exit = { FAILED: number; USAGE: number };

/** `dsr audit verify|checkpoint`: what GraphQL's verifyAuditTrail does, for an operator or auditor at a shell. */
export function registerAuditCommands(cli: Command, exit: Exit, openDatabase: (config: Config) => Promise<DataSource>, fail: (message: string, code: number) => Error): void {
  const group = cli.command("audit").description("verify the audit trail and seal it into signed checkpoints");
  const withServices = async <T>(work: (services: { ds: DataSource; config: Config; clock: typeof systemClock }) => Promise<T>): Promise<T> => {
    const config = load().loadConfig();
    // The checkpoints are read from the export storage: a bucket that cannot be used is named as such.
    await load().checkStorage(config);
    const ds = await openDatabase(config);
    try {
      return await work({ ds, config, clock: load().clock });
    } finally {
      await ds.destroy();
    }
  };

  group
    .command("verify")
    .description("check the trail against the signed checkpoints in storage; exit 0 when intact, 1 when not (each problem on its own line)")
    .option("--full", "check everything from the first event, not only what was written since the last intact verification")
    .option("--public-key <pem file or URL>", `the service's published key: a PEM file, or its URL (${AUDIT_KEY_PATH}, or the service's address); default: the configured signing key`)
    .option("--json", "print the whole result as JSON")
    .action(async (opts: { full?: boolean; publicKey?: string; json?: boolean }) => {
      let publicKey: KeyObject | undefined;
      if (opts.publicKey !== undefined) {
        let pem: string;
        if (/^https?:\/\//i.test(opts.publicKey)) pem = await fetchPublicKey(opts.publicKey, AUDIT_KEY_PATH);
        else
          try {
            pem = fs.readFileSync(opts.publicKey, "utf8");
          } catch (error) {
            throw fail(`cannot read the public key ${opts.publicKey} (${(error as NodeJS.ErrnoException).code ?? "error"})`, exit.USAGE);
          }
        publicKey = load().publicKeyFromPem(pem) ?? undefined;
        if (!publicKey) throw fail(`${opts.publicKey} is not an Ed25519 public key in PEM`, exit.USAGE);
      }
      const result = await withServices((services) => load().verifyAuditTrail(services, { full: opts.full === true, publicKey }));
      if (opts.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        process.stdout.write(`${result.summary}\n`);
        for (const p of result.problems) process.stdout.write(`problem ${p.kind}${p.stream ? ` stream=${p.stream}` : ""}${p.seq !== null ? ` seq=${p.seq}` : ""}${p.checkpoint !== null ? ` checkpoint=${p.checkpoint}` : ""}: ${p.description}\n`);
      }
      if (!result.ok) process.exitCode = exit.FAILED;
    });

  group
    .command("checkpoint")
    .description("seal the events written since the last checkpoint into a new signed checkpoint now (serve and worker do it every DSR_AUDIT_CHECKPOINT_SECONDS)")
    .action(async () => {
      const outcome = await withServices((services) => load().sealCheckpoint(services, { waitSeconds: 30 }));
      const adopted = outcome.adopted.length ? ` (took in checkpoint ${outcome.adopted.join(", ")}, stored by a checkpointer that stopped before recording it)` : "";
      if (outcome.sealed) process.stdout.write(`sealed checkpoint ${outcome.number}: ${outcome.events} event(s) in ${outcome.streams} trail(s)${adopted}\n`);
      else process.stdout.write(`no checkpoint written: ${outcome.reason}${adopted}\n`);
    });
}
