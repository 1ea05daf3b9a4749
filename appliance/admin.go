package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"partyline/appliance/config"
	"partyline/appliance/settings"
	"partyline/appliance/web"
)

// needsTLS reports whether the admin page listening on addr is served over HTTPS: always,
// unless it listens on loopback only (localhost, 127.0.0.0/8, ::1), where nobody else can
// read the traffic, or plainHTTP asks for plain HTTP anyway. An address that listens on
// every interface (":8080", "0.0.0.0:8080") or names a host gets HTTPS.
func needsTLS(addr string, plainHTTP bool) bool {
	if plainHTTP {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // net.Listen refuses it anyway
	}
	if host == "localhost" {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback()
}

// adminTLSConfig returns the admin page's TLS configuration and the SHA-256 fingerprint of
// its certificate, or nil and "" when the page is served over plain HTTP (see needsTLS).
// The certificate is self-signed and made on the first start that needs it, then kept in
// the settings file (config.Store.TLSCertificate). Its fingerprint is logged at every
// start, so that users can compare it with what their browser shows before they trust it.
func adminTLSConfig(cfg Config, store *config.Store, log *slog.Logger) (*tls.Config, string, error) {
	if !needsTLS(cfg.AdminAddr, cfg.AdminPlainHTTP) {
		return nil, "", nil
	}
	pair, err := certificate(cfg, store, log)
	if err != nil {
		return nil, "", err
	}
	fingerprint := web.Fingerprint(pair.Leaf.Raw)
	log.Info("admin page certificate", "sha256", fingerprint, "hosts", append(pair.Leaf.DNSNames, ipStrings(pair.Leaf.IPAddresses)...))
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, fingerprint, nil
}

// certificate returns the appliance's certificate, the admin page's: self-signed, made on
// the first start that serves the page over HTTPS and then kept in the settings file
// (config.Store.TLSCertificate).
func certificate(cfg Config, store *config.Store, log *slog.Logger) (tls.Certificate, error) {
	certPEM, keyPEM, err := store.TLSCertificate(func() ([]byte, []byte, error) {
		hosts := certificateHosts(cfg.AdminAddr)
		log.Info("making the admin page's certificate", "hosts", hosts)
		return web.NewCertificate(hosts)
	})
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("admin page certificate: %w", err)
	}
	return pair, nil
}

// sipTLSConfig returns the server side of SIP over TLS, or nil when the settings turn it
// off. It uses the appliance's certificate, the admin page's, if one was made; until then
// (the page was only ever served on loopback, over plain HTTP) a self-signed one made for
// this run, whose fingerprint changes at every start. It asks callers for no certificate:
// who may call in is the bridges' rules.
func sipTLSConfig(cfg Config, store *config.Store, set settings.Settings, log *slog.Logger) (*tls.Config, error) {
	if set.SIP.TLSListenAddr == settings.TLSOff {
		return nil, nil
	}
	certPEM, keyPEM, err := store.StoredTLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("SIP over TLS: %w", err)
	}
	kept := certPEM != nil
	if !kept {
		if certPEM, keyPEM, err = web.NewCertificate(certificateHosts(cfg.AdminAddr)); err != nil {
			return nil, fmt.Errorf("SIP over TLS: %w", err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("SIP over TLS certificate: %w", err)
	}
	log.Info("SIP over TLS certificate", "sha256", web.Fingerprint(pair.Leaf.Raw), "shared_with_admin_page", kept)
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// certificateHosts are the names the admin page's certificate is made for: the machine's
// host name (and its .local mDNS name), localhost and the loopback addresses, and the
// listen address's host when it names one.
func certificateHosts(addr string) []string {
	var hosts []string
	if name, err := os.Hostname(); err == nil && name != "" {
		hosts = append(hosts, name)
		if !strings.Contains(name, ".") {
			hosts = append(hosts, name+".local")
		}
	}
	hosts = append(hosts, "localhost", "127.0.0.1", "::1")
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

func ipStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}

// adminURL is the address of the admin page, with its scheme.
func (a *Appliance) adminURL() string {
	if a.adminTLS != nil {
		return "https://" + a.admin.Addr().String()
	}
	return "http://" + a.admin.Addr().String()
}

// serveAdmin serves the admin page until ctx is done, with the watcher that fills the
// page's event log.
func (a *Appliance) serveAdmin(ctx context.Context) error {
	b := serviceBackend{backend{a}, a.services}
	log := a.log.With("part", "web")
	srv := web.NewServer(ctx, web.Handler(pageBackend{b}, log), log)
	srv.TLSConfig = a.adminTLS
	if err := announceSetupCode(a.store, a.adminURL(), log); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	wg.Go(func() { b.watch(wctx) })

	log.Info("admin page", "url", a.adminURL())
	// Serve returns as soon as Shutdown begins; serveAdmin returns once Shutdown has let
	// the requests in flight finish (a restart's answer among them), or given up on them.
	shutDown := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutDown)
		sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer func() {
		if !stop() {
			<-shutDown
		}
	}()
	var err error
	l := web.LimitConnections(a.admin, web.MaxConnsPerClient)
	if a.adminTLS != nil {
		err = srv.ServeTLS(l, "", "") // the certificate is in TLSConfig
	} else {
		err = srv.Serve(l)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
