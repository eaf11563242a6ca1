import type { KeyObject } from "node:crypto";
import type { DataSource } from "typeorm";
import type { Config } from "../config/env";
import { auditTools } from "./tools";
import { TrailVerification, verifyTrail } from "./verifier";

/**
 * Verifies the trail of a service's database against its checkpoint storage, with the service's own
 * key, or with a published key given by an auditor (`publicKey`): what GraphQL and the CLI both run.
 */
export function verifyAuditTrail(services: { ds: DataSource; config: Config; clock: { now(): Date } }, options: { full?: boolean; publicKey?: KeyObject } = {}): Promise<TrailVerification> {
  const tools = auditTools(services);
  // With a published key given, the service's own key is neither needed nor (on an auditor's machine) generated: nothing is recorded.
  const signer = options.publicKey ? undefined : tools.key();
  return verifyTrail(services.ds, tools.store, options.publicKey ?? signer!.publicKey, { full: options.full ?? false, now: services.clock.now(), signer });
}
