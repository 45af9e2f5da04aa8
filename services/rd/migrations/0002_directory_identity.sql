-- The directory's identity: one UUID made when this database got the RD's schema. It is listed
-- in the device snapshot (GET /coapgw/devices, "directory"), so that a consumer which remembers
-- the devices it saw (the ws-connector's wsc_platform_devices) can tell "these devices were
-- deleted" from "this is another (empty, fresh, restored) database" and not act on the latter.
-- A restore of a backup keeps the id (pg_dump carries the row); a fresh database gets a new one.

CREATE TABLE rd_directory (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  id         uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO rd_directory (id) VALUES (gen_random_uuid());
