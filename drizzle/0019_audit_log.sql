CREATE TABLE "auth"."audit_log" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"actor_kind" text NOT NULL,
	"actor_id" uuid,
	"user_id" uuid,
	"event" text NOT NULL,
	"ip" text,
	"user_agent" text,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	CONSTRAINT "audit_log_actor_kind" CHECK ("auth"."audit_log"."actor_kind" in ('user', 'service_role', 'system', 'anonymous')),
	CONSTRAINT "audit_log_event_format" CHECK ("auth"."audit_log"."event" ~ '^[a-z_]+\.[a-z_]+$')
);
--> statement-breakpoint
CREATE INDEX "audit_log_user_id_created_at_id_idx" ON "auth"."audit_log" USING btree ("user_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);
--> statement-breakpoint
CREATE INDEX "audit_log_created_at_id_idx" ON "auth"."audit_log" USING btree ("created_at","id");
--> statement-breakpoint
-- Forced, so even the owner goes through the policy; only the auth path's role has one.
-- The request path's roles (anon, authenticated) get no grant at all: a user reads their
-- own events through the gateway (me.securityEvents), never the table.
ALTER TABLE "auth"."audit_log" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "auth"."audit_log" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
REVOKE ALL ON "auth"."audit_log" FROM PUBLIC;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON "auth"."audit_log" TO authgate_auth;
--> statement-breakpoint
CREATE POLICY "audit_log_all_by_auth" ON "auth"."audit_log" AS PERMISSIVE FOR ALL TO authgate_auth USING (true) WITH CHECK (true);
--> statement-breakpoint
COMMENT ON TABLE "auth"."audit_log" IS 'One row per auth event, written in the transaction of the change; never a secret, token, password or hash.';
