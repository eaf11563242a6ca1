import { Args, Authorized, Ctx, Query, Resolver } from "type-graphql";
import { ANY_ROLE } from "../auth/roles";
import { assertRequestVisible, requestIdsVisibleTo } from "../auth/requestAccess";
import { resolveCertificateKey } from "../certificates/signing";
import { seesLegalHolds } from "../presenters/holdPrivacy";
import { issueDeletionCertificate } from "../commands/certificateIssuer";
import type { GraphQLContext } from "../graphql/context";
import { CertificateArgs, CertificatePublicKey, DeletionCertificate } from "../schema/certificate.type";

@Resolver()
export class CertificateResolver {
  @Authorized(ANY_ROLE)
  @Query(() => DeletionCertificate, {
    description: "The signed receipt of a COMPLETED deletion: erased per connector, kept until when and why. CONFLICT for any other request. All roles (it holds no personal data); a SERVICE token only for requests it submitted (NOT_FOUND for others), and the certificate it gets names no other token's request (answeredWith null, keptByEarlier.requests without them) and no legal hold: a set a hold keeps is kept for legal reasons (legalBasis `kept for legal reasons`, holdId and extendedByHoldId null; a rule's set a hold extends has retainUntil null), notes name no hold; the counts stand, and its signed file says the same and verifies.",
  })
  async deletionCertificate(@Args() { requestId }: CertificateArgs, @Ctx() ctx: GraphQLContext): Promise<DeletionCertificate> {
    await assertRequestVisible(ctx.services, ctx.caller, requestId);
    const { body, signed, keyId } = await issueDeletionCertificate(ctx.services, requestId, (ids) => requestIdsVisibleTo(ctx.services, ctx.caller, ids), seesLegalHolds(ctx.caller));
    return { ...body, notSearched: body.notSearched ?? [], keyId, signed };
  }

  @Authorized(ANY_ROLE)
  @Query(() => CertificatePublicKey, { description: "The public key that verifies deletion certificates. All roles." })
  certificatePublicKey(@Ctx() ctx: GraphQLContext): CertificatePublicKey {
    const key = resolveCertificateKey(ctx.services.config);
    return { algorithm: "Ed25519", keyId: key.keyId, pem: key.publicKeyPem };
  }
}
