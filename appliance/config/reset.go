package config

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

// FactoryReset replaces the settings with those of a first start on a board of handsets
// handsets (as EnsureDefaults writes them into an empty file) and forgets the call
// history. The admin password, the admin page's certificate and the recordings stay:
// ClearAdminPassword clears the password too.
func (s *Store) FactoryReset(handsets int) error {
	set, err := firstStart(handsets)
	if err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err = s.commit(func(stored *settings.Settings, _ bool) (bool, error) {
		*stored = set
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(historyBucket)
		c := bk.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("factory reset: forget the call history: %w", err)
	}
	return nil
}
