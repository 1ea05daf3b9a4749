// Package appliance wires partyline together and is the admin page's backend: it builds the
// board's hardware, the settings store, the SIP agent, the legs that place calls through it
// (the handsets', the recorder's and announcer's, bridged callers'), one handset.Line per
// handset, and the admin page, in that order. cmd/partyline only parses flags and calls Run.
package appliance

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"partyline/appliance/capture"
	"partyline/appliance/config"
	"partyline/appliance/handset"
	"partyline/appliance/logs"
	"partyline/appliance/provision"
	"partyline/appliance/settings"
	"partyline/appliance/update"
	"partyline/appliance/web"
	"partyline/board"
	"partyline/hw"
	"partyline/hw/sim"
	"partyline/sip"
)

// Config is what the appliance needs to start; everything else is in the settings store.
type Config struct {
	Board     string // "auto", "sim" or a board profile name; "" = the settings', else auto
	DataDir   string // directory of the settings database
	AdminAddr string // listen address of the admin page
	SIPAddr   string // SIP listen address; "" = the one in the settings

	// Version and Build identify the firmware (cmd/partyline's -version): the admin page's
	// System section and partyline_build_info show them.
	Version, Build string

	// AdminPlainHTTP serves the admin page over plain HTTP even when AdminAddr is not a
	// loopback address; otherwise it is served over HTTPS there (see needsTLS).
	AdminPlainHTTP bool

	// Logs, when set, is the handler of the log passed to Run or New: the admin page shows
	// its last lines, and the log level setting sets its level.
	Logs *logs.Handler

	// Sim, when set, is the virtual hardware to use on the sim board (tests drive it), with
	// as many handsets as it has; otherwise the appliance makes its own.
	Sim *sim.Board

	// Reboot, when set, reboots the device for the System page instead of
	// systemctl reboot (tests).
	Reboot func() error

	// Clock, when set, is the wall clock that the times the appliance shows and keeps in
	// the call history are read from; nil means time.Now. Tests step it as NTP steps the
	// system's clock. Durations, timeouts and timers never read it: they run on the
	// monotonic clock.
	Clock func() time.Time

	// Resolver, when set, looks up the host names of the SIP servers instead of the
	// system's resolver. Tests point it at a DNS server of their own.
	Resolver *net.Resolver

	// Speaker, when set, is the alert speaker instead of the board's. Tests pass an
	// alert.Speaker whose ALSA default device is a file.
	Speaker hw.AlertSpeaker

	// Audio, when set, replaces the board's audio device with this ALSA PCM, one channel
	// per handset; on the sim board the switches and lights stay virtual. Tests point it at
	// an alsa-lib file PCM.
	Audio *board.AudioProfile

	// Fleet, when set, replaces what provisioning reads of the device (tests).
	Fleet FleetConfig

	// Installer, when set, installs the firmware a provisioning document names and the
	// previous package when a pending update is rolled back, instead of dpkg (tests).
	Installer update.Installer
	// UpdateDeadline, when not zero, is how long an update has to prove itself healthy,
	// instead of update.DefaultDeadline (tests).
	UpdateDeadline time.Duration
}

// Defaults of the flags of cmd/partyline.
const (
	DefaultDataDir   = "data"
	DefaultAdminAddr = "127.0.0.1:8080"
)

// databaseFile is the settings database inside Config.DataDir.
const databaseFile = "partyline.db"

// pidFileName is the file in the data directory that names the process using it, so that
// a second partyline on the same directory can say which one holds it.
const pidFileName = "partyline.pid"

