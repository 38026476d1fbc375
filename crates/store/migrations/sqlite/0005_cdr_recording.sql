-- ferroswitch store, SQLite, migration 5: the call's recording (file name
-- under data_dir/recordings), when it was recorded.
ALTER TABLE cdrs ADD COLUMN recording TEXT;
