CREATE TABLE "note_shares" (
	"note_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"can_edit" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "note_shares_pkey" PRIMARY KEY("note_id","user_id")
);
--> statement-breakpoint
ALTER TABLE "note_shares" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE TABLE "notes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"owner_id" uuid DEFAULT auth.uid() NOT NULL,
	"title" text NOT NULL,
	"body" text DEFAULT '' NOT NULL,
	"is_public" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "notes_title_length" CHECK (char_length("notes"."title") between 1 and 200),
	CONSTRAINT "notes_body_length" CHECK (char_length("notes"."body") <= 20000)
);
--> statement-breakpoint
ALTER TABLE "notes" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "note_shares" ADD CONSTRAINT "note_shares_note_id_notes_id_fk" FOREIGN KEY ("note_id") REFERENCES "public"."notes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "note_shares" ADD CONSTRAINT "note_shares_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "auth"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "notes" ADD CONSTRAINT "notes_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "auth"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "note_shares_user_note_idx" ON "note_shares" USING btree ("user_id","note_id");--> statement-breakpoint
CREATE INDEX "notes_owner_created_idx" ON "notes" USING btree ("owner_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "notes_created_idx" ON "notes" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE POLICY "note_shares_select" ON "note_shares" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("note_shares"."user_id" = (select auth.uid()) or app_private.owns_note("note_shares"."note_id"));--> statement-breakpoint
CREATE POLICY "note_shares_insert_owner" ON "note_shares" AS PERMISSIVE FOR INSERT TO "authenticated" WITH CHECK (app_private.owns_note("note_shares"."note_id"));--> statement-breakpoint
CREATE POLICY "note_shares_update_owner" ON "note_shares" AS PERMISSIVE FOR UPDATE TO "authenticated" USING (app_private.owns_note("note_shares"."note_id")) WITH CHECK (app_private.owns_note("note_shares"."note_id"));--> statement-breakpoint
CREATE POLICY "note_shares_delete_owner" ON "note_shares" AS PERMISSIVE FOR DELETE TO "authenticated" USING (app_private.owns_note("note_shares"."note_id"));--> statement-breakpoint
CREATE POLICY "notes_select_public" ON "notes" AS PERMISSIVE FOR SELECT TO "anon" USING ("notes"."is_public");--> statement-breakpoint
CREATE POLICY "notes_select_visible" ON "notes" AS PERMISSIVE FOR SELECT TO "authenticated" USING ("notes"."is_public" or "notes"."owner_id" = (select auth.uid()) or exists (
        select 1 from "note_shares"
        where "note_shares"."note_id" = "notes"."id" and "note_shares"."user_id" = (select auth.uid())));--> statement-breakpoint
CREATE POLICY "notes_insert_own" ON "notes" AS PERMISSIVE FOR INSERT TO "authenticated" WITH CHECK ("notes"."owner_id" = (select auth.uid()));--> statement-breakpoint
CREATE POLICY "notes_update_owner_or_editor" ON "notes" AS PERMISSIVE FOR UPDATE TO "authenticated" USING ("notes"."owner_id" = (select auth.uid()) or exists (
        select 1 from "note_shares"
        where "note_shares"."note_id" = "notes"."id" and "note_shares"."user_id" = (select auth.uid()) and "note_shares"."can_edit")) WITH CHECK ("notes"."owner_id" = (select auth.uid()) or exists (
        select 1 from "note_shares"
        where "note_shares"."note_id" = "notes"."id" and "note_shares"."user_id" = (select auth.uid()) and "note_shares"."can_edit"));--> statement-breakpoint
CREATE POLICY "notes_delete_owner" ON "notes" AS PERMISSIVE FOR DELETE TO "authenticated" USING ("notes"."owner_id" = (select auth.uid()));