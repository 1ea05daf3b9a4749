package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"partyline/board/rpi"
)

// A watchedLoop is one of the appliance's own loops whose life the systemd watchdog checks.
type watchedLoop struct {
	name  string
	beats func() uint64 // grows while the loop is alive
	// probe asks the loop to beat before the next check, for a loop that only wakes for
	// work or, idle, now and then; nil for one that beats by itself (the audio's period).
	// It never blocks.
	probe func()
	// resting reports that the loop may not beat now and is not stuck (the audio device is
	// being reopened); nil when it always must.
	resting func() bool
}

// watchedLoops are the loops the watchdog checks: the SIP agent's read loop, each handset's
// line, the loop that moves the handsets' calls' audio and the audio device's period
// callback.
func (a *Appliance) watchedLoops() []watchedLoop {
	loops := []watchedLoop{{
		name:  "SIP agent",
		beats: a.agent.Beats,
		probe: func() { _ = a.agent.Probe() }, // a probe that fails shows as the missing beat
	}}
	for i, l := range a.lines {
		loops = append(loops, watchedLoop{name: fmt.Sprintf("handset %d", i+1), beats: l.Beats, probe: l.Probe})
	}
	loops = append(loops, watchedLoop{name: "calls' audio", beats: a.hw.hub.PumpBeats, probe: a.hw.hub.ProbePumps})
	audio := watchedLoop{name: "audio", beats: a.hw.hub.Beats}
	if dev, ok := a.hw.audio.(interface{ Reopening() bool }); ok {
		audio.resting = dev.Reopening
	}
	if dev, ok := a.hw.audio.(interface{ Wake() }); ok {
		audio.probe = dev.Wake // the idle sim board beats every 500 ms, unless woken
	}
	return append(loops, audio)
}

// tellSystemd reports to systemd that the appliance is up, then feeds its watchdog until
// ctx is done, and reports that it is stopping. Outside systemd it does nothing.
//
// The watchdog is fed only while the appliance is alive: at each of its ticks (a third of
// the watchdog's timeout, 10 s under the unit's WatchdogSec=30) every loop must have
// beaten since the tick before, when the loops that only wake for work were probed. A
// loop that has not is logged once, by name, and systemd is told no more until it beats
// again, so that systemd restarts a partyline that stays stuck. The probes ride on the
// watchdog's own tick: an idle appliance wakes no more often than that.
func tellSystemd(ctx context.Context, log *slog.Logger, loops []watchedLoop) {
	if err := rpi.Notify("READY=1"); err != nil {
		log.Warn("systemd", "err", err)
	}
	defer func() {
		if err := rpi.Notify("STOPPING=1"); err != nil {
			log.Warn("systemd", "err", err)
		}
	}()
	interval, ok := rpi.WatchdogInterval()
	if !ok {
		<-ctx.Done()
		return
	}
	last := make([]uint64, len(loops)) // each loop's beats at the tick before
	stuck := make([]bool, len(loops))
	status := "" // the stuck loops' names, as systemd was last told
	probe := func() {
		for i, l := range loops {
			last[i] = l.beats() // before the probe, which a quick loop may answer at once
			if l.probe != nil {
				l.probe()
			}
		}
	}
	probe()
	tick := time.NewTicker(interval / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var stuckNames []string
		for i, l := range loops {
			beat := l.beats() != last[i] || (l.resting != nil && l.resting())
			switch {
			case !beat && !stuck[i]:
				log.Error("a loop is stuck: the systemd watchdog is no longer fed, systemd restarts partyline unless it recovers",
					"loop", l.name, "silent", interval/3)
			case beat && stuck[i]:
				log.Info("a stuck loop runs again: feeding the systemd watchdog again", "loop", l.name)
			}
			stuck[i] = !beat
			if !beat {
				stuckNames = append(stuckNames, l.name)
			}
		}
		if st := strings.Join(stuckNames, ", "); st != status {
			status = st
			if st != "" {
				st = "stuck: " + st
			}
			if err := rpi.Notify("STATUS=" + st); err != nil { // for systemctl status
				log.Warn("systemd", "err", err)
			}
		}
		probe()
		if status != "" {
			continue
		}
		if err := rpi.Notify("WATCHDOG=1"); err != nil {
			log.Warn("systemd watchdog", "err", err)
		}
	}
}
