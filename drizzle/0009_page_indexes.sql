DROP INDEX "profiles_created_at_id_idx";--> statement-breakpoint
CREATE INDEX "users_created_at_id_idx" ON "auth"."users" USING btree ("created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "profiles_created_at_id_idx" ON "profiles" USING btree ("created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);