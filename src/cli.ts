import "reflect-metadata";
import { Command, CommanderError, Option } from "commander";
import { CLI_ACTOR } from "./audit/actor";
import { createToken, listTokens, revokeToken } from "./auth/tokens";
import { systemClock } from "./clock";
import { Config, ConfigError, loadConfig } from "./config/env";
import { createDataSource, migrate } from "./db/dataSource";
import { Role } from "./domain/enums";
import { DsrError } from "./errors";
import { printDsrSchema } from "./graphql/schema";
import { createLogger } from "./logger";
import { closeServices, createServices, openDatabase, startService, workerOptions } from "./server";
import { Worker } from "./orchestrator/worker";
import { ConnectorRegistryError } from "./orchestrator/registry";
import { addRequestCommands, RemoteFailure } from "./cliRequests";
import { addConnectorNewCommand, addConnectorsCommand } from "./cliConnectors";
import { verifyCertificateFile } from "./certificates/verifyFile";
import { registerExportCommands } from "./export/cli";
import { registerAuditCommands } from "./audit/cli";

/** Exit codes: 0 done, 1 failed, 2 bad usage or input, 4 not found, 78 bad configuration (EX_CONFIG). */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NOT_FOUND: 4, CONFIG: 78 } as const;

class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

async function withDatabase<T>(work: (config: Config) => Promise<T>): Promise<T> {
  return work(loadConfig());
}

async function tokenCommand<T>(work: (ds: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  return withDatabase(async (config) => {
    const ds = await openDatabase(config, createLogger("warn"));
    try {
      return await work(ds);
    } finally {
      await ds.destroy();
    }
  });
}

function program(): Command {
  const cli = new Command("dsr")
    .description("Data-subject-request service: serve the GraphQL API and operate it")
    .showHelpAfterError()
    .exitOverride();

  cli
    .command("serve")
    .description("start the service (GraphQL at /graphql); configuration comes from the environment")
    .action(async () => {
      const service = await startService({ config: loadConfig() });
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          service.services.logger.info({ signal }, "shutting down");
          service.stop().then(resolve, (error) => {
            service.services.logger.error({ err: error }, "unclean shutdown");
            process.exitCode = EXIT.FAILED;
            resolve();
          });
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
    });

  cli
    .command("worker")
    .description("run a worker process: claims and runs tasks from the shared database until SIGTERM (then hands running tasks back)")
    .option("--concurrency <n>", "tasks run at once (default: DSR_WORKER_CONCURRENCY, or 4 when that is 0)")
    .action(async (opts: { concurrency?: string }) => {
      const config = loadConfig();
      const concurrency = opts.concurrency === undefined ? config.DSR_WORKER_CONCURRENCY || 4 : Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new CliFailure("--concurrency must be a whole number from 1 to 256", EXIT.USAGE);
      // The sample systems live inside `dsr serve` (stand-ins on its loopback): a second process would start its own.
      if (config.sampleWorkspace) {
        throw new CliFailure("worker processes need DSR_CONNECTORS_FILE: the sample workspace runs inside `dsr serve` only (set DSR_SAMPLE_WORKSPACE=false or give a connectors file)", EXIT.CONFIG);
      }
      const services = await createServices({ config });
      const worker = new Worker(services, services.connectors, workerOptions(config, concurrency));
      worker.start();
      services.logger.info({ worker: worker.id, concurrency, connectors: services.connectors.list().map((c) => c.spec.name) }, "worker started");
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          services.logger.info({ signal, worker: worker.id }, "worker stopping: handing running tasks back");
          worker
            .stop()
            .then(() => closeServices(services))
            .then(
              () => (services.logger.info({ worker: worker.id }, "worker stopped"), resolve()),
              (error) => (services.logger.error({ err: error }, "unclean worker shutdown"), (process.exitCode = EXIT.FAILED), resolve()),
            );
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
    });

  cli
    .command("migrate")
    .description("apply pending database migrations and exit")
    .option("--check", "only report whether migrations are pending (exit 1 if any)")
    .action(async (opts: { check?: boolean }) => {
      const config = loadConfig();
      const ds = createDataSource(config);
      await ds.initialize();
      try {
        if (opts.check) {
          const pending = await ds.showMigrations();
          process.stdout.write(pending ? "migrations are pending\n" : "schema is up to date\n");
          if (pending) process.exitCode = EXIT.FAILED;
          return;
        }
        const applied = await migrate(ds);
        process.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : "schema is up to date\n");
      } finally {
        await ds.destroy();
      }
    });

  const token = cli.command("token").description("create, list and revoke API bearer tokens");
  token
    .command("create")
    .description("create a token; prints the token (shown once) on stdout")
    .addOption(new Option("--role <role>", "what the token may do").choices(Object.values(Role)).makeOptionMandatory())
    .requiredOption("--name <name>", "who or what holds it")
    .action(async (opts: { role: Role; name: string }) => {
      const created = await tokenCommand((ds) => createToken(ds, systemClock, CLI_ACTOR, { name: opts.name, role: opts.role }));
      process.stderr.write(`created ${created.row.role} token ${created.row.id} (${created.row.name}); it is shown only now:\n`);
      process.stdout.write(`${created.token}\n`);
    });
  token
    .command("list")
    .description("list tokens (never their values)")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const rows = await tokenCommand((ds) => listTokens(ds));
      const view = rows.map((r) => ({ id: r.id, name: r.name, role: r.role, prefix: r.tokenPrefix, createdAt: r.createdAt.toISOString(), revokedAt: r.revokedAt?.toISOString() ?? null }));
      if (opts.json) process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      else {
        for (const r of view) process.stdout.write(`${r.id}  ${r.role.padEnd(15)}  ${r.prefix}…  ${r.revokedAt ? `revoked ${r.revokedAt}` : "active"}  ${r.name}\n`);
        if (view.length === 0) process.stdout.write("no tokens yet: dsr token create --role ADMIN --name <you>\n");
      }
    });
  token
    .command("revoke")
    .description("revoke a token by id; it stops working at once")
    .argument("<id>", "token id (from `dsr token list`)")
    .action(async (id: string) => {
      const row = await tokenCommand((ds) => revokeToken(ds, systemClock, CLI_ACTOR, id));
      process.stdout.write(`revoked ${row.role} token ${row.id} (${row.name})\n`);
    });

  addRequestCommands(cli);
  addConnectorsCommand(cli);
  addConnectorNewCommand(cli);

  cli
    .command("certificate")
    .description("deletion certificates")
    .command("verify")
    .description("check a deletion certificate offline; exit 0 when valid, 1 when not (one line either way)")
    .argument("<file>", "the certificate file (deletionCertificate.signed, saved as is)")
    .option("--public-key <pem file>", "the service's published key (/.well-known/dsr-certificate-key.pem); without it, the key named in the file")
    .action((file: string, opts: { publicKey?: string }) => {
      const outcome = verifyCertificateFile(file, opts.publicKey);
      if (!outcome.ok) throw new CliFailure(`certificate INVALID: ${outcome.reason}`, outcome.unreadable ? EXIT.USAGE : EXIT.FAILED);
      process.stdout.write(`${outcome.line}\n`);
    });
  registerExportCommands(cli, EXIT, (config) => openDatabase(config, createLogger("warn")));
  registerAuditCommands(cli, EXIT, (config) => openDatabase(config, createLogger("warn")), (message, code) => new CliFailure(message, code));

  cli
    .command("schema")
    .description("print the GraphQL schema (SDL), as committed in schema.graphql")
    .action(async () => {
      process.stdout.write(await printDsrSchema());
    });
  return cli;
}

