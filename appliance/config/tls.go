package config

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// TLSCertificate returns the admin page's certificate and its private key,
// both PEM encoded. The first time, it calls generate to make them and
// stores what it returns; after that it returns the stored pair, so the
// certificate's fingerprint stays the same across restarts. The key is a
// secret: it is never logged, shown or exported.
func (s *Store) TLSCertificate(generate func() (certPEM, keyPEM []byte, err error)) (certPEM, keyPEM []byte, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(tlsBucket)
		// Copies: the values are invalid once the transaction ends.
		certPEM, keyPEM = bytes.Clone(bk.Get(tlsCertKey)), bytes.Clone(bk.Get(tlsKeyKey))
		if certPEM != nil && keyPEM != nil {
			return nil
		}
		// Generating a P-256 key takes well under a millisecond: it can
		// run while the file is locked.
		c, k, err := generate()
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if len(c) == 0 || len(k) == 0 {
			return errors.New("generate: empty certificate or key")
		}
		if err := bk.Put(tlsCertKey, c); err != nil {
			return err
		}
		if err := bk.Put(tlsKeyKey, k); err != nil {
			return err
		}
		certPEM, keyPEM = c, k
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("admin page certificate: %w", err)
	}
	return certPEM, keyPEM, nil
}

// StoredTLSCertificate returns the certificate and key TLSCertificate keeps, PEM encoded,
// or nil and nil while none was made.
func (s *Store) StoredTLSCertificate() (certPEM, keyPEM []byte, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(tlsBucket)
		certPEM, keyPEM = bytes.Clone(bk.Get(tlsCertKey)), bytes.Clone(bk.Get(tlsKeyKey))
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read the certificate: %w", err)
	}
	if certPEM == nil || keyPEM == nil {
		return nil, nil, nil
	}
	return certPEM, keyPEM, nil
}
