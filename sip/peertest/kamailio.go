package peertest

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KamailioConfig configures StartKamailio.
type KamailioConfig struct {
	Domain string                    // the SIP domain (AOR host); Kamailio treats it as its own
	Realm  string                    // the digest realm; differs from Domain in tests
	Users  map[string]string         // user -> password
	Routes map[string]netip.AddrPort // request-URI user -> where an authenticated INVITE goes
	// TLSRoutes are Routes that go over TLS (Kamailio's client side verifies nothing);
	// they need TLS.
	TLSRoutes map[string]netip.AddrPort

	// Trusted lists users who may send requests under any From (a trunk
	// impersonating handsets, a service account with generated
	// identities); everyone else must authenticate as the From user.
	Trusted []string
	// RefuseDuplicateFrom makes Kamailio act like a conference server
	// with a unique roster: an INVITE to a Routes user whose From URI
	// already has a call through it (from the INVITE on, until a
	// failure answer or a BYE) gets 486 Already In Conference.
	RefuseDuplicateFrom bool
	// TCP makes Kamailio listen on TCP too, on the UDP port's number.
	TCP bool
	// ChallengeInDialog makes Kamailio challenge (407, statefully) every
	// in-dialog request but ACK whose From user is one of Users, until it
	// carries that user's credentials, as proxies that authenticate
	// every request do. InDialogChallenges counts the challenges.
	ChallengeInDialog bool
	// TLS, if not nil, makes Kamailio listen for SIP over TLS too, on a
	// port of its own (TLSAddr).
	TLS *KamailioTLS
	// RelayTimeout is how long Kamailio waits for any answer to a request
	// it relayed before it answers 408 Request Timeout itself (tm's
	// fr_timer), as to a conference that vanished; 0 keeps Kamailio's
	// default, 30 s.
	RelayTimeout time.Duration
}

// KamailioTLS is the server side of Kamailio's TLS listener: PEM files
// that the test wrote, e.g. into t.TempDir(). Kamailio asks clients for
// no certificate, and verifies none when it connects over TLS itself.
type KamailioTLS struct {
	CertFile string // the server certificate, then any intermediates
	KeyFile  string // its private key (PKCS #8, PKCS #1 or SEC 1)
}

// Kamailio is a running kamailio registrar and proxy without a database.
type Kamailio struct {
	cfg     KamailioConfig
	dir     string
	port    uint16
	tlsPort uint16 // 0 without TLS
	starts  int
	cmd     *exec.Cmd
	log     string // the current run's log file
	done    chan struct{}
}

// StartKamailio starts kamailio in the foreground on 127.0.0.1 and returns
// once it answers OPTIONS. REGISTER is challenged with 401 (digest, MD5,
// qop=auth, realm cfg.Realm) and stored in memory; INVITEs from users are
// challenged with 407 and, once authenticated (as the From user, unless
// cfg.Trusted lists the user), record-routed to cfg.Routes[request-URI
// user] or to the user's registered contact; in-dialog requests are
// relayed with loose_route; unknown users get 404. OPTIONS to kamailio
// itself get 200, as keep-alives want. Requests may come and go over any
// of its transports: UDP, and TCP and TLS if cfg asks for them.
// Its log is written to t.Log if the test failed; it is killed in t.Cleanup.
func StartKamailio(t testing.TB, cfg KamailioConfig) *Kamailio {
	t.Helper()
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Fatal("kamailio not found: run make test (installs kamailio, sip-tester)")
	}
	k := &Kamailio{cfg: cfg, dir: t.TempDir()}
	t.Cleanup(func() {
		k.stop()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", tail(k.readLog(), 8000))
		}
	})
	var lastErr error
	for range startAttempts {
		k.port = freePort(t, cfg.TCP)
		if cfg.TLS != nil {
			k.tlsPort = freePort(t, true)
		}
		if lastErr = k.start(); lastErr == nil {
			return k
		}
	}
	t.Fatalf("start kamailio: %v\n%s", lastErr, tail(k.readLog(), 4000))
	return nil
}

// Addr returns the address kamailio receives SIP on.
func (k *Kamailio) Addr() netip.AddrPort { return loopback(k.port) }

// TLSAddr returns the address kamailio receives SIP over TLS on, the zero
// AddrPort without KamailioConfig.TLS.
func (k *Kamailio) TLSAddr() netip.AddrPort {
	if k.tlsPort == 0 {
		return netip.AddrPort{}
	}
	return loopback(k.tlsPort)
}