// inUse is the error of a partyline that found its data directory dir in use (err), naming
// the process that holds it when its pid file says.
func inUse(dir string, err error) error {
	b, rerr := os.ReadFile(filepath.Join(dir, pidFileName))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if rerr != nil || perr != nil || pid <= 0 {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	return fmt.Errorf("data directory %s is already in use by another partyline (pid %d): %w", dir, pid, err)
}

// removePID removes the pid file when the appliance lets the data directory go.
func removePID(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	return nil
}

// An Appliance is a running partyline. Make one with New; Run runs it.
type Appliance struct {
	log     *slog.Logger
	profile board.Profile
	store   *config.Store
	pidFile string           // names this process in the data directory, while it holds it
	wall    func() time.Time // Config.Clock; nil: time.Now (see onWallClock)
	agent   *sip.Agent
	hw      *hardware
	lines   []*handset.Line
	conf    *conferencing // the lines' conferencing
	regs    *registrations
	admin   net.Listener
	sipFlag bool // the SIP listen address came from Config.SIPAddr

	version, build string    // the firmware's, from Config
	startedAt      time.Time // when New made the appliance, for the System page's uptime
	// capture records the SIP agent's and the media's datagrams for the System page.
	capture *capture.Capture
	reboot  func() error

	boardFound string // how the board profile was chosen, for the admin page
	boardFlag  bool   // it came from Config.Board

	// logs is the log's handler, nil when Config.Logs was not set.
	logs *logs.Handler

	// started is the settings the appliance started with: what differs in what applies only
	// at a start is pending a restart (pendingRestart).
	started settings.Settings
	// restart is closed when the admin page asks for a restart (requestRestart).
	restart     chan struct{}
	restartOnce sync.Once

	// saveMu makes the saves of the settings apply what applies at once (levels, button
	// mappings) in the order they were stored (see backend.UpdateSettings).
	saveMu sync.Mutex

	ringer   *ringer       // the alert speaker's ringing for calls in
	services *services     // the recorder and the announcer of every conference
	saves    *handsetSaves // what the handsets' buttons changed, saved behind them
	bridges  *bridging     // callers bridged into conferences
	rosters  *rosters      // who is in each conference our legs are in
	calls    callCounts    // the handsets' calls that ended, by how

	// presence is the proof of presence the call buttons give; startButtons are the call
	// buttons by handset (nil where there is none), looked at as the appliance starts.
	presence     *presence
	startButtons []*replaySwitch

	// The admin page's: its TLS configuration (nil when it is served over plain HTTP), the
	// certificate's fingerprint ("" then), and the recent events the dashboard shows.
	adminTLS         *tls.Config
	adminFingerprint string
	events           web.EventLog
	changes          web.Changes // tells the event streams of changes (see backend.watch)

	// prov fetches the provisioning document; device is what names this device's.
	prov   *provision.Provisioner
	device provision.Device
	// updates settles a pending update at start; rolledBack is the last update's rollback,
	// nil when it was not rolled back.
	updates update.Settler
	updater update.Updater
	// skipped is the version not installed that a document named last, said once.
	skipped atomic.Pointer[string]
	// noInstaller, when set, is why no firmware is installed.
	noInstaller error
	rolledBack  atomic.Pointer[web.UpdateStatus]
}

// Run starts the appliance described by cfg and runs it until ctx is done.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	a, err := New(cfg, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New opens the settings, the hardware, the SIP socket and the admin page's socket, so that
// every address is known, but starts nothing. A failed New releases what it opened.
func New(cfg Config, log *slog.Logger) (a *Appliance, err error) {
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, databaseFile)
	store, err := config.Open(dbPath, firstStart(cfg, dbPath)...)
	if errors.Is(err, config.ErrInUse) {
		return nil, inUse(cfg.DataDir, err)
	}
	if err != nil {
		return nil, err
	}
	closers = append(closers, store.Close)
	pidFile := filepath.Join(cfg.DataDir, pidFileName)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		log.Warn("write the pid file", "err", err) // only for the message a second instance gives
	}
	closers = append(closers, func() error { return removePID(pidFile) })
	profile, found, set, hwr, err := openBoard(cfg, store, log)
	if err != nil {
		return nil, err
	}
	closers = append(closers, hwr.close)

	// The SIP agent first: everything that calls needs it. The incoming calls wait in a
	// queue for the bridging, which is made after the agent.
	// The admin page's certificate, if it has one, before SIP, which uses it too.
	adminTLS, fingerprint, err := adminTLSConfig(cfg, store, log)
	if err != nil {
		return nil, err
	}
	incoming := newIncomingQueue(store, cfg.Resolver, log.With("part", "bridge"))
	sipTLS, err := sipTLSConfig(cfg, store, set, log.With("part", "sip"))
	if err != nil {
		return nil, err
	}
	tlsAddr := set.SIP.TLSListenAddr
	if tlsAddr == settings.TLSOff {
		tlsAddr = ""
	}
	packets := &capture.Capture{}
	agent, err := sip.NewAgent(sip.Config{
		ListenAddr:    cmp.Or(cfg.SIPAddr, set.SIP.ListenAddr),
		UserAgent:     "partyline",
		Log:           log.With("part", "sip"),
		OnIncoming:    incoming.offer,
		Resolver:      cfg.Resolver,
		TLS:           sipTLS,
		TLSListenAddr: tlsAddr,
		Tap:           packets,
	})
	if err != nil {
		return nil, fmt.Errorf("start SIP: %w", err)
	}

	admin, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("admin page: %w", err)
	}
	mapping, err := buttonMapping(set.Buttons)
	if err != nil {
		return nil, err
	}

	// Then what places calls through the agent, each part built from parts already made.
	claims := &identityClaims{} // the identities our legs have in each conference
	rosters := newRosters(agent, log.With("part", "roster"))
	inCall := &handsetsInCall{} // the lines tell it, the service legs look at it
	// What the handsets' buttons change is saved behind them; meanwhile everything that
	// reads the handsets' settings lays it over the settings in memory.
	saves := newHandsetSaves(store, log.With("part", "settings"))
	svc := newServices(serviceConfig{
		store:         store,
		saves:         saves,
		dir:           cfg.DataDir,
		dial:          dialService(agent, log.With("part", "services")),
		inCall:        inCall.list,
		inCallChanged: inCall.changed,
		log:           log.With("part", "services"),
	})
	a = &Appliance{
		log:       log,
		profile:   profile,
		store:     store,
		pidFile:   pidFile,
		wall:      cfg.Clock,
		agent:     agent,
		hw:        hwr,
		regs:      newRegistrations(agent, log.With("part", "registration")),
		admin:     admin,
		sipFlag:   cfg.SIPAddr != "",
		version:   cfg.Version,
		build:     cfg.Build,
		startedAt: time.Now(),
		capture:   packets,
		reboot:    cfg.Reboot,

		boardFound: found,
		boardFlag:  cfg.Board != "",
		services:   svc,
		saves:      saves,
		bridges: &bridging{agent: agent, store: store, claims: claims, rosters: rosters,
			queue: incoming, log: log.With("part", "bridge")},
		rosters: rosters,

		presence: &presence{store: store, log: log.With("part", "web")},

		adminTLS:         adminTLS,
		adminFingerprint: fingerprint,

		logs:    cfg.Logs,
		started: set,
		restart: make(chan struct{}),
	}
	a.applyLogLevel(set)
	a.prov, a.device = newProvisioner(a, cfg, serviceBackend{backend{a}, svc}.UpdateSettings)
	a.updates = newSettler(a, cfg.DataDir, cfg.Installer)
	a.updater = newUpdater(a, cfg)
	a.rolledBack.Store(a.readRollback())
	a.bridges.problem = func(source, text string) { a.events.Add(slog.LevelWarn, source, text) }
	if a.reboot == nil {
		a.reboot = systemctlReboot
	}
	// Last the lines, which use all of it.
	if cfg.Speaker != nil {
		hwr.speaker = cfg.Speaker
	}
	a.ringer = newRinger(hwr.speaker, log.With("part", "ringer"))
	calls := &handsetCalls{agent: agent, log: log.With("part", "calls-in")}
	incoming.handsets = calls
	conf := &conferencing{agent: agent, store: store, hub: hwr.hub, claims: claims, rosters: rosters, saves: saves, log: log,
		problem: func(label, text string) { a.events.Add(slog.LevelWarn, label, text) }}
	a.conf = conf
	local := &localFallback{conf: conf, regs: a.regs, log: log.With("part", "local mix"), event: func(label, text string) { a.events.Add(slog.LevelWarn, label, text) }}
	calls.conf = conf
	for i, h := range hwr.handsets {
		var start *replaySwitch
		if h.button != nil {
			start = &replaySwitch{Switch: h.button}
			h.button = start
		}
		a.startButtons = append(a.startButtons, start)
		a.lines = append(a.lines, handset.New(handset.Config{
			Index:      i,
			Hook:       h.hook,
			Buttons:    h.buttons(),
			Presence:   a.presence,
			LED:        h.led,
			Mapping:    mapping,
			Conference: conf,
			Recorder:   svc, // the LEDs show whether their conference is being recorded
			Local:      local,
			OnState: func(s handset.State) {
				a.ringer.set(i, s == handset.Ringing)
				hwr.statusTone(s)
				if s == handset.InCall && a.lines[i].Status().Caller != "" {
					// A call in is not in the handset's conference: the recorder and
					// the announcer do not join it for this call.
					s = handset.Idle
				}
				inCall.set(i, s)
				local.follow(i, s)
			},
			OnCallEnd: func(st handset.Status, err error) { a.recordCall(i, st, err) },
			OnMissed:  func(caller, why string) { a.missedCall(i, caller, why) },
			OnWaiting: func() { calls.callWaitingTone(i) },
			Log:       log.With("handset", handsetID(set, i)),
		}))
	}
	calls.lines = a.lines
	return a, nil
}

