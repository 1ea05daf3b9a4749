package config

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MaxHistory is how many calls the history keeps: AppendHistory drops the
// oldest beyond it.
const MaxHistory = 200

// How a call ended, the values of HistoryRecord.End.
const (
	EndLocal     = "local"     // we hung up: the handset was put down, or Leave was pressed
	EndRemote    = "remote"    // the far end hung up
	EndFailed    = "failed"    // the join was refused (Status says how) or the call broke
	EndCancelled = "cancelled" // we gave up a join before it was answered
)

// A HistoryRecord is one call that has ended, answered or not.
type HistoryRecord struct {
	Handset    string    `json:"handset"`    // the handset's name
	Identity   string    `json:"identity"`   // who it called as, e.g. `"Kitchen" <sip:alice@example.org>`
	Conference string    `json:"conference"` // the conference URI
	Start      time.Time `json:"start"`      // when the call was answered; for a call never answered, when it ended
	// Duration is how long the call lasted from its answer; 0 for a call never answered.
	Duration time.Duration `json:"duration"`
	End      string        `json:"end"`              // EndLocal, EndRemote, EndFailed or EndCancelled
	Status   int           `json:"status,omitempty"` // the SIP status of a refused join, e.g. 486
	Detail   string        `json:"detail,omitempty"` // why it failed, e.g. "486 Busy Here"
	// MOS is the mean opinion score estimated for the audio received, at the
	// end of the call; 0 = not known.
	MOS float64 `json:"mos,omitempty"`
	// LossPercent is the share of the far end's packets that were lost.
	LossPercent float64 `json:"loss_percent,omitempty"`
}

// check reports what is wrong with r, or nil.
func (r HistoryRecord) check() error {
	switch {
	case !slices.Contains([]string{EndLocal, EndRemote, EndFailed, EndCancelled}, r.End):
		return fmt.Errorf("end %q is not %s, %s, %s or %s", r.End, EndLocal, EndRemote, EndFailed, EndCancelled)
	case r.Handset == "":
		return fmt.Errorf("no handset")
	case r.Start.IsZero():
		return fmt.Errorf("no start time")
	case r.Duration < 0:
		return fmt.Errorf("negative duration %v", r.Duration)
	}
	return nil
}

// AppendHistory adds a call that has ended to the call history, and drops
// the oldest calls beyond MaxHistory in the same transaction.
func (s *Store) AppendHistory(rec HistoryRecord) error {
	if err := rec.check(); err != nil {
		return fmt.Errorf("append call history: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("append call history: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(historyBucket)
		seq, err := bk.NextSequence()
		if err != nil {
			return err
		}
		if err := bk.Put(binary.BigEndian.AppendUint64(nil, seq), b); err != nil {
			return err
		}
		if seq <= MaxHistory {
			return nil
		}
		// Keys are sequence numbers, so everything at or below the cutoff
		// is older than the newest MaxHistory. Collect, then delete: a
		// bbolt cursor skips a key after a Delete.
		cutoff := seq - MaxHistory
		var old [][]byte
		c := bk.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= cutoff; k, _ = c.Next() {
			old = append(old, bytes.Clone(k))
		}
		for _, k := range old {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append call history: %w", err)
	}
	return nil
}

// History returns the last limit calls of the call history, newest first;
// limit <= 0 returns all of them (at most MaxHistory).
func (s *Store) History(limit int) ([]HistoryRecord, error) {
	if limit <= 0 || limit > MaxHistory {
		limit = MaxHistory
	}
	var recs []HistoryRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(historyBucket).Cursor()
		for k, v := c.Last(); k != nil && len(recs) < limit; k, v = c.Prev() {
			var r HistoryRecord
			// Unmarshal copies: v is invalid once the transaction ends.
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode call %x: %w", k, err)
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read call history: %w", err)
	}
	return recs, nil
}
