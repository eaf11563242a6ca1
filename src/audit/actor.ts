import { Role } from "../domain/enums";

/** Who is acting: an API token holder, the operator CLI, or the service itself. */
export interface Actor {
  /** `token:<id>`, `cli`, or `system`. */
  id: string;
  role: Role | "CLI" | "SYSTEM";
}

export const SYSTEM_ACTOR: Actor = { id: "system", role: "SYSTEM" };
export const CLI_ACTOR: Actor = { id: "cli", role: "CLI" };

export function tokenActor(tokenId: string, role: Role): Actor {
  return { id: `token:${tokenId}`, role };
}
