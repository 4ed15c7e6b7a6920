-- Node load (S5 item 1): where radcare reads a download node's status page (nginx
-- `stub_status`; NULL: bookings only), and the downloads it last saw running there.
ALTER TABLE plan_node ADD COLUMN status_url TEXT;
ALTER TABLE plan_node ADD COLUMN measured INTEGER NOT NULL DEFAULT 0;
