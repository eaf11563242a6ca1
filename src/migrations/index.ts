import { ServiceCore1764000000000 } from "./1764000000000-ServiceCore";

/** Every migration, oldest first. The schema changes only through these (synchronize stays off). */
export const MIGRATIONS = [ServiceCore1764000000000];
