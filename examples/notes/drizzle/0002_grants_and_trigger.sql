-- A custom migration (`drizzle-kit generate --custom --name=grants_and_trigger`): what
-- drizzle-kit does not emit for the tables of 0001.

-- Policies bind the table's owner too (`npx authgate doctor` warns otherwise). The owner
-- here is the migrating superuser, who bypasses RLS anyway; an owner that is a plain role
-- (a deploy role, say) would not.
ALTER TABLE "notes" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE "note_shares" FORCE ROW LEVEL SECURITY;
--> statement-breakpoint

-- Who may reach the tables at all; the policies then decide which rows. anon reads notes
-- (the public ones, by policy) and nothing of note_shares.
GRANT SELECT ON "notes" TO anon;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON "notes" TO authenticated;
--> statement-breakpoint
-- Column-level: an update may set these three and nothing else, so neither an editor nor
-- the owner can move a note to another owner (`SET owner_id` is "permission denied").
GRANT UPDATE ("title", "body", "is_public") ON "notes" TO authenticated;
--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON "note_shares" TO authenticated;
--> statement-breakpoint
GRANT UPDATE ("can_edit") ON "note_shares" TO authenticated;
--> statement-breakpoint

-- Before every update of a note: only its owner publishes or unpublishes it (an editor
-- changes title and body), and updated_at is now. With no signed-in user (a service-role
-- request, an operator's SQL) the owner check does not apply.
CREATE FUNCTION app_private.notes_before_update() RETURNS trigger
  LANGUAGE plpgsql SET search_path = ''
AS $$
BEGIN
  IF NEW.is_public IS DISTINCT FROM OLD.is_public
     AND (SELECT auth.uid()) IS NOT NULL
     AND (SELECT auth.uid()) IS DISTINCT FROM OLD.owner_id THEN
    RAISE EXCEPTION 'only the owner of a note may change is_public'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION app_private.notes_before_update() FROM PUBLIC;
--> statement-breakpoint
CREATE TRIGGER notes_before_update BEFORE UPDATE ON "notes"
  FOR EACH ROW EXECUTE FUNCTION app_private.notes_before_update();