/** Runs the CLI; every failure is one line on stderr and a meaningful exit code, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    const { message, exitCode } = describeFailure(error);
    if (message) process.stderr.write(`dsr: ${message}\n`);
    process.exitCode = exitCode;
  }
}

function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CommanderError) {
    // Help asked for (--help, `dsr help`) exits 0; help shown because no command was given (`dsr`, `dsr token`) is bad usage.
    return { message: "", exitCode: error.exitCode === 0 ? EXIT.OK : EXIT.USAGE };
  }
  if (error instanceof ConfigError || error instanceof ConnectorRegistryError) return { message: error.message, exitCode: EXIT.CONFIG };
  if (error instanceof DsrError) {
    return { message: error.userMessage, exitCode: error.code === "NOT_FOUND" ? EXIT.NOT_FOUND : error.code === "BAD_USER_INPUT" ? EXIT.USAGE : EXIT.FAILED };
  }
  if (error instanceof CliFailure) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof RemoteFailure) {
    return { message: error.message, exitCode: error.code === "NOT_FOUND" ? EXIT.NOT_FOUND : error.code === "BAD_USER_INPUT" ? EXIT.USAGE : EXIT.FAILED };
  }
  const err = error as NodeJS.ErrnoException;
  if (err?.code === "ECONNREFUSED" || err?.code === "ER_ACCESS_DENIED_ERROR" || err?.code === "ER_BAD_DB_ERROR") {
    return { message: `cannot reach the database (${err.code}): check DATABASE_URL`, exitCode: EXIT.FAILED };
  }
  if (err?.code === "EADDRINUSE") return { message: `the port is already in use (${err.message}); set PORT`, exitCode: EXIT.FAILED };
  return { message: err?.message ?? String(error), exitCode: EXIT.FAILED };
}
