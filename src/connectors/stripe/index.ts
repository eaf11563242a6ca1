/** The payment-processor connector on the Stripe API. See docs/connectors.md and createStripeConnector. */
export { toConnectorError as stripeErrorToConnectorError } from "./errors";
export { writeKey } from "./erasure";
export { resolveStripeOptions } from "./options";
export type { StripeConnectorOptions } from "./options";
export { createStripeConnector } from "./stripeConnector";
export type { StripeConnector } from "./stripeConnector";
