-- A custom migration (`drizzle-kit generate --custom --name=owns_note`), before the tables:
-- the note_shares policies of 0001 call this function, and a policy can only name a
-- function that exists. See src/schema.ts for why they call it (two tables whose policies
-- read each other recurse forever).
--
-- SECURITY DEFINER: it runs as its owner, the role that applied the migrations. authgate
-- migrates as a superuser (its own migrations create roles), and a superuser is never
-- subject to row level security, even with FORCE ROW LEVEL SECURITY: so the function reads
-- notes without notes' policies, and the recursion stops here. STABLE: the planner may call
-- it once per row of a scan, never with side effects. search_path = '': every name in it
-- is schema-qualified, so a caller's search_path cannot swap in another `notes`.
-- plpgsql, not sql: its body is checked when it first runs, after 0001 made the table.
-- It answers one question, for the caller only: "is this note mine?".
CREATE SCHEMA IF NOT EXISTS app_private;
--> statement-breakpoint
REVOKE ALL ON SCHEMA app_private FROM PUBLIC;
--> statement-breakpoint
CREATE FUNCTION app_private.owns_note(p_note_id uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN EXISTS (
    SELECT 1 FROM public.notes n WHERE n.id = p_note_id AND n.owner_id = (SELECT auth.uid())
  );
END
$$;
--> statement-breakpoint
-- Functions are executable by PUBLIC by default; this one by the role whose policies call it.
REVOKE ALL ON FUNCTION app_private.owns_note(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT USAGE ON SCHEMA app_private TO authenticated;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION app_private.owns_note(uuid) TO authenticated;
