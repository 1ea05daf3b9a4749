package config

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Every bucket and key the store uses, in one place.
//
// Layout (schema version 2):
//
//	meta     schema_version -> the schema version as a decimal string ("2")
//	settings current        -> Settings as JSON
//	admin    password_hash  -> bcrypt hash of the admin password; absent until it is set
//
// Version 1 had no admin bucket.
var (
	metaBucket     = []byte("meta")
	settingsBucket = []byte("settings")
	adminBucket    = []byte("admin")

	schemaVersionKey = []byte("schema_version")
	settingsKey      = []byte("current")
	passwordHashKey  = []byte("password_hash")
)

// SchemaVersion is the layout this code reads and writes. Open migrates
// older files up to it and refuses newer ones.
const SchemaVersion = 2

// migrations[v] turns a version v file into a version v+1 file, inside
// the transaction Open runs. Version 0 is a new, empty file.
var migrations = []func(tx *bolt.Tx) error{
	0: func(tx *bolt.Tx) error { return createBucket(tx, settingsBucket) },
	1: func(tx *bolt.Tx) error { return createBucket(tx, adminBucket) },
}

func createBucket(tx *bolt.Tx, name []byte) error {
	if _, err := tx.CreateBucketIfNotExists(name); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}
