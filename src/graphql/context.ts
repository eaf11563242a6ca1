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

/** Where the links the service hands out point: DSR_PUBLIC_URL, else the origin the caller reached it at, else loopback. */
export const linkBase = (ctx: GraphQLContext): string => ctx.services.config.DSR_PUBLIC_URL ?? ctx.origin ?? `http://127.0.0.1:${ctx.services.config.PORT}`;
