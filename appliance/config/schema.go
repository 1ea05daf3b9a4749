package config

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Every bucket and key the store uses, in one place.
//
// Layout (schema version 4):
//
//	meta     schema_version -> the schema version as a decimal string ("4")
//	settings current        -> settings.Settings as JSON
//	admin    password_hash  -> bcrypt hash of the admin password; absent until it is set
//	history  8-byte big-endian sequence -> settings.CallRecord as JSON, at most MaxHistory of them
//	tls      cert           -> the admin page's certificate, PEM; absent until it is made
//	tls      key            -> its private key, PKCS #8 PEM: a secret, never logged or exported
//	recordings <file name>  -> settings.Recording as JSON, one per WAV file, at most MaxRecordings of them
//
// Version 1 had no admin bucket; version 2 had no history and no tls bucket; version 3 had
// no recordings bucket. A field added to settings.Settings needs no new version when its zero value
// keeps the old behaviour, as Settings.Metrics does, or Account.Codecs and Account.DTMF
// ("" = every codec, G.722 first, and DTMF auto): older files read as before. Nor does one
// whose zero value is the new default: Conference.LocalFallbackOff (false = local fallback
// on) turns local fallback on for the conferences of older files.
var (
	metaBucket       = []byte("meta")
	settingsBucket   = []byte("settings")
	adminBucket      = []byte("admin")
	historyBucket    = []byte("history")
	tlsBucket        = []byte("tls")
	recordingsBucket = []byte("recordings")

	schemaVersionKey = []byte("schema_version")
	settingsKey      = []byte("current")
	passwordHashKey  = []byte("password_hash")
	tlsCertKey       = []byte("cert")
	tlsKeyKey        = []byte("key")
)

// SchemaVersion is the layout this code reads and writes. Open migrates
// older files up to it and refuses newer ones.
const SchemaVersion = 4

// migrations[v] turns a version v file into a version v+1 file, inside
// the transaction Open runs. Version 0 is a new, empty file.
var migrations = []func(tx *bolt.Tx) error{
	0: func(tx *bolt.Tx) error { return createBucket(tx, settingsBucket) },
	1: func(tx *bolt.Tx) error { return createBucket(tx, adminBucket) },
	2: func(tx *bolt.Tx) error {
		if err := createBucket(tx, historyBucket); err != nil {
			return err
		}
		return createBucket(tx, tlsBucket)
	},
	3: func(tx *bolt.Tx) error { return createBucket(tx, recordingsBucket) },
}

func createBucket(tx *bolt.Tx, name []byte) error {
	if _, err := tx.CreateBucketIfNotExists(name); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}