// AdminAddr is the address the admin page listens on.
func (a *Appliance) AdminAddr() net.Addr { return a.admin.Addr() }

// SIPAddr is the address of the SIP agent's UDP socket.
func (a *Appliance) SIPAddr() string { return a.agent.Addr().String() }

// Run runs the appliance until ctx is done, or until the admin page asks for a restart:
// then it returns ErrRestart, once stopped. On the way out the handsets hang up and the
// accounts unregister while SIP still runs; then SIP, audio and the admin page stop and
// the settings database is closed.
func (a *Appliance) Run(ctx context.Context) error {
	defer func() {
		if err := removePID(a.pidFile); err != nil {
			a.log.Warn("stop", "err", err)
		}
	}()
	defer a.store.Close()
	defer a.hw.close()
	// The remote syslog sends while the appliance runs.
	if set, err := a.store.Settings(); err == nil {
		a.applySyslog(set)
	} else {
		a.log.Warn("remote syslog", "err", err)
	}
	defer a.applySyslog(settings.Settings{})

	// SIP and audio outlive the handsets and registrations, which need them to say goodbye.
	base, stopBase := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBase()
	var baseWG sync.WaitGroup
	errs := make(chan error, 4)
	baseWG.Go(func() {
		if err := a.agent.Run(base); err != nil && base.Err() == nil {
			errs <- fmt.Errorf("SIP: %w", err)
		}
	})
	baseWG.Go(func() {
		if err := a.hw.audio.Run(base, a.hw.hub.Process); err != nil && base.Err() == nil {
			errs <- fmt.Errorf("audio: %w", err)
		}
	})
	baseWG.Go(func() { a.hw.hub.Run(base) }) // the handsets' calls' audio
	// The expanders' switches report only while the hardware runs: it outlives the lines.
	baseWG.Go(func() {
		if err := a.hw.run(base); err != nil && base.Err() == nil {
			errs <- fmt.Errorf("hardware: %w", err)
		}
	})
	// A call button held as the appliance starts resets the admin password (presence):
	// the admin page and the lines wait the startProbe for it, the rest does not.
	probed := make(chan struct{})
	baseWG.Go(func() {
		defer close(probed)
		if err := a.resetIfHeldAtStart(base); err != nil {
			a.log.Error("reset by a held button", "err", err)
		}
	})
	baseWG.Go(func() {
		<-probed
		if err := a.serveAdmin(base); err != nil {
			errs <- fmt.Errorf("admin page: %w", err)
		}
	})
	a.log.Info("partyline running", "admin", a.adminURL(), "sip", a.agent.Addr())

	work, stopWork := context.WithCancel(ctx)
	var workWG sync.WaitGroup
	workWG.Go(func() {
		select {
		case <-probed:
		case <-work.Done():
			return
		}
		for _, l := range a.lines {
			workWG.Go(func() { _ = l.Run(work) })
		}
		// The watchdog checks the lines: it starts with them.
		workWG.Go(func() { tellSystemd(work, a.log, a.watchedLoops()) })
	})
	workWG.Go(func() { a.regs.run(work, a.store) })
	workWG.Go(func() { a.services.run(work) })
	workWG.Go(func() { a.saves.run(work) })
	workWG.Go(func() { a.rosters.run(work) })
	workWG.Go(func() { a.bridges.run(work) })
	workWG.Go(func() { a.ringer.run(work) })
	workWG.Go(func() { a.prov.Run(work) })
	workWG.Go(func() { a.settleUpdate(work) })

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	case <-a.restart:
		a.log.Info("restarting, as asked on the admin page")
		runErr = ErrRestart
	}
	a.capture.Stop()
	stopWork()
	workWG.Wait()
	stopBase()
	baseWG.Wait()
	a.log.Info("partyline stopped")
	return runErr
}

