-- authstate schema version 2 for SQLite.
--
-- Sessions: the sealed record is stored in two parts, so that a compare-and-set update
-- is one `UPDATE … RETURNING` that never reads the session first. `meta` holds the
-- sealed part that never changes after create (subject, created, absolute end, idle
-- timeout); `data` then holds only the sealed application data, bound to its version.
-- A row whose `meta` is NULL was written by version 1 and keeps the whole sealed record
-- in `data`: it is read as before and rewritten in two parts by its next update or
-- rotate_id. (SQLite has no ADD COLUMN IF NOT EXISTS: the migration runner treats a
-- "duplicate column" answer to this statement as already applied.)
--
-- Artifacts: a take is one `UPDATE … SET taken_at = now … RETURNING data`. RETURNING
-- reports the row as that statement left it, before AFTER triggers run, so it returns
-- the payload; this trigger then drops the payload from the row in the same statement
-- (and the same transaction). A taken artifact is its `taken_at` and an empty `data`.

ALTER TABLE {{sessions}} ADD COLUMN meta BLOB;

CREATE TRIGGER IF NOT EXISTS "{{idx}}artifacts_drop_taken_payload" AFTER UPDATE OF taken_at ON {{artifacts}} FOR EACH ROW WHEN OLD.taken_at IS NULL AND NEW.taken_at IS NOT NULL BEGIN UPDATE {{artifacts}} SET data = X'' WHERE k = NEW.k; END;
