-- The portal looks a subscriber up by address, newest first.
CREATE INDEX garden_entry_framed_ip ON garden_entry (framed_ip, updated_at);