// openBoard chooses the board profile (from the flag, else the settings saved before, else
// detected), writes the first-start settings for its handsets, and opens its hardware with
// the settings' pin overrides. The settings must not keep the device from starting: when
// the board or the pins they choose do not open, openBoard logs why and opens the board the
// flag names or detection finds, without pin overrides; found says so for the admin page.
func openBoard(cfg Config, store *config.Store, log *slog.Logger) (p board.Profile, found string, set settings.Settings, h *hardware, err error) {
	saved, err := store.Settings()
	if err != nil && !errors.Is(err, config.ErrNoSettings) {
		return p, "", set, nil, err
	}
	p, found, h, err = openProfile(cfg, cfg.Board, saved.Board, saved.Pins, log)
	if err != nil && ((cfg.Board == "" && saved.Board != "") || len(saved.Pins) > 0) {
		log.Error("the board or the pins in the settings do not open; running without them", "err", err)
		failed := err
		p, found, h, err = openProfile(cfg, cfg.Board, "", nil, log)
		found = fmt.Sprintf("%s, because the board or pins in the settings failed: %v", found, failed)
	}
	if err != nil {
		return p, "", set, nil, err
	}
	log.Info("board", "profile", p.Name, "found", found, "handsets", len(p.Handsets))
	if err := store.EnsureDefaults(len(p.Handsets)); err != nil {
		return p, "", set, nil, errors.Join(err, h.close())
	}
	if set, err = store.Settings(); err != nil {
		return p, "", set, nil, errors.Join(err, h.close())
	}
	return p, found, set, h, nil
}

