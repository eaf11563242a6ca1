import { Command, CommanderError, Option } from "commander";
import type { Config } from "./config/env";
import type { DataSource } from "typeorm";
import { Role } from "./domain/enums";
import { DsrError } from "./errors";
import { addRequestCommands, RemoteFailure, wholeNumber } from "./cliRequests";
import { addRosterCommands } from "./cliRosters";
import { addConnectorNewCommand, addConnectorsCommand } from "./cliConnectors";
import { addCertificateCommands } from "./cliCertificates";
import { registerExportCommands } from "./export/cli";
import { registerAuditCommands } from "./audit/cli";

/*
 * What a command needs is loaded when it runs (require in its action): the service's modules (TypeORM,
 * Apollo, the AWS SDK) take seconds to load, and `dsr --help` or `dsr --version` need none of them.
 */
const config = () => (require("./config/env") as typeof import("./config/env")).loadConfig();
const server = () => require("./server") as typeof import("./server");
const logger = (level: string) => (require("./logger") as typeof import("./logger")).createLogger(level);
/** Opens the installation the settings name; where there is none, says so (ConfigError, exit 78) rather than create an empty one and report on it. */
const openDatabase = (settings: Config): Promise<DataSource> => server().openDatabase(settings, logger("warn"), { existing: true });

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

/**
 * Runs `work` with the token store's functions and the configured database, closed afterwards. Listing
 * and revoking read an installation (`existing`): where there is none they say so rather than create an
 * empty one and answer "no tokens yet" or "does not exist" about it.
 */
async function tokenCommand<T>(work: (tokens: typeof import("./auth/tokens"), ds: DataSource) => Promise<T>, existing = true): Promise<T> {
  const ds = await server().openDatabase(config(), logger("warn"), { existing });
  try {
    return await work(require("./auth/tokens") as typeof import("./auth/tokens"), ds);
  } finally {
    await ds.destroy();
  }
}

const systemClock = () => (require("./clock") as typeof import("./clock")).systemClock;
const cliActor = () => (require("./audit/actor") as typeof import("./audit/actor")).CLI_ACTOR;

/**
 * Runs a long-lived process (serve, worker) until SIGTERM or SIGINT. The handlers are in place before
 * `start` begins: until a process has a handler the kernel's default ends it at once, so a signal that
 * came while it started (the moment a supervisor or a test, having seen it log that it runs, stops it)
 * killed it without handing anything back or taking its worker off wake_endpoints. A signal that comes
 * during start-up stops it as soon as it has started; it stops once, whichever signals follow (a second
 * of the same kind is not caught: it ends the process).
 */
async function untilSignalled<T>(start: () => Promise<T>, stop: (started: T, signal: string) => Promise<void>): Promise<void> {
  let signalled: string | undefined;
  let onSignal: ((signal: string) => void) | undefined;
  const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const handler = () => (onSignal ? onSignal(signal) : (signalled ??= signal));
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  let started: T;
  try {
    started = await start();
  } catch (error) {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    throw error;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    onSignal = (signal) => {
      if (stopping) return;
      stopping = true;
      void stop(started, signal).then(resolve);
    };
    if (signalled) onSignal(signalled);
  });
}

