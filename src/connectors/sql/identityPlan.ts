import type { IdentityKind } from "../sdk";
import type { SqlConnectorConfig, SqlProvidedIdentity, SqlTableConfig } from "./config";

/**
 * How the connector finds the subject across its tables. A table found by an identity this database
 * provides itself (sessions by userId, where users.id is provided) does not make the connector need that
 * identity: the connector derives it from the providing table first. So the spec's `needs` are the
 * identity kinds of the tables that nothing here provides, and the registry's rule "never both need and
 * provide a kind" holds.
 */
export interface IdentityPlan {
  /** Identity kinds the orchestrator must supply (any one of them is enough). */
  needs: IdentityKind[];
  /** Identity kinds resolve() can return. */
  provides: IdentityKind[];
  /** Provided identities in the order they can be derived (each one's table is found by an earlier kind). */
  derivations: SqlProvidedIdentity[];
  /** Tables in erasure order: the tables that identities are derived from come last, latest source first. */
  eraseOrder: SqlTableConfig[];
  /** Provided identities that can never be derived (a cycle); empty for a usable configuration. */
  problems: string[];
}

/** Plans identity derivation and erasure order for a configuration that passed configProblems(). */
export function planIdentities(config: SqlConnectorConfig): IdentityPlan {
  const provides = config.provides ?? [];
  const providedKinds = new Set(provides.map((p) => p.kind));
  const byTable = new Map(config.tables.map((t) => [t.table, t]));
  const needs = [...new Set(config.tables.map((t) => t.identityKind).filter((k) => !providedKinds.has(k)))];

  const known = new Set<string>(needs);
  const derivations: SqlProvidedIdentity[] = [];
  let pending = [...provides];
  for (let progressed = true; progressed && pending.length; ) {
    const ready = pending.filter((p) => known.has(byTable.get(p.table)!.identityKind));
    progressed = ready.length > 0;
    for (const p of ready) known.add(p.kind);
    derivations.push(...ready);
    pending = pending.filter((p) => !ready.includes(p));
  }
  const problems = pending.map((p) => `provides ${p.kind}: table ${p.table} is found by ${byTable.get(p.table)!.identityKind}, which nothing supplies (identity cycle)`);
  if (needs.length === 0) problems.push("every table is found by an identity this database provides itself: at least one table must be found by an identity the request carries (e.g. email)");

  // A source table is erased after the tables found through the identities it provides; with a chain
  // (users -> accounts -> invoices) the latest derived source goes first, the first source last.
  const sources: SqlTableConfig[] = [];
  for (const d of [...derivations].reverse()) {
    const table = byTable.get(d.table)!;
    if (!sources.includes(table)) sources.push(table);
  }
  const eraseOrder = [...config.tables.filter((t) => !sources.includes(t)), ...sources];
  return { needs, provides: provides.map((p) => p.kind), derivations, eraseOrder, problems };
}