// Registrations returns how many REGISTER requests binding a contact for
// user kamailio accepted (200 OK) since it last started: 0 means user never
// registered, each refresh adds one. Unregistrations (Expires: 0) are not
// counted; use Registered to learn whether a binding exists now.
func (k *Kamailio) Registrations(user string) int {
	return strings.Count(k.readLog(), "peertest: registered user="+user+" ")
}

// InDialogChallenges returns how many in-dialog requests with method
// (e.g. "BYE") ChallengeInDialog challenged since kamailio last started.
func (k *Kamailio) InDialogChallenges(method string) int {
	return strings.Count(k.readLog(), "peertest: challenged in-dialog method="+method+" ")
}

// Registered reports whether user has a binding in kamailio's location
// table now (it asks kamailio over its control socket, kamcmd ul.lookup).
func (k *Kamailio) Registered(user string) bool {
	out, err := exec.Command("kamcmd", "-s", "unix:"+k.ctlSocket(), "ul.lookup", "location", user).CombinedOutput()
	return err == nil && strings.Contains(string(out), "Contact")
}

// Binding returns what kamailio's location table holds for user (kamcmd
// ul.lookup: contacts, expiry, the socket they came in on), or "" if
// nothing.
func (k *Kamailio) Binding(user string) string {
	out, err := exec.Command("kamcmd", "-s", "unix:"+k.ctlSocket(), "ul.lookup", "location", user).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// Restart stops kamailio and starts it again on the same port; every
// registration is lost, and so is the roster of RefuseDuplicateFrom.
func (k *Kamailio) Restart(t testing.TB) {
	t.Helper()
	k.Stop()
	k.Start(t)
}

// Stop stops kamailio (SIGINT, then SIGKILL to it and its workers after
// stopTimeout); requests to its port go unanswered until Start. Stopping
// a stopped kamailio does nothing.
func (k *Kamailio) Stop() { k.stop() }

// Start starts a stopped kamailio again on the same port, with an empty
// location table. Starting a running one does nothing.
func (k *Kamailio) Start(t testing.TB) {
	t.Helper()
	if k.cmd != nil {
		return
	}
	var err error
	for range startAttempts {
		if err = k.start(); err == nil {
			return
		}
	}
	t.Fatalf("start kamailio again: %v\n%s", err, tail(k.readLog(), 4000))
}

func (k *Kamailio) ctlSocket() string { return filepath.Join(k.dir, "kamailio.ctl") }

func (k *Kamailio) readLog() string {
	b, err := os.ReadFile(k.log)
	if err != nil {
		return ""
	}
	return string(b)
}

func (k *Kamailio) start() error {
	k.starts++
	cfgFile := filepath.Join(k.dir, fmt.Sprintf("kamailio-%d.cfg", k.starts))
	tlsCfg := ""
	if k.cfg.TLS != nil {
		tlsCfg = filepath.Join(k.dir, "tls.cfg")
		if err := os.WriteFile(tlsCfg, []byte(kamailioTLSCfg(*k.cfg.TLS)), 0o644); err != nil {
			return fmt.Errorf("write TLS config: %w", err)
		}
	}
	if err := os.WriteFile(cfgFile, []byte(kamailioCfg(k.cfg, k.port, k.tlsPort, tlsCfg, k.ctlSocket())), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	k.log = filepath.Join(k.dir, fmt.Sprintf("kamailio-%d.log", k.starts))
	logFile, err := os.Create(k.log)
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command("kamailio", "-DD", "-E", "-w", k.dir, "-f", cfgFile, "-m", "32", "-M", "8")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A group of its own: kamailio forks its workers, and a kill must reach them too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run kamailio: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	k.cmd, k.done = cmd, done
	if err := k.waitReady(); err != nil {
		k.stop()
		return err
	}
	return nil
}

// waitReady sends OPTIONS over UDP until kamailio answers, bounded by
// readyTimeout.
func (k *Kamailio) waitReady() error {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fmt.Errorf("probe socket: %w", err)
	}
	defer c.Close()
	lport := c.LocalAddr().(*net.UDPAddr).Port
	to := net.UDPAddrFromAddrPort(k.Addr())
	buf := make([]byte, 4096)
	deadline := time.Now().Add(readyTimeout)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-k.done:
			return fmt.Errorf("kamailio exited on port %d", k.port)
		default:
		}
		msg := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKprobe%d\r\nMax-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:%s>\r\nCall-ID: probe-%d@127.0.0.1\r\nCSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n",
			to, lport, i, to, k.port, i+1)
		if _, err := c.WriteToUDP([]byte(msg), to); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := c.ReadFromUDP(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 ") {
			return nil
		}
	}
	return fmt.Errorf("kamailio did not answer OPTIONS on port %d within %v", k.port, readyTimeout)
}

