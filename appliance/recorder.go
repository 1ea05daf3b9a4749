package appliance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"partyline/appliance/settings"

	"partyline/appliance/legs"
	"partyline/media"
)

// The recorder: a service leg that writes what it hears in its conference to a WAV file
// in the recordings folder of the data directory, flushed as it goes, and the recordings
// it leaves.

// recordingsFolder is where the recordings are, inside the data directory.
const recordingsFolder = "recordings"

const (
	// flushInterval is how often the recorder makes its file whole: a crash loses at most
	// this much, and RepairWAV usually recovers even that.
	flushInterval = time.Second
	// diskCheckInterval is how often the recorder looks at the free space. At G.722's
	// 32 kB/s it writes well under 1 MB in between, a small part of any reserve.
	diskCheckInterval = 5 * time.Second
)

// maxNameTries bounds the names tried for a new recording whose first choice is taken (two
// recordings of one conference in the same second).
const maxNameTries = 100

// Why a recording stopped, as the status and the recording's Detail say it.
const (
	detailDiskFull    = "stopped: disk nearly full"
	detailRemoteEnded = "stopped: the conference hung up"
)

// statfsFree returns the bytes available to unprivileged users on dir's file system.
func statfsFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// reserve is the free space a recording leaves, in bytes.
func reserve(set settings.Settings) uint64 {
	return uint64(cmp.Or(set.Recordings.ReserveMB, settings.DefaultReserveMB)) * 1_000_000
}

// startRecorder starts the recorder of conference c, unless the disk is nearly full or the
// settings do not let it join.
func (s *services) startRecorder(ctx context.Context, set settings.Settings, c settings.Conference, cs *conferenceServices) error {
	plan, err := planService(set, c, recorderName, cmp.Or(c.RecorderPrefix, settings.DefaultRecorderPrefix))
	if err != nil {
		cs.status = recorderStatus{Detail: "not started: " + err.Error()}
		return err
	}
	limit := reserve(set)
	if free, err := s.cfg.freeSpace(s.cfg.dir); err != nil {
		cs.status = recorderStatus{Detail: "not started: " + err.Error()}
		return err
	} else if free < limit {
		cs.status = recorderStatus{Detail: "not started: disk nearly full"}
		return fmt.Errorf("not started: %d MB free, less than the %d MB kept free", free/1_000_000, limit/1_000_000)
	}
	legCtx, cancel := context.WithCancel(ctx)
	l := &serviceLeg{conference: c.ID, cancel: cancel}
	cs.rec = l
	cs.status = recorderStatus{}
	log := s.cfg.log.With("conference", c.ID, "leg", "recorder")
	s.wg.Go(func() {
		defer cancel()
		ended := s.record(legCtx, ctx, l, plan, c.ID, limit, log)
		s.post(ctx, ended)
	})
	return nil
}

// record runs one recording: it joins, opens the file and records into it until ctx is
// done (the recording was stopped), the conference hangs up, the disk nearly fills or
// writing fails. It reports on runCtx, the services', that it is up, and returns how it
// ended.
func (s *services) record(ctx, runCtx context.Context, l *serviceLeg, plan legs.Plan, conference string, limit uint64, log *slog.Logger) serviceEnded {
	joinCtx, cancelJoin := context.WithTimeout(ctx, legs.JoinTimeout)
	call, err := s.cfg.dial(joinCtx, plan)
	cancelJoin()
	switch {
	case err != nil && ctx.Err() != nil:
		return serviceEnded{leg: l}
	case err != nil:
		log.Warn("recorder join failed", "err", err)
		return serviceEnded{leg: l, detail: "failed: " + err.Error(), hold: true}
	}
	defer hangupService(ctx, call, log)

	start := time.Now().UTC()
	f, name, err := createRecording(filepath.Join(s.cfg.dir, recordingsFolder), conference, start)
	if err != nil {
		log.Error("create recording", "err", err)
		return serviceEnded{leg: l, detail: "failed: " + err.Error(), hold: true}
	}
	rec := settings.Recording{File: name, Conference: conference, Start: start, SampleRate: call.SampleRate(), State: settings.RecordingInProgress}
	ww, err := s.beginRecording(f, rec)
	if err != nil {
		log.Error("start recording", "file", name, "err", err)
		f.Close()
		if rerr := os.Remove(f.Name()); rerr != nil {
			log.Warn("remove recording", "file", name, "err", rerr)
		}
		return serviceEnded{leg: l, detail: "failed: " + err.Error(), hold: true}
	}
	defer f.Close()
	log.Info("recording", "file", name, "as", call.Identity(), "rate", rec.SampleRate)
	s.post(runCtx, serviceUp{leg: l, file: name, since: start})

	ended := s.capture(ctx, call, ww, limit)
	if err := ww.Close(); err != nil && ended.detail == "" {
		ended = serviceEnded{detail: "failed: " + err.Error(), hold: true}
	}
	ended.leg = l
	rec.Duration = ww.Duration()
	switch {
	case ended.detail == detailDiskFull:
		rec.State = settings.RecordingDiskFull
	case ended.hold && ended.detail != detailRemoteEnded:
		rec.State = settings.RecordingFailed
	default:
		rec.State = settings.RecordingFinished
	}
	rec.Detail = ended.detail
	if err := s.cfg.store.SaveRecording(rec); err != nil {
		log.Error("finish recording", "file", name, "err", err)
	}
	log.Info("recording ended", "file", name, "duration", rec.Duration, "state", rec.State, "detail", rec.Detail)
	return ended
}

