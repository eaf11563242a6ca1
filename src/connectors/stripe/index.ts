/** The payment-processor connector on the Stripe API. See createStripeConnector. */
import type { StripeConnectorOptions } from "./options";
import { createStripeConnector, StripeConnector } from "./stripeConnector";

export { toConnectorError as stripeErrorToConnectorError } from "./errors";
export { writeKey } from "./erasure";
export { resolveStripeOptions } from "./options";
export type { StripeConnectorOptions } from "./options";
export { createStripeConnector } from "./stripeConnector";
export type { StripeConnector } from "./stripeConnector";

/** The connectors file's `module` entry point: `{ "type": "module", "module": ".../connectors/stripe", ... }`. */
export const createConnector = (options: Record<string, unknown>): StripeConnector => createStripeConnector(options as unknown as StripeConnectorOptions);
