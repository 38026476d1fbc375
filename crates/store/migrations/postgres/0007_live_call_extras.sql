-- ferroswitch store, PostgreSQL, migration 7: what a click-to-call's
-- webhook needs besides the call itself (its own URL and the CRM's
-- ext_data, as given), kept with the live call so a call interrupted by a
-- crash is still pushed where, and with what, the CRM asked.
ALTER TABLE live_calls ADD COLUMN webhook_url TEXT;
ALTER TABLE live_calls ADD COLUMN ext_data TEXT;
