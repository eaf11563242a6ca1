import { clockSkewProblemNow, skewBoundMs, startClockWatch, stopClockWatch } from "./db/clockSkew";
import "reflect-metadata";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import express, { ErrorRequestHandler } from "express";
import { ApolloServer, ApolloServerPlugin } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { GraphQLError } from "graphql";
import type { DataSource } from "typeorm";
import { SYSTEM_ACTOR, tokenActor } from "./audit/actor";
import { authenticateToken, bearerToken, ensureBootstrapToken } from "./auth/tokens";
import { Clock, systemClock } from "./clock";
import { Config, ConfigError } from "./config/env";
import { resolveSecret } from "./config/secrets";
import { listenerTls } from "./config/transport";
import { createDataSource, migrate, openDataSource, pendingMigrations } from "./db/dataSource";
import { makeFormatError } from "./graphql/formatError";
import { apiLimits } from "./graphql/limits";
import { observeOperations } from "./graphql/observe";
import { answerClientError, GRAPHQL_PATH, graphqlEndpoint, isGraphqlPath, sendNotFound, sendTransportError } from "./graphql/httpHandler";
import { RateLimiter } from "./graphql/rateLimit";
import { databaseRegistry, METRICS_CONTENT_TYPE, scrape } from "./metrics";
import type { GraphQLContext } from "./graphql/context";
import { buildDsrSchema } from "./graphql/schema";
import { createLogger, logFormat, Logger } from "./logger";
import { exportTools } from "./export/context";
import { LogNotifier, Notifier, WebhookNotifier } from "./notifier/notifier";
import type { Services } from "./services";
import { removeOrphanTempDirs } from "./tempDirs";
import type { Connector } from "./connectors/sdk";
import { startSampleWorkspace } from "./sample/workspace";
import { loadConnectorsFile } from "./orchestrator/connectorsFile";
import { ConnectorRegistry, processingLocationOf } from "./orchestrator/registry";
import { leaseProblems } from "./orchestrator/erasureUnits";
import { WakeListener, wakeSender } from "./orchestrator/wake";
import { Worker, WorkerOptions } from "./orchestrator/worker";
import { CallbackDispatcher } from "./callbacks/dispatcher";
import { resolveCertificateKey } from "./certificates/signing";
import { startCheckpointer, stopCheckpointer } from "./audit/checkpointer";
import { auditTools } from "./audit/tools";
import { exportDownloadHandler, rosterDownloadHandler } from "./export/download";
import { RosterRunner } from "./roster/rosterRunner";
import { LINK_KINDS } from "./export/links";
import { checkStorage } from "./export/storage";

export interface StartOptions {
  config: Config;
  /** Connectors to register (embedding, tests); otherwise those of DSR_CONNECTORS_FILE. */
  connectors?: Connector[];
  clock?: Clock;
  logger?: Logger;
  notifier?: Notifier;
}

export interface RunningService {
  url: string;
  port: number;
  services: Services;
  /** The in-process worker, unless DSR_WORKER_CONCURRENCY=0. */
  worker: Worker | null;
  /** Delivers signed status callbacks, when DSR_CALLBACK_URL is set. */
  callbacks: CallbackDispatcher | null;
  /** Stops taking requests, lets in-flight ones finish (up to the grace period), closes the database. */
  stop(): Promise<void>;
}

function notifierFor(config: Config, clock: Clock, logger: Logger): Notifier {
  if (config.DSR_NOTIFIER === "webhook") return new WebhookNotifier(config.DSR_NOTIFIER_URL!, config.DSR_NOTIFIER_SECRET!, clock);
  return new LogNotifier(logger.child({ component: "notifier" }));
}

