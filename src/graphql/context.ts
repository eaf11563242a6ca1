import { Actor } from "../audit/actor";
import { Role } from "../domain/enums";
import type { Logger } from "../logger";
import type { Services } from "../services";

/** The authenticated caller of one GraphQL operation. */
export interface Caller {
  tokenId: string;
  name: string;
  role: Role;
}

export interface GraphQLContext {
  services: Services;
  caller: Caller;
  actor: Actor;
  /** Scoped to this operation (correlation id). */
  logger: Logger;
  /** scheme://host the caller reached this service at (links fall back to it without DSR_PUBLIC_URL). */
  origin?: string;
}
