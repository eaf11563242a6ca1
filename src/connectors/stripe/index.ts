/** The payment-processor connector on the Stripe API. See docs/connectors.md and createStripeConnector. */
export { toConnectorError as stripeErrorToConnectorError } from "./errors";
export { writeKey } from "./erasure";
export { resolveStripeOptions } from "./options";
export type { StripeConnectorOptions } from "./options";
export { createStripeConnector } from "./stripeConnector";
export type { StripeConnector } from "./stripeConnector";

import { createStripeConnector as create } from "./stripeConnector";
import type { StripeConnectorOptions as Options } from "./options";
/** The connectors file's `module` entry point: `{ "type": "module", "module": ".../connectors/stripe", ... }`. */
export const createConnector = (options: Record<string, unknown>) => create(options as unknown as Options);
