package config

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"partyline/appliance/settings"
)

// failsafe bounds the waits for what must happen, so that a broken store fails the test
// rather than hanging it.
const failsafe = time.Minute

// waitClosed waits for ch to be closed, failing the test at the failsafe.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(failsafe):
		t.Fatalf("%s: not told within %v", what, failsafe)
	}
}

// isClosed reports whether ch is closed already.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestSnapshotFollowsWrites: every successful write replaces the snapshot and tells those
// waiting on the old one; a refused write changes neither.
func TestSnapshotFollowsWrites(t *testing.T) {
	s, _ := openTemp(t)
	first := s.Current()
	if first.Saved || !reflect.DeepEqual(first.Settings, settings.Settings{}) {
		t.Fatalf("a new file's snapshot: %+v, want nothing saved", first)
	}
	if err := s.EnsureDefaults(2); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, first.Changed(), "EnsureDefaults")
	defaults := s.Current()
	if !defaults.Saved || len(defaults.Settings.Handsets) != 2 || defaults.Version != first.Version+1 {
		t.Fatalf("after EnsureDefaults: %+v, want two handsets at the next version", defaults)
	}
	if err := s.EnsureDefaults(2); err != nil || isClosed(defaults.Changed()) || s.Current() != defaults {
		t.Errorf("EnsureDefaults over saved settings: %v, told %v; want no change", err, isClosed(defaults.Changed()))
	}

	err := s.Update(func(set *settings.Settings) error {
		set.Handsets[0].Name = "Kitchen"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, defaults.Changed(), "Update")
	named := s.Current()
	if named.Settings.Handsets[0].Name != "Kitchen" || named.Version != defaults.Version+1 {
		t.Errorf("after Update: %+v, want Kitchen at the next version", named)
	}
	if defaults.Settings.Handsets[0].Name != "Handset 1" {
		t.Errorf("Update changed the old snapshot: %+v", defaults.Settings.Handsets[0])
	}

	refusal := errors.New("no")
	for _, change := range []func(*settings.Settings) error{
		func(set *settings.Settings) error { set.Handsets[0].Name = "Garden"; return refusal },
		func(set *settings.Settings) error { set.Handsets[0].Channel = 99; return nil },
	} {
		if err := s.Update(change); err == nil {
			t.Fatal("a refused Update succeeded")
		}
		if isClosed(named.Changed()) || s.Current() != named {
			t.Errorf("a refused Update replaced the snapshot: %+v", s.Current())
		}
	}

	if err := s.Save(valid()); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, named.Changed(), "Save")
	if got := s.Current().Settings; !reflect.DeepEqual(got, valid()) {
		t.Errorf("after Save: %+v, want %+v", got, valid())
	}
}

// TestSnapshotShared: what a writer's change keeps hold of and what Settings hands out
// are copies; changing them leaves the snapshot every reader shares as it was stored.
func TestSnapshotShared(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Save(valid()); err != nil {
		t.Fatal(err)
	}
	var kept *settings.Settings
	err := s.Update(func(set *settings.Settings) error {
		set.Conferences[0].Announce = append(set.Conferences[0].Announce, "tone:0:1s")
		kept = set
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := s.Current().Settings.Clone()
	kept.Conferences[0].Announce[0] = "changed.wav"
	kept.Handsets[0].Name = "changed"
	copied, err := s.Settings()
	if err != nil {
		t.Fatal(err)
	}
	copied.Conferences[0].Announce[1] = "changed.wav"
	copied.Accounts[0].Password = "changed"
	if got := s.Current().Settings; !reflect.DeepEqual(got, want) {
		t.Errorf("the snapshot changed with copies of it:\n got %+v\nwant %+v", got, want)
	}
}

// TestSnapshotAtOpen: the snapshot of a reopened file is what was stored, before anyone
// writes.
func TestSnapshotAtOpen(t *testing.T) {
	s, path := openTemp(t)
	if err := s.Save(valid()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if snap := s2.Current(); !snap.Saved || !reflect.DeepEqual(snap.Settings, valid()) {
		t.Errorf("snapshot after reopening: %+v, want %+v", snap, valid())
	}
}

// TestSnapshotConcurrent has writers count up the reserve while readers follow the
// snapshots: run with -race. Every reader sees the versions and the count only grow, is
// told of changes until it sees the last write, and the last snapshot holds every write.
func TestSnapshotConcurrent(t *testing.T) {
	s, _ := openTemp(t)
	set := valid()
	set.Recordings.ReserveMB = 1
	if err := s.Save(set); err != nil {
		t.Fatal(err)
	}
	const writers, writes, readers = 4, 25, 4
	final := 1 + writers*writes
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for range readers {
		wg.Go(func() {
			snap := s.Current()
			for snap.Settings.Recordings.ReserveMB != final {
				select {
				case <-snap.Changed():
				case <-time.After(failsafe):
					errs <- fmt.Errorf("a reader waited %v at %d of %d", failsafe, snap.Settings.Recordings.ReserveMB, final)
					return
				}
				next := s.Current()
				if next.Version <= snap.Version || next.Settings.Recordings.ReserveMB <= snap.Settings.Recordings.ReserveMB {
					errs <- fmt.Errorf("went from version %d (%d MB) to %d (%d MB)", snap.Version, snap.Settings.Recordings.ReserveMB,
						next.Version, next.Settings.Recordings.ReserveMB)
					return
				}
				_ = len(next.Settings.Handsets) + len(next.Settings.Conferences[0].Announce) // read what is shared
				snap = next
			}
		})
	}
	for range writers {
		wg.Go(func() {
			for range writes {
				err := s.Update(func(set *settings.Settings) error {
					set.Recordings.ReserveMB++
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Current(); got.Settings.Recordings.ReserveMB != final || got.Version != uint64(1+writers*writes) {
		t.Errorf("last snapshot: %d MB at version %d, want %d MB at version %d", got.Settings.Recordings.ReserveMB, got.Version, final, 1+writers*writes)
	}
}
