DROP INDEX "auth"."identities_provider_id_key";--> statement-breakpoint
ALTER TABLE "auth"."signing_keys" ALTER COLUMN "private_jwk" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "auth"."identities" ADD COLUMN "issuer" text;--> statement-breakpoint
-- Providers' identities carry the verified iss in identity_data; the password's is "email".
UPDATE "auth"."identities" SET "issuer" = coalesce("identity_data"->>'iss', "provider");--> statement-breakpoint
ALTER TABLE "auth"."identities" ALTER COLUMN "issuer" SET NOT NULL;--> statement-breakpoint
-- Two provider names on one issuer (two clients of one provider) could give one subject two
-- identities. The oldest keeps the key; the others are set apart, so the subject's sign-ins
-- reach one account only.
UPDATE "auth"."identities" i SET "issuer" = i."issuer" || ' [duplicate ' || i."id" || ']'
WHERE EXISTS (SELECT 1 FROM "auth"."identities" o
              WHERE o."issuer" = i."issuer" AND o."provider_id" = i."provider_id"
                AND (o."created_at", o."id") < (i."created_at", i."id"));--> statement-breakpoint
ALTER TABLE "auth"."refresh_tokens" ADD COLUMN "aal" text DEFAULT 'aal1' NOT NULL;--> statement-breakpoint
UPDATE "auth"."refresh_tokens" rt SET "aal" = s."aal" FROM "auth"."sessions" s WHERE s."id" = rt."session_id" AND rt."spent_at" IS NULL;--> statement-breakpoint
ALTER TABLE "auth"."signing_keys" ADD COLUMN "sealed_private_jwk" text;--> statement-breakpoint
ALTER TABLE "auth"."users" ADD COLUMN "pending_email" text;--> statement-breakpoint
ALTER TABLE "auth"."users" ADD COLUMN "pending_email_proven" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "auth"."users" ADD COLUMN "pending_email_approved" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "identities_issuer_subject_key" ON "auth"."identities" USING btree ("issuer","provider_id");--> statement-breakpoint
CREATE INDEX "users_pending_email_idx" ON "auth"."users" USING btree ("pending_email");--> statement-breakpoint
ALTER TABLE "auth"."users" ADD CONSTRAINT "users_pending_email_lower" CHECK ("auth"."users"."pending_email" = lower(btrim("auth"."users"."pending_email")));