/** The connectors given, or those of DSR_CONNECTORS_FILE, or the sample workspace's; validated together. */
export async function buildRegistry(config: Config, given?: Connector[], logger?: Logger): Promise<ConnectorRegistry> {
  // A lease whose units of erasure are too short for a connector's writes would fail its every erasure.
  const registry = (connectors: readonly Connector[], release?: () => Promise<void>) => {
    const problems = leaseProblems(connectors, config.DSR_TASK_LEASE_MS);
    if (problems.length) throw new ConfigError(problems);
    return new ConnectorRegistry(connectors, release);
  };
  if (given) return registry(given);
  if (config.sampleWorkspace) {
    const workspace = await startSampleWorkspace({ dataDir: config.dataDir, logger: logger ?? createLogger(config.DSR_LOG_LEVEL), authEventsForAda: config.DSR_SAMPLE_ADA_AUTH_EVENTS });
    try {
      return registry(workspace.connectors, workspace.close);
    } catch (error) {
      await workspace.close();
      throw error;
    }
  }
  const built = config.DSR_CONNECTORS_FILE ? await loadConnectorsFile(config.DSR_CONNECTORS_FILE) : [];
  // Without connectors every request would end with nothing done: production refuses to start.
  if (config.NODE_ENV === "production" && built.length === 0) {
    throw new ConfigError([
      config.DSR_CONNECTORS_FILE
        ? `DSR_CONNECTORS_FILE (${config.DSR_CONNECTORS_FILE}) lists no connector: with NODE_ENV=production the service needs at least one system to act on (see docs/connectors.md)`
        : "DSR_CONNECTORS_FILE is required with NODE_ENV=production: set it to the connectors file that names the systems holding personal data (see docs/connectors.md); without connectors no request could be carried out",
    ]);
  }
  const closeAll = async () => void (await Promise.allSettled(built.map((c) => c.close?.())));
  const unrecorded = built.filter((c) => !processingLocationOf(c)).map((c) => c.spec.name);
  if (unrecorded.length) logger?.warn({ connectors: unrecorded }, "no processing location is recorded for these connectors: set processingLocation (e.g. \"US\") on their entries in the connectors file; until then they count as outside DSR_PROCESSING_LOCATION");
  try {
    return registry(built, closeAll);
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** Worker settings from the configuration. */
export function workerOptions(config: Config, concurrency = config.DSR_WORKER_CONCURRENCY): WorkerOptions {
  return {
    concurrency,
    leaseMs: config.DSR_TASK_LEASE_MS,
    pollIntervalMs: config.DSR_WORKER_POLL_MS,
    sweepIntervalMs: Math.max(config.DSR_WORKER_POLL_MS, Math.floor(config.DSR_TASK_LEASE_MS / 2)),
    taskTimeoutMs: config.DSR_TASK_TIMEOUT_SECONDS * 1000,
    backoff: { baseMs: config.DSR_RETRY_BASE_MS, maxMs: config.DSR_RETRY_MAX_MS, retryAfterMaxMs: config.DSR_RETRY_AFTER_MAX_MS },
    stopGraceMs: config.DSR_SHUTDOWN_GRACE_SECONDS * 1000,
    maxAttempts: config.DSR_TASK_MAX_ATTEMPTS,
  };
}

/** The status-callback dispatcher of `serve`, when DSR_CALLBACK_URL is set. */
function callbackDispatcher({ ds, clock, logger, config }: Services): CallbackDispatcher | null {
  if (!config.DSR_CALLBACK_URL) return null;
  return new CallbackDispatcher(ds, clock, logger.child({ component: "callbacks" }), {
    url: config.DSR_CALLBACK_URL,
    secret: config.DSR_CALLBACK_SECRET!,
    pollIntervalMs: config.DSR_CALLBACK_POLL_MS,
    backoff: { baseMs: config.DSR_CALLBACK_RETRY_BASE_MS, maxMs: config.DSR_CALLBACK_RETRY_MAX_MS, retryAfterMaxMs: config.DSR_RETRY_AFTER_MAX_MS },
    timeoutMs: config.DSR_CALLBACK_TIMEOUT_MS,
  });
}

/** Opens the database and brings its schema up to date (or refuses to go on when it is behind). */
export async function openDatabase(config: Config, logger: Logger, options: { existing?: boolean } = {}): Promise<DataSource> {
  // A command that reads an installation (dsr audit verify) must not make one where there is none: it
  // would then report on the empty database it had just created, as if it were the service's.
  const none = () =>
    new ConfigError([
      config.database.kind === "sqlite"
        ? `there is no database at ${config.database.file}: run the command with the service's DSR_DATA_DIR or DATABASE_URL`
        : "DATABASE_URL names a database in which the service was never installed (no migration applied): give the service's DATABASE_URL",
    ]);
  if (options.existing && config.database.kind === "sqlite" && !fs.existsSync(config.database.file)) throw none();
  const ds = createDataSource(config);
  await openDataSource(ds, config);
  if (options.existing && (await pendingMigrations(ds)).length === ds.migrations.length) {
    await ds.destroy();
    throw none();
  }
  if (config.DSR_MIGRATE_ON_START) {
    const applied = await migrate(ds, () => exportTools({ config, logger }).keys);
    if (applied.length) logger.info({ migrations: applied }, "migrations applied");
  } else if ((await pendingMigrations(ds)).length > 0) {
    await ds.destroy();
    throw new Error("the database schema is behind this version: run `dsr migrate` (or set DSR_MIGRATE_ON_START=true)");
  }
  return ds;
}

function unauthenticatedError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "UNAUTHENTICATED", http: { status: 401 } } });
}

