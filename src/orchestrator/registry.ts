import { Connector, ConnectorSpec, IdentityKind, specProblems } from "../connectors/sdk";

export class ConnectorRegistryError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid connectors:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/**
 * Processing locations given beside a connector rather than in its spec (the connectors file's
 * `processingLocation`, the sample workspace's): they win over the spec's.
 */
const givenLocations = new WeakMap<Connector, string>();

/** Records where `connector`'s system processes data (an ISO 3166-1 alpha-2 code); returns it. */
export function withProcessingLocation<C extends Connector>(connector: C, location: string): C {
  givenLocations.set(connector, location);
  return connector;
}

/** Where the connector's system processes data: given beside it, or its spec's; undefined when not recorded. */
export function processingLocationOf(connector: Connector): string | undefined {
  return givenLocations.get(connector) ?? connector.spec.processingLocation;
}

/** Where a connector's system processes the data (null: not recorded), and whether that is outside `primary`. */
export function locationOf(connector: Connector, primary: string): { processingLocation: string | null; outsidePrimaryLocation: boolean } {
  const processingLocation = processingLocationOf(connector) ?? null;
  return { processingLocation, outsidePrimaryLocation: processingLocation !== primary };
}

/** The connectors of this installation, validated together: unique names, sound specs, no identity cycles. */
export class ConnectorRegistry {
  private readonly byName = new Map<string, Connector>();

  /**
   * `release`: what close() runs, when the registry owns its connectors (built from the connectors file
   * or the sample workspace); connectors handed in by an embedding program stay the caller's to close.
   */
  constructor(
    connectors: readonly Connector[],
    private release?: () => Promise<void>,
  ) {
    const problems: string[] = [];
    for (const c of connectors) {
      problems.push(...specProblems(c.spec));
      if (this.byName.has(c.spec.name)) problems.push(`two connectors are named ${c.spec.name}`);
      if (c.spec.provides.length && !c.resolve && !c.spec.manual) problems.push(`${c.spec.name}: provides identities but has no resolve()`);
      if (c.spec.supports.includes("erasure") && !c.erase && !c.spec.manual) problems.push(`${c.spec.name}: supports erasure but has no erase()`);
      if (c.spec.supports.includes("rectification") && !c.rectify && !c.spec.manual) problems.push(`${c.spec.name}: supports rectification but has no rectify()`);
      this.byName.set(c.spec.name, c);
    }
    problems.push(...this.cycles());
    if (problems.length) throw new ConnectorRegistryError(problems);
  }

  /** Releases the connectors it owns (once); one that fails to close does not keep the others open. */
  async close(): Promise<void> {
    const release = this.release;
    this.release = undefined;
    await release?.();
  }

  get size(): number {
    return this.byName.size;
  }

  list(): Connector[] {
    return [...this.byName.values()];
  }

  get(name: string): Connector | undefined {
    return this.byName.get(name);
  }

  /** Connectors that can discover `kind` (automated ones with resolve). */
  providersOf(kind: IdentityKind, except?: string): Connector[] {
    return this.list().filter((c) => c.spec.name !== except && c.spec.provides.includes(kind) && c.resolve && !c.spec.manual);
  }

  /** A provider that (transitively) needs what it provides would wait for itself for ever. */
  private cycles(): string[] {
    const problems: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const visit = (spec: ConnectorSpec, path: string[]): void => {
      if (state.get(spec.name) === "done") return;
      if (state.get(spec.name) === "visiting") {
        problems.push(`identity cycle: ${[...path, spec.name].join(" -> ")}`);
        return;
      }
      state.set(spec.name, "visiting");
      for (const kind of spec.needs) for (const p of this.providersOf(kind, spec.name)) visit(p.spec, [...path, spec.name]);
      state.set(spec.name, "done");
    };
    for (const c of this.byName.values()) visit(c.spec, []);
    return problems;
  }
}
