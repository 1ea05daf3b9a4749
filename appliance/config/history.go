package config

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	bolt "go.etcd.io/bbolt"

	"partyline/appliance/settings"
)

// MaxHistory is how many calls the history keeps: AppendHistory drops the
// oldest beyond it.
const MaxHistory = 200

// AppendHistory adds a call that has ended to the call history. It checks rec and queues
// it for the store's writer, which adds it and drops the oldest calls beyond MaxHistory in
// one transaction: AppendHistory never waits for the file. History waits for the queue,
// so it shows the call; a write that fails later is logged with slog.Default, as nobody
// waits for it then.
func (s *Store) AppendHistory(rec settings.CallRecord) error {
	if err := rec.Check(); err != nil {
		return fmt.Errorf("append call history: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("append call history: %w", err)
	}
	s.history.queue(b)
	return nil
}

// A historyWriter adds calls to the history in a goroutine of its own, in the order they
// were queued.
type historyWriter struct {
	db   *bolt.DB
	wake chan struct{} // has a value when pending may have calls
	done chan struct{} // closed when run returns

	mu      sync.Mutex // guards following
	cond    *sync.Cond // signalled when written grows or run returns
	pending [][]byte   // encoded calls, oldest first
	queued  uint64     // calls queued since Open
	written uint64     // calls written, or given up on, since Open
	stopped bool       // stop was called: run writes what is pending and returns
}

// newHistoryWriter starts the writer of db's call history; stop stops it.
func newHistoryWriter(db *bolt.DB) *historyWriter {
	w := &historyWriter{db: db, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// queue adds an encoded call for run to write. It never blocks: beyond MaxHistory calls
// waiting it drops the oldest, which the history would drop anyway.
func (w *historyWriter) queue(rec []byte) {
	w.mu.Lock()
	if len(w.pending) == MaxHistory {
		w.pending = w.pending[1:]
		w.written++ // dropped: it counts as done
	}
	w.pending = append(w.pending, rec)
	w.queued++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// run writes the queued calls, all that wait in one transaction, until stop.
func (w *historyWriter) run() {
	defer close(w.done)
	for {
		<-w.wake
		w.mu.Lock()
		batch, stopped := w.pending, w.stopped
		w.pending = nil
		w.mu.Unlock()
		if len(batch) > 0 {
			if err := w.write(batch); err != nil {
				slog.Default().Error("record calls in the history", "calls", len(batch), "err", err)
			}
			w.mu.Lock()
			w.written += uint64(len(batch))
			w.cond.Broadcast()
			w.mu.Unlock()
		}
		if stopped {
			return
		}
	}
}

// write adds the encoded calls to the history and drops the oldest beyond MaxHistory, in
// one transaction.
func (w *historyWriter) write(batch [][]byte) error {
	err := w.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(historyBucket)
		var seq uint64
		for _, b := range batch {
			var err error
			if seq, err = bk.NextSequence(); err != nil {
				return err
			}
			if err := bk.Put(binary.BigEndian.AppendUint64(nil, seq), b); err != nil {
				return err
			}
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

// flush waits until every call queued before it is written or given up on.
func (w *historyWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for target := w.queued; w.written < target && !w.finished(); {
		w.cond.Wait()
	}
}

// finished reports whether run has returned. The caller holds w.mu.
func (w *historyWriter) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// stop writes what is queued and stops run.
func (w *historyWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
	w.mu.Lock()
	w.cond.Broadcast()
	w.mu.Unlock()
}

// History returns the last limit calls of the call history, newest first;
// limit <= 0 returns all of them (at most MaxHistory). It first waits for the calls
// AppendHistory has queued to be written.
func (s *Store) History(limit int) ([]settings.CallRecord, error) {
	s.history.flush()
	if limit <= 0 || limit > MaxHistory {
		limit = MaxHistory
	}
	var recs []settings.CallRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(historyBucket).Cursor()
		for k, v := c.Last(); k != nil && len(recs) < limit; k, v = c.Prev() {
			var r settings.CallRecord
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
