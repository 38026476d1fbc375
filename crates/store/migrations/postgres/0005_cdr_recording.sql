-- ferroswitch store, PostgreSQL, migration 5: the call's recording.
ALTER TABLE cdrs ADD COLUMN recording TEXT;
