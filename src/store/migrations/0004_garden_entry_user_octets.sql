-- User-Name's octets in hex: a name need not be UTF-8 (GBK is common), and a
-- Disconnect-Request must carry it exactly. user_name keeps a readable copy.
ALTER TABLE garden_entry ADD COLUMN user_octets TEXT;
