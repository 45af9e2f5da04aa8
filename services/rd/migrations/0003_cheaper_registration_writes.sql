-- Cheaper registration writes; every constraint stays.
--
-- rd_registrations_expires_at served no query: the RD expires registrations from memory (it
-- reads every row at start, expired ones included). Each registration paid for one more index
-- entry, and since expires_at changes with every update, the index kept updates (re-registration,
-- registration update, status change) from being HOT (heap-only: no index entry written).
DROP INDEX rd_registrations_expires_at;

-- Room in each page for the new version of an updated row, so that the update stays HOT. It
-- applies to pages filled from now on.
ALTER TABLE rd_registrations SET (fillfactor = 90);
