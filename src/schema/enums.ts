import { registerEnumType } from "type-graphql";
import { RequestSource, RequestStatus, RequestType, Role, VerificationMethod } from "../domain/enums";

registerEnumType(RequestType, {
  name: "RequestType",
  description: "The right a data subject exercises.",
  valuesConfig: {
    ACCESS: { description: "A complete copy of the subject's personal data (30 days)." },
    PORTABILITY: { description: "The same copy in a structured, machine-readable format (30 days)." },
    DELETION: { description: "Erasure of the subject's personal data, except what a retention rule or legal hold keeps (30 days)." },
    CORRECTION: { description: "Changes to data the subject cannot edit themselves (15 business days)." },
  },
});

registerEnumType(RequestStatus, {
  name: "RequestStatus",
  description: "Where a request is in its lifecycle. It only moves forward or to a terminal status.",
  valuesConfig: {
    PENDING_VERIFICATION: { description: "Waiting for the subject to prove their identity with the one-time code." },
    PENDING_APPROVAL: { description: "Identity verified; waiting for a privacy officer to approve or reject." },
    IN_PROGRESS: { description: "Approved; connectors are working on it." },
    AWAITING_INPUT: { description: "Waiting for a person (a manual connector step)." },
    COMPLETED: { description: "Done (terminal)." },
    FAILED: { description: "Could not be completed; see its tasks (terminal)." },
    REJECTED: { description: "Refused by the privacy team, with a reason; or closed by the system, saying why, when the identity was not verified by the due date or no one decided a verified request within DSR_UNDECIDED_GRACE_DAYS after it (terminal)." },
    CANCELLED: { description: "Withdrawn before work started (terminal)." },
  },
});

registerEnumType(RequestSource, {
  name: "RequestSource",
  description: "Where a request came from.",
  valuesConfig: {
    ADMIN: { description: "Entered by the privacy team in an admin console." },
    SETTINGS: { description: "Triggered by the subject from the account settings page." },
    API: { description: "Submitted by an automated caller (SERVICE token)." },
  },
});

registerEnumType(Role, {
  name: "Role",
  description: "What a bearer token may do.",
  valuesConfig: {
    ADMIN: { description: "Everything." },
    PRIVACY_OFFICER: { description: "Handle requests: submit, verify, approve, reject, extend; read the audit trail." },
    AUDITOR: { description: "Read requests (without the subject's personal data) and the audit trail." },
    SERVICE: { description: "Automated callers: submit, verify and cancel requests, read one request." },
  },
});

registerEnumType(VerificationMethod, {
  name: "VerificationMethod",
  description: "How the subject's identity was verified.",
  valuesConfig: {
    CODE: { description: "The subject entered the one-time code sent to their email." },
    TRUSTED_CALLER: { description: "The submitting caller vouched for the identity (see evidence)." },
    SESSION: { description: "The subject's own authenticated session on the account settings page (requestAccountDeletion)." },
  },
});
