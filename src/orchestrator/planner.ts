import { ConnectorAction, EXTERNAL_SYSTEM } from "../connectors/sdk";
import { RequestType } from "../domain/enums";
import { REQUEST_IDENTITY_KINDS } from "../domain/identities";
import { TaskStatus, TaskStep } from "../domain/tasks";
import { EXPORT_TASK_CONNECTOR } from "../export/exportStep";
import { ConnectorRegistry } from "./registry";

/** The step that does a request type's work in each connector, and the action it needs. */
export const MAIN_STEP: Record<RequestType, { step: TaskStep; action: ConnectorAction }> = {
  [RequestType.ACCESS]: { step: TaskStep.COLLECT, action: "access" },
  [RequestType.PORTABILITY]: { step: TaskStep.COLLECT, action: "access" },
  [RequestType.DELETION]: { step: TaskStep.ERASE, action: "erasure" },
  [RequestType.CORRECTION]: { step: TaskStep.RECTIFY, action: "rectification" },
};

export interface PlannedTask {
  connector: string;
  step: TaskStep;
  /** PENDING, or SKIPPED with a note when it cannot or need not run. */
  status: TaskStatus.PENDING | TaskStatus.SKIPPED;
  note: string | null;
  /** Keys (`connector:step`) of the tasks it waits for. */
  dependsOn: string[];
}

export const taskKey = (connector: string, step: TaskStep) => `${connector}:${step}`;

/**
 * Plans a request's tasks from the connectors' declared needs and provides.
 * - A connector runs its main step once the identities it needs are known, and those the request
 *   carries confirmed: it waits for the RESOLVE task of every connector that provides a kind it needs
 *   (which refuses a given value that is not the subject's); kinds nobody provides (email) wait for nothing.
 *   A provider's own main step waits for its own RESOLVE when the request carries a kind it provides,
 *   and in a deletion always: what it keeps may be found only by identities its erasure removes.
 * - Independent connectors have no dependencies between them, so they run in parallel.
 * - Erasure runs in reverse: a provider's ERASE waits for the ERASE of every connector that used its
 *   identities, so the identity source is erased last.
 * - A connector that does not support the action, or whose needs nobody can meet, gets a SKIPPED task
 *   that says why.
 * - A deletion first surveys every connector (a COLLECT that counts, storing nothing): every ERASE waits
 *   for every survey, so the whole deletion plan exists before anything is erased.
 */