/** Each open database's wake sender (wake.ts), closed with it. */
const wakeSenders = new WeakMap<object, { close(): void }>();

/** How long /readyz waits for the export storage to take a write (probes are usually timed out at a few seconds). */
const READY_STORAGE_TIMEOUT_MS = 2_000;
/** What /readyz may say is wrong; anything else it reports as the database. */
const READY_REASONS = ["shutting down", "clock skew", "export storage unavailable"];

/**
 * What every process of the service needs (serve and worker alike): validated connectors, the migrated
 * database, the clock, the logger, the notifier, the secret. `wakeWorkers` wakes the process's own
 * worker; services.wakeWorkers() also wakes those of other processes (wake.ts), but `wakeSelf`'s.
 */
export async function createServices(options: StartOptions & { wakeWorkers?: () => void; wakeSelf?: () => string | undefined }): Promise<Services> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.DSR_LOG_LEVEL, {}, { format: logFormat(config) });
  await checkStorage(config);
  const connectors = await buildRegistry(config, options.connectors, logger);
  let ds: DataSource | undefined;
  try {
    ds = await openDatabase(config, logger);
    await startClockWatch(ds, { maxSkewMs: skewBoundMs(config), intervalMs: config.DSR_CLOCK_CHECK_MS }, logger);
  } catch (error) {
    await ds?.destroy();
    await connectors.close();
    throw error;
  }
  // Every serve and worker process offers to seal audit checkpoints; one at a time does (see asLeader).
  startCheckpointer({ ds, config, clock, logger });
  const secret = resolveSecret(config);
  const remote = config.DSR_WAKE_ENABLED ? wakeSender(ds, secret, logger, options.wakeSelf) : undefined;
  if (remote) wakeSenders.set(ds, remote);
  const local = options.wakeWorkers;
  return {
    ds,
    clock,
    config,
    logger,
    notifier: options.notifier ?? notifierFor(config, clock, logger),
    secret,
    connectors,
    retentionRules: config.retentionRules,
    wakeWorkers: () => {
      local?.();
      remote?.();
    },
  };
}

/** A worker, its breach roster runner and its end of the wake channel. */
export interface RunningWorker {
  worker: Worker;
  /** Draws breach rosters (src/roster), beside the worker's tasks. */
  rosters: RosterRunner;
  /** Tells both there may be work. */
  wake(): void;
  /** The UDP port it is woken on, when it listens (MySQL, DSR_WAKE_ENABLED). */
  wakePort?: number;
  /** Stops the worker (running tasks hand themselves back), then its listener. */
  stop(): Promise<void>;
}

/**
 * Starts a worker and, on MySQL, its wake listener (wake.ts). A listener that cannot bind (a fixed
 * DSR_WAKE_PORT already taken) is logged as an error and the worker runs on polling alone.
 */
export async function startWorker(services: Services, options: WorkerOptions): Promise<RunningWorker> {
  const { config, logger } = services;
  const worker = new Worker(services, services.connectors, options);
  worker.start();
  // What processes of this host killed mid-export or mid-roster left in the temporary folder (encrypted
  // under keys that died with them): removed in the background, never in the way of the start.
  void removeOrphanTempDirs()
    .then((removed) => removed.length && logger.info({ folders: removed.length }, "removed temporary folders that stopped processes left behind"))
    .catch((error) => logger.warn({ err: error }, "could not look for temporary folders stopped processes left behind"));
  // Rosters are rare: looked for every 2 s at most (and at once when this process starts one).
  const rosters = new RosterRunner(services, { pollIntervalMs: Math.max(options.pollIntervalMs, 2_000), leaseMs: options.leaseMs, backoff: options.backoff });
  rosters.start();
  const wake = () => (worker.wake(), rosters.wake());
  let listener: WakeListener | undefined;
  if (config.DSR_WAKE_ENABLED) {
    listener = await WakeListener.start({
      ds: services.ds,
      secret: services.secret,
      logger,
      workerId: worker.id,
      host: config.DSR_WAKE_HOST,
      port: config.DSR_WAKE_PORT,
      advertiseHost: config.DSR_WAKE_ADVERTISE_HOST ?? config.DSR_WAKE_HOST,
      onWake: wake,
    }).catch((error) => {
      logger.error({ err: error, host: config.DSR_WAKE_HOST, port: config.DSR_WAKE_PORT }, "wake listener could not start: this worker finds work by polling only (check DSR_WAKE_HOST and DSR_WAKE_PORT)");
      return undefined;
    });
  }
  return {
    worker,
    rosters,
    wake,
    wakePort: listener?.port,
    async stop() {
      await Promise.all([worker.stop(), rosters.stop()]);
      await listener?.close();
    },
  };
}

