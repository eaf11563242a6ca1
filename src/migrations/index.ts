import { ServiceCore1764000000000 } from "./1764000000000-ServiceCore";
import { Orchestrator1764100000000 } from "./1764100000000-Orchestrator";
import { Retention1764200000000 } from "./1764200000000-Retention";
import { Exports1764300000000 } from "./1764300000000-Exports";
import { SettingsTrigger1764400000000 } from "./1764400000000-SettingsTrigger";
import { SubjectIdentities1764500000000 } from "./1764500000000-SubjectIdentities";
import { HoldFence1764600000000 } from "./1764600000000-HoldFence";
import { Counting1764700000000 } from "./1764700000000-Counting";
import { EncryptedStaging1764800000000 } from "./1764800000000-EncryptedStaging";
import { ClaimOrder1764900000000 } from "./1764900000000-ClaimOrder";
import { AuditStreams1765000000000 } from "./1765000000000-AuditStreams";
import { ErasureProgress1765100000000 } from "./1765100000000-ErasureProgress";
import { DuplicateIndex1765200000000 } from "./1765200000000-DuplicateIndex";
import { EmailDomainForm1765300000000 } from "./1765300000000-EmailDomainForm";
import { WakeEndpoints1765400000000 } from "./1765400000000-WakeEndpoints";
import { BreachRosters1765500000000 } from "./1765500000000-BreachRosters";
import { RequestRecordRetention1765600000000 } from "./1765600000000-RequestRecordRetention";
import { IdempotencyKeyBytewise1765700000000 } from "./1765700000000-IdempotencyKeyBytewise";
import { PlannedResidue1765800000000 } from "./1765800000000-PlannedResidue";
import { RedactionWaves1765900000000 } from "./1765900000000-RedactionWaves";
import { SignedVerification1766000000000 } from "./1766000000000-SignedVerification";
import { KeptUndatedIds1767800000000 } from "./1767800000000-KeptUndatedIds";
import { EncryptedSurveyedIds1768300000000 } from "./1768300000000-EncryptedSurveyedIds";
import { ClearedRecordsFreeText1769400000000 } from "./1769400000000-ClearedRecordsFreeText";

/** Every migration, oldest first. The schema changes only through these (synchronize stays off). */
export const MIGRATIONS = [ServiceCore1764000000000, Orchestrator1764100000000, Retention1764200000000, Exports1764300000000, SettingsTrigger1764400000000, SubjectIdentities1764500000000, HoldFence1764600000000, Counting1764700000000, EncryptedStaging1764800000000, ClaimOrder1764900000000, AuditStreams1765000000000, ErasureProgress1765100000000, DuplicateIndex1765200000000, EmailDomainForm1765300000000, WakeEndpoints1765400000000, BreachRosters1765500000000, RequestRecordRetention1765600000000, IdempotencyKeyBytewise1765700000000, PlannedResidue1765800000000, RedactionWaves1765900000000, SignedVerification1766000000000, KeptUndatedIds1767800000000, EncryptedSurveyedIds1768300000000, ClearedRecordsFreeText1769400000000];