export function planTasks(type: RequestType, known: ReadonlySet<string>, registry: ConnectorRegistry): PlannedTask[] {
  const { step, action } = MAIN_STEP[type];
  const tasks = new Map<string, PlannedTask>();
  const add = (t: PlannedTask) => tasks.set(taskKey(t.connector, t.step), t);

  /** The RESOLVE tasks that must finish before a connector with these needs can run; null if unmeetable. */
  const resolversFor = (name: string, needs: readonly string[], needsAny: boolean, seen: Set<string>): string[] | null => {
    const perKind = needs.map((kind) => {
      const providers = registry.providersOf(kind, name).filter((p) => !seen.has(p.spec.name));
      const usable = providers.filter((p) => ensureResolve(p.spec.name, new Set([...seen, name])));
      const keys = usable.map((p) => taskKey(p.spec.name, TaskStep.RESOLVE));
      // A kind the request carries is still confirmed by its providers first: the identity source
      // refuses a value that is another person's before any system is read with it.
      if (known.has(kind)) return keys;
      return usable.length ? keys : null;
    });
    if (needs.length === 0) return [];
    if (needsAny) {
      // Any one identity is enough, but a connector finds the subject best with all it can get (a
      // payment customer id beats an email search): it waits for every provider that can run.
      const met = perKind.filter((deps): deps is string[] => deps !== null);
      return met.length ? [...new Set(met.flat())] : null;
    }
    return perKind.every((deps) => deps !== null) ? [...new Set((perKind as string[][]).flat())] : null;
  };

  /** Plans the RESOLVE task of a provider (and, recursively, of its own providers); false if it cannot run. */
  const ensureResolve = (name: string, seen: Set<string>): boolean => {
    const key = taskKey(name, TaskStep.RESOLVE);
    if (tasks.has(key)) return true;
    const spec = registry.get(name)!.spec;
    const deps = resolversFor(name, spec.needs, spec.needsAny ?? false, seen);
    if (deps === null) return false;
    add({ connector: name, step: TaskStep.RESOLVE, status: TaskStatus.PENDING, note: null, dependsOn: deps });
    return true;
  };

  for (const connector of registry.list()) {
    const { spec } = connector;
    if (!spec.supports.includes(action)) {
      add({ connector: spec.name, step, status: TaskStatus.SKIPPED, note: `${spec.name} does not support ${action}`, dependsOn: [] });
      continue;
    }
    const found = resolversFor(spec.name, spec.needs, spec.needsAny ?? false, new Set());
    // A provider reads its own tables by what it provides too: a kind the request carries is confirmed
    // by its own RESOLVE first (a user id no row of the subject's holds), as for every other connector.
    // A deletion resolves them in any case, before its survey: the erasure removes the row they are read
    // from (the users row), and what it keeps that is found by them (invoices by the customer id) is then
    // reached only through the identities the request keeps, by the check after erasing and by the purge.
    const ownIdentities = spec.provides.some((kind) => known.has(kind)) || (type === RequestType.DELETION && spec.provides.length > 0 && connector.resolve !== undefined && !spec.manual);
    const confirmsOwn = found !== null && ownIdentities && ensureResolve(spec.name, new Set());
    const deps = confirmsOwn ? [...found, taskKey(spec.name, TaskStep.RESOLVE)] : found;
    if (deps === null) {
      const missing = spec.needs.filter((k) => !known.has(k));
      // Before external ids had their own namespace, a need named after a system ("crm") was met by the
      // request's external id of that system; such a need now says how to write it.
      const unheardOf = missing.filter((k) => EXTERNAL_SYSTEM.test(k) && !(REQUEST_IDENTITY_KINDS as readonly string[]).includes(k) && registry.providersOf(k).length === 0);
      const hint = unheardOf.length ? ` (if ${unheardOf.join(", ")} is another system's id given in subject.externalIds, declare the need as external:${unheardOf[0]})` : "";
      add({
        connector: spec.name,
        step,
        status: TaskStatus.SKIPPED,
        note: `${spec.name} needs ${spec.needsAny ? "one of " : ""}${missing.join(", ")}, which the request does not carry and no connector provides${hint}`,
        dependsOn: [],
      });
      continue;
    }
    add({ connector: spec.name, step, status: TaskStatus.PENDING, note: null, dependsOn: deps });
  }

  if (step === TaskStep.ERASE) {
    // Reverse order: whoever used a provider's identities is erased before the provider.
    for (const t of tasks.values()) {
      if (t.step !== TaskStep.ERASE || t.status !== TaskStatus.PENDING) continue;
      for (const dep of t.dependsOn) {
        const provider = dep.slice(0, dep.lastIndexOf(":"));
        if (provider === t.connector) continue;
        const providerErase = tasks.get(taskKey(provider, TaskStep.ERASE));
        if (providerErase?.status === TaskStatus.PENDING) providerErase.dependsOn.push(taskKey(t.connector, TaskStep.ERASE));
      }
    }
    planSurveys(tasks, registry);
  }
  if (step === TaskStep.COLLECT) {
    // One EXPORT merges what every collect found; it waits for those that will run (skipped ones never finish later).
    const collects = [...tasks.values()].filter((t) => t.step === TaskStep.COLLECT && t.status === TaskStatus.PENDING);
    add({ connector: EXPORT_TASK_CONNECTOR, step: TaskStep.EXPORT, status: TaskStatus.PENDING, note: null, dependsOn: collects.map((t) => taskKey(t.connector, t.step)) });
  }
  return [...tasks.values()];
}

/** Adds a deletion's surveys: one COLLECT per erasing connector, before every ERASE. */
function planSurveys(tasks: Map<string, PlannedTask>, registry: ConnectorRegistry): void {
  const erases = [...tasks.values()].filter((t) => t.step === TaskStep.ERASE);
  const surveys: PlannedTask[] = [];
  for (const erase of erases) {
    if (erase.status !== TaskStatus.PENDING) continue;
    const spec = registry.get(erase.connector)!.spec;
    const identityDeps = erase.dependsOn.filter((d) => d.endsWith(`:${TaskStep.RESOLVE}`));
    surveys.push(
      spec.manual
        ? { connector: erase.connector, step: TaskStep.COLLECT, status: TaskStatus.SKIPPED, note: `${spec.name} is manual: the person erasing surveys it`, dependsOn: [] }
        : spec.supports.includes("access")
        ? { connector: erase.connector, step: TaskStep.COLLECT, status: TaskStatus.PENDING, note: null, dependsOn: identityDeps }
        : { connector: erase.connector, step: TaskStep.COLLECT, status: TaskStatus.SKIPPED, note: `${spec.name} cannot be surveyed (no access support): it is erased without a plan and without verification`, dependsOn: [] },
    );
  }
  for (const survey of surveys) tasks.set(taskKey(survey.connector, survey.step), survey);
  const pending = surveys.filter((s) => s.status === TaskStatus.PENDING).map((s) => taskKey(s.connector, s.step));
  for (const erase of erases) if (erase.status === TaskStatus.PENDING) erase.dependsOn.push(...pending);
}
