-- Where the writer checks, while the disk is full, whether space has come back: it stores a
-- blob here and deletes it in the same commit (storage.database.SQLiteDatabase.probe).
CREATE TABLE storage_probe (
    id    INTEGER PRIMARY KEY,
    data  BLOB NOT NULL
);