func (k *Kamailio) stop() {
	if k.cmd == nil {
		return
	}
	_ = k.cmd.Process.Signal(os.Interrupt)
	select {
	case <-k.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL) // kamailio and its workers
		<-k.done
	}
	k.cmd = nil
}

// kamailioTLSCfg renders the TLS module's configuration (tls.cfg).
func kamailioTLSCfg(c KamailioTLS) string {
	return fmt.Sprintf(`[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %s
private_key = %s

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
`, c.CertFile, c.KeyFile)
}

// kamailioCfg renders the configuration: no database, users and routes in
// htables filled at start. With cfg.TLS, it listens for TLS on tlsPort
// with the TLS module configured by the file tlsCfg.
func kamailioCfg(cfg KamailioConfig, port, tlsPort uint16, tlsCfg, ctl string) string {
	var init strings.Builder
	users := make([]string, 0, len(cfg.Users))
	for u := range cfg.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		fmt.Fprintf(&init, "\t$sht(cred=>%s) = %q;\n", u, cfg.Users[u])
	}
	routes := make([]string, 0, len(cfg.Routes))
	for u := range cfg.Routes {
		routes = append(routes, u)
	}
	sort.Strings(routes)
	for _, u := range routes {
		fmt.Fprintf(&init, "\t$sht(routes=>%s) = \"sip:%s\";\n", u, cfg.Routes[u])
	}
	tlsRoutes := slices.Sorted(maps.Keys(cfg.TLSRoutes))
	for _, u := range tlsRoutes {
		fmt.Fprintf(&init, "\t$sht(routes=>%s) = \"sip:%s;transport=tls\";\n", u, cfg.TLSRoutes[u])
	}
	trusted := slices.Clone(cfg.Trusted)
	sort.Strings(trusted)
	for _, u := range trusted {
		fmt.Fprintf(&init, "\t$sht(trusted=>%s) = 1;\n", u)
	}
	listen := "disable_tcp=yes\nlisten=udp:127.0.0.1:@PORT@"
	if cfg.TCP || cfg.TLS != nil {
		listen = "tcp_children=1\nlisten=udp:127.0.0.1:@PORT@"
	}
	if cfg.TCP {
		listen += "\nlisten=tcp:127.0.0.1:@PORT@"
	}
	tlsModule := ""
	if cfg.TLS != nil {
		listen += fmt.Sprintf("\nenable_tls=yes\nlisten=tls:127.0.0.1:%d\nalias=\"127.0.0.1:%d\"", tlsPort, tlsPort)
		tlsModule = fmt.Sprintf("loadmodule \"tls.so\"\nmodparam(\"tls\", \"config\", %q)\n", tlsCfg)
	}
	rosterCheck, rosterBye := "", ""
	if cfg.RefuseDuplicateFrom {
		rosterCheck = rosterCheckCfg
		rosterBye = rosterByeCfg
	}
	dialogAuth := ""
	if cfg.ChallengeInDialog {
		dialogAuth = dialogAuthCfg
	}
	tm := ""
	if cfg.RelayTimeout > 0 {
		tm = fmt.Sprintf("modparam(\"tm\", \"fr_timer\", %d)", cfg.RelayTimeout.Milliseconds())
	}
	r := strings.NewReplacer("@TM@", tm, "@LISTEN@", listen, "@ROSTER_CHECK@", rosterCheck, "@ROSTER_BYE@", rosterBye, "@DIALOG_AUTH@", dialogAuth, "@TLS_MODULE@", tlsModule)
	text := r.Replace(kamailioTemplate)
	r = strings.NewReplacer("@PORT@", fmt.Sprint(port), "@DOMAIN@", cfg.Domain, "@REALM@", cfg.Realm, "@CTL@", ctl, "@INIT@", init.String())
	return r.Replace(text)
}

// rosterCheckCfg refuses an INVITE into a conference whose From URI has a
// call in it already, and otherwise puts the From URI in the roster until
// a failure answer (onreply_route ROSTER) or a BYE (rosterByeCfg) takes
// it out. Kamailio runs one UDP worker, so the check and the insertion
// cannot interleave with another INVITE's.
const rosterCheckCfg = `		if ($sht(roster=>$fu) != $null) {
			xlog("L_NOTICE", "peertest: refused duplicate from=$fu\n");
			sl_send_reply("486", "Already In Conference");
			exit;
		}
		$sht(roster=>$fu) = $ci;
		t_on_reply("ROSTER");
`