// beginRecording writes the header of rec's new file f, makes it a valid empty WAV file on
// the disk, and only then adds rec to the store, so that the store never lists a file that
// does not exist.
func (s *services) beginRecording(f *os.File, rec settings.Recording) (*media.WAVWriter, error) {
	ww, err := media.NewWAVWriter(f, rec.SampleRate)
	if err != nil {
		return nil, err
	}
	if err := ww.Flush(); err != nil {
		return nil, err
	}
	if err := s.cfg.store.SaveRecording(rec); err != nil {
		return nil, err
	}
	return ww, nil
}

// capture writes what call receives to ww every packet time, flushes it every
// flushInterval and checks the free space every diskCheckInterval, until ctx is done or
// something stops it. It says why it stopped; the zero serviceEnded means ctx.
func (s *services) capture(ctx context.Context, call serviceCall, ww *media.WAVWriter, limit uint64) serviceEnded {
	pcm := make([]int16, call.SamplesPerPacket())
	flushEvery := int(flushInterval / servicePacketTime)
	checkEvery := int(diskCheckInterval / servicePacketTime)
	tick := time.NewTicker(servicePacketTime)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return serviceEnded{}
		case <-call.Done():
			return serviceEnded{detail: detailRemoteEnded, hold: true}
		case <-tick.C:
		}
		call.Receive(pcm)
		if err := ww.Write(pcm); err != nil {
			return serviceEnded{detail: "failed: " + err.Error(), hold: true}
		}
		if n%flushEvery == 0 {
			if err := ww.Flush(); err != nil {
				return serviceEnded{detail: "failed: " + err.Error(), hold: true}
			}
		}
		if n%checkEvery == 0 {
			free, err := s.cfg.freeSpace(s.cfg.dir)
			if err != nil {
				return serviceEnded{detail: "failed: " + err.Error(), hold: true}
			}
			if free < limit {
				return serviceEnded{detail: detailDiskFull, hold: true}
			}
		}
	}
}

// createRecording creates a new, empty recording of conference in dir, named after the
// conference and the start time in UTC (e.g. "main-20260301T093000Z.wav"), with a number
// added if that name is taken.
func createRecording(dir, conference string, start time.Time) (*os.File, string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", fmt.Errorf("create recordings folder: %w", err)
	}
	base := conference + "-" + start.UTC().Format("20060102T150405Z")
	for i := 1; i <= maxNameTries; i++ {
		name := base + ".wav"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.wav", base, i)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("create recording: %w", err)
		}
		return f, name, nil
	}
	return nil, "", fmt.Errorf("create recording: %d names taken for %s", maxNameTries, base)
}

// recoverRecordings repairs the recordings that a crash or a power loss left in progress,
// so that each is a valid WAV file of what reached the disk, and marks them recovered.
func (s *services) recoverRecordings() {
	recs, err := s.cfg.store.Recordings()
	if err != nil {
		s.cfg.log.Error("recover recordings", "err", err)
		return
	}
	for _, r := range recs {
		if r.State != settings.RecordingInProgress {
			continue
		}
		samples, err := repairRecording(filepath.Join(s.cfg.dir, recordingsFolder, r.File))
		if err != nil {
			s.cfg.log.Error("recover recording", "file", r.File, "err", err)
			r.State, r.Detail = settings.RecordingFailed, "not recovered: "+err.Error()
		} else {
			r.State, r.Detail = settings.RecordingRecovered, "the appliance stopped while recording; repaired when it started again"
			r.Duration = time.Duration(samples) * time.Second / time.Duration(r.SampleRate)
			s.cfg.log.Info("recording recovered", "file", r.File, "duration", r.Duration)
		}
		if err := s.cfg.store.SaveRecording(r); err != nil {
			s.cfg.log.Error("recover recording", "file", r.File, "err", err)
		}
	}
}

// repairRecording repairs the recording at path with media.RepairWAV.
func repairRecording(path string) (samples int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return media.RepairWAV(f)
}

// recordingPath returns the path of recording name, which must be a recording's name
// (settings.CheckRecordingName), so that it stays inside the recordings folder.
func (s *services) recordingPath(name string) (string, error) {
	if err := settings.CheckRecordingName(name); err != nil {
		return "", err
	}
	return filepath.Join(s.cfg.dir, recordingsFolder, name), nil
}

// openRecording opens recording name for reading.
func (s *services) openRecording(name string) (*os.File, error) {
	if _, err := s.cfg.store.Recording(name); err != nil {
		return nil, err
	}
	path, err := s.recordingPath(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	return f, nil
}

// deleteRecording removes recording name, file and record, unless it is being recorded.
// A recording whose record says it ended is not, even while its recorder's leg is still
// hanging up: the recorder has written the file's last samples and header before it saves
// the end, and the recordings page shows that state.
func (s *services) deleteRecording(name string) error {
	r, err := s.cfg.store.Recording(name)
	if err != nil {
		return err
	}
	if r.State == settings.RecordingInProgress && s.statusOf(r.Conference).File == name {
		return fmt.Errorf("%s is being recorded: stop the recording first", name)
	}
	path, err := s.recordingPath(name)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete recording: %w", err)
	}
	return s.cfg.store.DeleteRecording(name)
}