function program(): Command {
  const cli = new Command("dsr")
    .description("Data-subject-request service: serve the GraphQL API and operate it")
    .version((require("../../package.json") as { version: string }).version, "-V, --version", "print the version")
    .showHelpAfterError()
    .exitOverride();

  cli
    .command("serve")
    .description("start the service (GraphQL at /graphql); configuration comes from the environment")
    .action(() =>
      untilSignalled(
        () => server().startService({ config: config() }),
        async (service, signal) => {
          service.services.logger.info({ signal }, "shutting down");
          await service.stop().catch((error) => {
            service.services.logger.error({ err: error }, "unclean shutdown");
            process.exitCode = EXIT.FAILED;
          });
        },
      ),
    );

  cli
    .command("worker")
    .description("run a worker process: claims and runs tasks from the shared database until SIGTERM (then hands running tasks back)")
    .option("--concurrency <n>", "tasks run at once (default: DSR_WORKER_CONCURRENCY, or 4 when that is 0)")
    .action(async (opts: { concurrency?: string }) => {
      const settings = config();
      const concurrency = opts.concurrency === undefined ? settings.DSR_WORKER_CONCURRENCY || 4 : wholeNumber(opts.concurrency, "--concurrency", 1, 256);
      // The sample systems live inside `dsr serve` (stand-ins on its loopback): a second process would start its own.
      if (settings.sampleWorkspace) {
        throw new CliFailure("worker processes need DSR_CONNECTORS_FILE: the sample workspace runs inside `dsr serve` only (set DSR_SAMPLE_WORKSPACE=false or give a connectors file)", EXIT.CONFIG);
      }
      const { closeServices, createServices, startWorker, workerOptions } = server();
      await untilSignalled(
        async () => {
          let running: import("./server").RunningWorker | undefined;
          const services = await createServices({ config: settings, wakeWorkers: () => running?.wake(), wakeSelf: () => running?.worker.id });
          running = await startWorker(services, workerOptions(settings, concurrency));
          const { worker } = running;
          services.logger.info({ worker: worker.id, concurrency, wakePort: running.wakePort ?? null, connectors: services.connectors.list().map((c) => c.spec.name) }, "worker started");
          return { services, running };
        },
        async ({ services, running }, signal) => {
          const { worker } = running;
          services.logger.info({ signal, worker: worker.id }, "worker stopping: handing running tasks back");
          try {
            await running.stop();
            await closeServices(services);
            services.logger.info({ worker: worker.id }, "worker stopped");
          } catch (error) {
            services.logger.error({ err: error }, "unclean worker shutdown");
            process.exitCode = EXIT.FAILED;
          }
        },
      );
    });

  cli
    .command("migrate")
    .description("apply pending database migrations and exit")
    .option("--check", "only report whether migrations are pending (exit 1 if any)")
    .action(async (opts: { check?: boolean }) => {
      const { createDataSource, migrate, openDataSource, pendingMigrations } = require("./db/dataSource") as typeof import("./db/dataSource");
      const settings = config();
      // --check only reads: opening an SQLite file that is not there would create it (and its folder),
      // and a mistyped path would then read as a database waiting for its migrations.
      if (opts.check && settings.database.kind === "sqlite" && !require("node:fs").existsSync(settings.database.file)) {
        process.stderr.write(`dsr: there is no database at ${settings.database.file} yet (\`dsr migrate\` creates it)\n`);
        process.stdout.write("migrations are pending\n");
        process.exitCode = EXIT.FAILED;
        return;
      }
      const ds = createDataSource(settings);
      await openDataSource(ds, settings);
      try {
        if (opts.check) {
          const pending = await pendingMigrations(ds);
          process.stdout.write(pending.length ? "migrations are pending\n" : "schema is up to date\n");
          if (pending.length) process.stderr.write(`pending: ${pending.join(", ")}\n`);
          if (pending.length) process.exitCode = EXIT.FAILED;
          return;
        }
        const applied = await migrate(ds, () => (require("./export/keys") as typeof import("./export/keys")).createDataKeys(settings));
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
      const created = await tokenCommand((tokens, ds) => tokens.createToken(ds, systemClock(), cliActor(), { name: opts.name, role: opts.role }), false);
      process.stderr.write(`created ${created.row.role} token ${created.row.id} (${created.row.name}); it is shown only now:\n`);
      process.stdout.write(`${created.token}\n`);
    });
  token
    .command("list")
    .description("list tokens (never their values)")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const rows = await tokenCommand((tokens, ds) => tokens.listTokens(ds));
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
      const row = await tokenCommand((tokens, ds) => tokens.revokeToken(ds, systemClock(), cliActor(), id));
      process.stdout.write(`revoked ${row.role} token ${row.id} (${row.name})\n`);
    });

  addRequestCommands(cli);
  addRosterCommands(cli);
  addConnectorsCommand(cli);
  addConnectorNewCommand(cli);

  addCertificateCommands(cli, (message, exitCode) => new CliFailure(message, exitCode));
  registerExportCommands(cli, EXIT, openDatabase);
  registerAuditCommands(cli, EXIT, openDatabase, (message, code) => new CliFailure(message, code));

  cli
    .command("schema")
    .description("print the GraphQL schema (SDL), as committed in schema.graphql")
    .action(async () => {
      require("reflect-metadata");
      const { printDsrSchema } = require("./graphql/schema") as typeof import("./graphql/schema");
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

/** Whether `error` is an instance of a class of a module the command loaded (one it did not load cannot have thrown it). */
function isLoaded(error: unknown, id: string, name: string): boolean {
  const cached = require.cache[require.resolve(id)];
  const type = cached?.exports?.[name] as (new (...args: never[]) => unknown) | undefined;
  return !!type && error instanceof type;
}

function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CommanderError) {
    // Help asked for (--help, `dsr help`) exits 0; help shown because no command was given (`dsr`, `dsr token`) is bad usage.
    return { message: "", exitCode: error.exitCode === 0 ? EXIT.OK : EXIT.USAGE };
  }
  if (isLoaded(error, "./config/env", "ConfigError") || isLoaded(error, "./orchestrator/registry", "ConnectorRegistryError") || isLoaded(error, "./db/clockSkew", "ClockSkewError")) {
    return { message: (error as Error).message, exitCode: EXIT.CONFIG };
  }
  if (error instanceof DsrError) {
    return { message: error.userMessage, exitCode: error.code === "NOT_FOUND" ? EXIT.NOT_FOUND : error.code === "BAD_USER_INPUT" ? EXIT.USAGE : EXIT.FAILED };
  }
  if (error instanceof CliFailure) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof RemoteFailure) {
    return { message: error.message, exitCode: error.code === "NOT_FOUND" ? EXIT.NOT_FOUND : error.code === "BAD_USER_INPUT" ? EXIT.USAGE : EXIT.FAILED };
  }
  const err = error as NodeJS.ErrnoException;
  // Only MySQL answers these; a connection refused elsewhere (S3, KMS, a connector) is named by its address below.
  if (err?.code === "ER_ACCESS_DENIED_ERROR" || err?.code === "ER_BAD_DB_ERROR") {
    return { message: `cannot reach the database (${err.code}): check DATABASE_URL`, exitCode: EXIT.FAILED };
  }
  const at = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if ((at?.code === "ECONNREFUSED" || at?.code === "ETIMEDOUT") && at.address) {
    return { message: `cannot connect to ${at.address}${at.port ? `:${at.port}` : ""} (${at.code})`, exitCode: EXIT.FAILED };
  }
  if (err?.code === "EADDRINUSE") return { message: `the port is already in use (${err.message}); set PORT`, exitCode: EXIT.FAILED };
  return { message: err?.message ?? String(error), exitCode: EXIT.FAILED };
}