// rosterByeCfg takes the identity of a call out of the roster on its BYE,
// whichever side sends it.
const rosterByeCfg = `		if (is_method("BYE")) {
			if ($sht(roster=>$fu) == $ci) {
				$sht(roster=>$fu) = $null;
			}
			if ($sht(roster=>$tu) == $ci) {
				$sht(roster=>$tu) = $null;
			}
		}
`

// dialogAuthCfg challenges in-dialog requests of the users statefully:
// the ACK of the 407 then matches the transaction and is absorbed instead
// of being routed on to the far end like an ACK of a 2xx. An ACK that
// matches none goes on.
const dialogAuthCfg = `		if (is_method("ACK")) {
			if (t_check_trans()) {
				exit;
			}
		} else if ($sht(cred=>$fU) != $null) {
			t_newtran();
			if ($au == $null || $sht(cred=>$au) == $null || !pv_auth_check("@REALM@", "$sht(cred=>$au)", "0", "1")) {
				xlog("L_NOTICE", "peertest: challenged in-dialog method=$rm cseq=$cs \n");
				auth_challenge("@REALM@", "1");
				exit;
			}
			consume_credentials();
		}
`

const kamailioTemplate = `#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
# One UDP worker: with more, requests sent back to back (an ACK and the BYE
# right after it) are relayed in parallel and may overtake each other,
# which SIPp's scenarios reject.
children=1
@LISTEN@
auto_aliases=no
alias="@DOMAIN@"
alias="127.0.0.1:@PORT@"

loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "htable.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
@TLS_MODULE@
@TM@
modparam("ctl", "binrpc", "unix:@CTL@")
modparam("htable", "htable", "cred=>size=4;")
modparam("htable", "htable", "routes=>size=4;")
modparam("htable", "htable", "trusted=>size=4;")
modparam("htable", "htable", "roster=>size=8;")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", 1)
modparam("registrar", "default_expires", 60)
modparam("registrar", "max_expires", 3600)
modparam("auth", "nonce_expire", 30)
modparam("rr", "enable_full_lr", 1)

event_route[htable:mod-init] {
@INIT@}

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "OK");
		exit;
	}
	if (has_totag()) {
@DIALOG_AUTH@@ROSTER_BYE@		if (loose_route()) {
			route(RELAY);
		}
		if (is_method("ACK")) {
			if (t_check_trans()) {
				route(RELAY);
			}
			exit;
		}
		sl_send_reply("404", "Not Here");
		exit;
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	t_check_trans();
	if (is_method("REGISTER")) {
		route(AUTH);
		# Save without replying, log, then reply: a test that has the
		# 200 OK in hand finds the registration counted.
		if (!save("location", "0x02")) {
			sl_reply_error();
			exit;
		}
		if ($hdr(Expires) == "0") {
			xlog("L_NOTICE", "peertest: unregistered user=$tU \n");
		} else {
			xlog("L_NOTICE", "peertest: registered user=$tU \n");
		}
		reg_send_reply();
		exit;
	}
	if (!is_method("INVITE")) {
		sl_send_reply("405", "Method Not Allowed");
		exit;
	}
	route(AUTH);
	if ($sht(routes=>$rU) != $null) {
@ROSTER_CHECK@		record_route();
		$du = $sht(routes=>$rU);
		route(RELAY);
	}
	if ($sht(cred=>$rU) == $null) {
		sl_send_reply("404", "Not Found");
		exit;
	}
	if (!lookup("location")) {
		sl_send_reply("480", "Temporarily Unavailable");
		exit;
	}
	record_route();
	route(RELAY);
}

# AUTH challenges missing or stale credentials (401 for REGISTER, 407
# otherwise) and refuses wrong ones with 403.
route[AUTH] {
	if ($au != $null && $sht(cred=>$au) == $null) {
		sl_send_reply("403", "Forbidden");
		exit;
	}
	if ($au != $null && $sht(trusted=>$au) != $null) {
		# Trusted: any From.
		pv_auth_check("@REALM@", "$sht(cred=>$au)", "0", "0");
	} else {
		pv_auth_check("@REALM@", "$sht(cred=>$au)", "0", "1");
	}
	$var(rc) = $rc;
	if ($var(rc) == -2) {
		sl_send_reply("403", "Forbidden");
		exit;
	}
	if ($var(rc) < 0) {
		auth_challenge("@REALM@", "1");
		exit;
	}
	consume_credentials();
}

# ROSTER takes an identity out of the roster when its INVITE fails.
onreply_route[ROSTER] {
	if ($rs >= 300 && $sht(roster=>$fu) == $ci) {
		$sht(roster=>$fu) = $null;
	}
}

route[RELAY] {
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}
`