/** Releases what createServices opened: the connectors it built, then the database. */
export async function closeServices(services: Pick<Services, "ds" | "connectors">): Promise<void> {
  stopClockWatch(services.ds);
  await stopCheckpointer(services.ds);
  wakeSenders.get(services.ds)?.close();
  await services.connectors.close();
  await services.ds.destroy();
}

/** Starts the HTTP server: GraphQL at /graphql, liveness at /healthz, readiness at /readyz. */
export async function startService(options: StartOptions): Promise<RunningService> {
  const { config } = options;
  let running: RunningWorker | undefined;
  const services = await createServices({ ...options, wakeWorkers: () => running?.wake(), wakeSelf: () => running?.worker.id });
  const { ds, clock, logger, connectors: registry } = services;
  if (await ensureBootstrapToken(ds, clock, SYSTEM_ACTOR, config.DSR_BOOTSTRAP_ADMIN_TOKEN)) {
    logger.info("bootstrap ADMIN token from DSR_BOOTSTRAP_ADMIN_TOKEN registered");
  }

  const app = express();
  app.disable("x-powered-by");
  // Every answer is fresh and marked no-store: an ETag (a hash of each body) would only cost time.
  app.disable("etag");
  // GraphQL is served ahead of Express (see graphqlEndpoint); Express serves everything else.
  let serveGraphql: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const route = (req: http.IncomingMessage, res: http.ServerResponse) => (serveGraphql && isGraphqlPath(req.url) ? serveGraphql(req, res) : app(req, res));
  // https itself with DSR_TLS_CERT_FILE and DSR_TLS_KEY_FILE; plain http for TLS ended in front of it.
  const tls = listenerTls(config.DSR_TLS_CERT_FILE, config.DSR_TLS_KEY_FILE);
  const scheme = tls ? "https" : "http";
  // An https.Server is an http.Server with TLS underneath: the same requests, the same drain.
  const httpServer = (tls ? https.createServer(tls, route) : http.createServer(route)) as http.Server;
  httpServer.on("clientError", answerClientError);
  const production = config.NODE_ENV === "production";
  const limits = apiLimits();
  const apollo = new ApolloServer<GraphQLContext>({
    schema: await buildDsrSchema(),
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    // No "Did you mean ...?" in any environment: suggestions map the schema for someone without introspection.
    hideSchemaDetailsFromClientErrors: true,
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    // `dsr serve` owns shutdown (worker, HTTP, database, in that order); Apollo's own signal handlers would race it.
    stopOnTerminationSignals: false,
    formatError: makeFormatError(logger),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.DSR_SHUTDOWN_GRACE_SECONDS * 1000 }),
      ...limits.plugins,
      // No field has cache hints, and this plugin wraps every field resolver to look for them; answers are no-store (below).
      ApolloServerPluginCacheControlDisabled(),
      observeOperations(logger),
      ...(production ? [ApolloServerPluginLandingPageDisabled()] : []),
    ],
  });
  await apollo.start();

  let ready = true;
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  // Public on purpose: auditors fetch the key that verifies deletion certificates without a token.
  app.get("/.well-known/dsr-certificate-key.pem", (_req, res) => {
    res.type("application/x-pem-file").send(resolveCertificateKey(config).publicKeyPem);
  });
  // Public too: the key that verifies the signed audit checkpoints (`dsr audit verify --public-key`).
  app.get("/.well-known/dsr-audit-key.pem", (_req, res) => {
    res.type("application/x-pem-file").send(auditTools(services).key().publicKeyPem);
  });
  app.get("/readyz", async (_req, res) => {
    try {
      if (!ready) throw new Error("shutting down");
      await ds.query("SELECT 1");
      if (await clockSkewProblemNow(ds)) throw new Error("clock skew");
      const storage = await exportTools(services).storage.unusable(READY_STORAGE_TIMEOUT_MS);
      if (storage) {
        // The answer is public, so it names the kind only; the log says what and where.
        logger.warn({ setting: storage.setting, reason: storage.reason }, "not ready: the export storage cannot be written");
        throw new Error("export storage unavailable");
      }
      res.json({ status: "ready", database: ds.options.type });
    } catch (error) {
      const reason = (error as Error).message;
      res.status(503).json({ status: "unavailable", reason: READY_REASONS.includes(reason) ? reason : "database unreachable" });
    }
  });
  const database = databaseRegistry(ds, clock);
  app.get("/metrics", async (req, res) => {
    // Optional: Prometheus usually scrapes over a private network; DSR_METRICS_TOKEN closes it when it is not.
    if (config.DSR_METRICS_TOKEN && bearerToken(req.headers.authorization) !== config.DSR_METRICS_TOKEN) {
      res.status(401).set("WWW-Authenticate", "Bearer").type("text/plain").send("metrics need Authorization: Bearer <DSR_METRICS_TOKEN>\n");
      return;
    }
    try {
      res.type(METRICS_CONTENT_TYPE).send(await scrape(database));
    } catch (error) {
      logger.error({ err: error }, "metrics scrape failed");
      res.status(503).type("text/plain").send("metrics unavailable\n");
    }
  });
  app.get(`${LINK_KINDS.export.path}/:id`, exportDownloadHandler(services));
  app.get(`${LINK_KINDS.roster.path}/:id`, rosterDownloadHandler(services));
  serveGraphql = graphqlEndpoint({
    apollo,
    bodyLimitBytes: config.DSR_BODY_LIMIT_BYTES,
    // Either setting at 0 turns the limit off (README).
    rateLimiter: config.DSR_RATE_LIMIT_PER_SECOND > 0 && config.DSR_RATE_LIMIT_BURST > 0 ? new RateLimiter({ perSecond: config.DSR_RATE_LIMIT_PER_SECOND, burst: config.DSR_RATE_LIMIT_BURST }) : null,
    logger,
    context: async (req): Promise<GraphQLContext> => {
      const token = bearerToken(req.headers.authorization);
      if (!token) throw unauthenticatedError("A bearer token is required: send Authorization: Bearer <token>");
      const row = await authenticateToken(ds, token);
      if (!row) throw unauthenticatedError("The bearer token is unknown or revoked");
      const caller = { tokenId: row.id, name: row.name, role: row.role };
      return {
        services,
        caller,
        actor: tokenActor(row.id, row.role),
        logger: logger.child({ correlationId: randomUUID(), tokenId: row.id, role: row.role }),
        // Without DSR_PUBLIC_URL (which production requires), links follow the address the caller reached.
        origin: req.headers.host ? `${scheme}://${req.headers.host}` : undefined,
      };
    },
  });
  // Other routes' transport failures: a JSON answer with a code, never an HTML stack trace.
  const transportErrors: ErrorRequestHandler = (error, _req, res, _next) => sendTransportError(res, error, config.DSR_BODY_LIMIT_BYTES, logger);
  app.use((_req, res) => sendNotFound(res));
  app.use(transportErrors);

  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.PORT, config.DSR_HOST, () => resolve());
    });
  } catch (error) {
    // Port taken or not allowed: close what was opened, or the database pool keeps the process alive.
    await apollo.stop().catch(() => undefined);
    await closeServices(services).catch(() => undefined);
    throw error;
  }
  if (config.DSR_WORKER_CONCURRENCY > 0) running = await startWorker(services, workerOptions(config));
  const worker = running?.worker ?? null;
  const callbacks = callbackDispatcher(services);
  callbacks?.start();
  const port = (httpServer.address() as AddressInfo).port;
  const host = config.DSR_HOST === "0.0.0.0" || config.DSR_HOST === "::" ? "127.0.0.1" : config.DSR_HOST;
  const url = `${scheme}://${host}:${port}${GRAPHQL_PATH}`;
  logger.info({ url, database: ds.options.type, connectors: registry.list().map((c) => c.spec.name), workerConcurrency: config.DSR_WORKER_CONCURRENCY }, "dsr service listening");

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    services,
    worker,
    callbacks,
    stop() {
      stopping ??= (async () => {
        ready = false;
        await running?.stop();
        await callbacks?.stop();
        await apollo.stop();
        await closeServices(services);
        logger.info("dsr service stopped");
      })();
      return stopping;
    },
  };
}
