-- authstate schema version 2 for PostgreSQL: a session's sealed record is stored in two
-- parts, so that a compare-and-set update is one `UPDATE … RETURNING` that never reads
-- the session first.
--
-- `meta` holds the sealed part that never changes after create (subject, created,
-- absolute end, idle timeout); `data` then holds only the sealed application data,
-- bound to its version. A row whose `meta` is NULL was written by version 1 and keeps
-- the whole sealed record in `data`: it is read as before and rewritten in two parts by
-- its next update or rotate_id.

ALTER TABLE {{sessions}} ADD COLUMN IF NOT EXISTS meta BYTEA;
