-- ferroswitch store, PostgreSQL, migration 13: the file a live call is being
-- recorded into (a name under data_dir/recordings). A node restarting
-- after a crash finishes the file the call left (its header made to name
-- all the audio written) and links it from the interrupted CDR.
ALTER TABLE live_calls ADD COLUMN recording TEXT;