// firstStart returns the option that has the settings file written with its first-start
// settings as it is made, when there is no file at path yet: the board, which cannot come
// from settings then, is known before the file opens, and the first start waits for one
// write transaction fewer. Otherwise, or if the board is not known, openBoard writes them.
func firstStart(cfg Config, path string) []config.Option {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	p, _, err := selectBoard(cfg.Board, "")
	if err == nil {
		p, err = fitProfile(cfg, p)
	}
	if err != nil {
		return nil // openBoard says why
	}
	return []config.Option{config.WithFirstStart(len(p.Handsets))}
}

// openProfile opens the hardware of the board selectBoard(flag, setting) chooses, fitted
// to what cfg brings (a test's sim board or ALSA device), with pins overriding its lines.
func openProfile(cfg Config, flag, setting string, pins []settings.PinOverride, log *slog.Logger) (board.Profile, string, *hardware, error) {
	p, found, err := selectBoard(flag, setting)
	if err != nil {
		return p, "", nil, err
	}
	if p, err = fitProfile(cfg, p); err != nil {
		return p, "", nil, err
	}
	if p, err = withPins(p, pins); err != nil {
		return p, "", nil, err
	}
	h, err := openHardware(p, cfg.Sim, log)
	return p, found, h, err
}

// fitProfile fits board profile p to what cfg brings: a test's sim board or ALSA device.
func fitProfile(cfg Config, p board.Profile) (board.Profile, error) {
	if cfg.Sim != nil && p.Name == board.Sim.Name {
		// The sim board a test brings decides how many handsets there are.
		p.Handsets = make([]board.HandsetPins, cfg.Sim.Handsets())
		p.Audio.Channels = cfg.Sim.Handsets()
	}
	if cfg.Audio != nil {
		if cfg.Audio.Device == "" || cfg.Audio.Channels != len(p.Handsets) {
			return p, fmt.Errorf("audio device %q with %d channels: want an ALSA device with one channel for each of the %d handsets",
				cfg.Audio.Device, cfg.Audio.Channels, len(p.Handsets))
		}
		p.Audio = *cfg.Audio
	}
	return p, nil
}

// selectBoard chooses the board profile: flag (the -board flag, "" when not given) wins
// over setting (the settings' board, "" when not set); "auto", or neither, detects it. It
// says how the board was chosen.
func selectBoard(flag, setting string) (board.Profile, string, error) {
	name, how := flag, "chosen with -board"
	if name == "" {
		name, how = setting, "chosen in the settings"
	}
	if name == "" || name == "auto" {
		p, found, err := board.Detect()
		if err != nil {
			return board.Profile{}, "", fmt.Errorf("detect board: %w", err)
		}
		return p, found, nil
	}
	p, err := board.ByName(name)
	if err != nil {
		return board.Profile{}, "", fmt.Errorf("board %s: %w", how, err)
	}
	return p, how, nil
}

// checkBoard checks the settings' board: "" (detect it), the name of a profile, or sim:N.
func checkBoard(name string) error {
	if name == "" {
		return nil
	}
	if _, err := board.ByName(name); err != nil {
		return &settings.FieldError{Field: "board", Msg: fmt.Sprintf("no board profile %q; the profiles are %s, and sim:N for N simulated handsets", name, strings.Join(board.Names(), ", "))}
	}
	return nil
}

// buttons returns the handset's buttons by the input names the gesture mapping uses.
func (h handsetHW) buttons() map[string]hw.Switch {
	b := map[string]hw.Switch{}
	if h.button != nil {
		b["button"] = h.button
	}
	if h.mute != nil {
		b["mute"] = h.mute
	}
	return b
}
