-- A new garden entry has no address yet: index only the entries that have one, so a
-- new entry costs the primary key's index alone. `framed_ip = ?` implies NOT NULL, so
-- the portal's lookup still uses it.
DROP INDEX garden_entry_framed_ip;
CREATE INDEX garden_entry_framed_ip_set ON garden_entry (framed_ip, updated_at)
    WHERE framed_ip IS NOT NULL;
