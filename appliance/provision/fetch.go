package provision

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"partyline/appliance/settings"
)

// maxDocument bounds a provisioning document, as the import bounds a settings file.
const maxDocument = 1 << 20

// fetchTimeout bounds one fetch of the document and its signature.
const fetchTimeout = 30 * time.Second

// downloadTimeout bounds the download of a firmware package.
const downloadTimeout = 10 * time.Minute

// The reasons a round fails, the label of partyline_provisioning_failures_total.
const (
	ReasonFetch       = "fetch"       // no answer, or an HTTP error
	ReasonCertificate = "certificate" // the server's certificate is not trusted
	ReasonSignature   = "signature"   // the signature is missing or does not verify
	ReasonInvalid     = "invalid"     // the document does not parse or validate
)

// Reasons are the reasons a round fails, each a series of the failure counter.
var Reasons = []string{ReasonFetch, ReasonCertificate, ReasonSignature, ReasonInvalid}

// A Failure is a round that changed nothing, and why.
type Failure struct {
	Reason string // one of Reasons
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// errFingerprint is a server certificate that is not the pinned one.
var errFingerprint = errors.New("the server's certificate is not the one whose SHA-256 fingerprint the settings pin")

// client returns an HTTP client that trusts what p says: the certificate its fingerprint
// pins, else the CAs of p.CA, else roots (nil: the system's).
func client(p settings.ProvisioningSettings, roots *x509.CertPool) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	switch {
	case p.Fingerprint != "":
		want, err := settings.ParseFingerprint(p.Fingerprint)
		if err != nil {
			return nil, err
		}
		// The pin replaces the chain's check: a self-signed server certificate is fine.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errFingerprint
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("%w (it has %x)", errFingerprint, got)
			}
			return nil
		}
	case p.CA != "":
		pool, err := settings.CertPool(p.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	tr := &http.Transport{TLSClientConfig: cfg, Proxy: http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: fetchTimeout}
	return &http.Client{Transport: tr, Timeout: fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return errors.New("redirected away from https")
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		}}, nil
}

// A response is a fetched document, or a 304.
type response struct {
	body         []byte
	etag, lastMo string
	notModified  bool
}

// get fetches u with p's credentials, the validators of the last document, and the
// user agent ua.
func get(ctx context.Context, c *http.Client, u string, p settings.ProvisioningSettings, ua, etag, lastMod string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return response{}, &Failure{ReasonFetch, fmt.Errorf("request %s: %w", u, err)}
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", "application/json")
	switch {
	case p.Token != "":
		req.Header.Set("Authorization", "Bearer "+p.Token)
	case p.User != "":
		req.SetBasicAuth(p.User, p.Password)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lastMod != "" {
		req.Header.Set("If-Modified-Since", lastMod)
	}
	res, err := c.Do(req)
	if err != nil {
		reason := ReasonFetch
		var verify *tls.CertificateVerificationError
		if errors.As(err, &verify) || errors.Is(err, errFingerprint) {
			reason = ReasonCertificate
		}
		return response{}, &Failure{reason, fmt.Errorf("fetch %s: %w", redact(u), err)}
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotModified:
		return response{notModified: true, etag: etag, lastMo: lastMod}, nil
	case res.StatusCode != http.StatusOK:
		return response{}, &Failure{ReasonFetch, fmt.Errorf("fetch %s: the server answered %s", redact(u), res.Status)}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocument+1))
	if err != nil {
		return response{}, &Failure{ReasonFetch, fmt.Errorf("read %s: %w", redact(u), err)}
	}
	if len(body) > maxDocument {
		return response{}, &Failure{ReasonInvalid, fmt.Errorf("%s is larger than %d KiB", redact(u), maxDocument>>10)}
	}
	return response{body: body, etag: res.Header.Get("ETag"), lastMo: res.Header.Get("Last-Modified")}, nil
}

// open fetches u with p's credentials and the user agent ua, for a firmware package: the
// body of a 200, which the caller closes.
func open(ctx context.Context, c *http.Client, u string, p settings.ProvisioningSettings, ua string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", redact(u), err)
	}
	req.Header.Set("User-Agent", ua)
	switch {
	case p.Token != "":
		req.Header.Set("Authorization", "Bearer "+p.Token)
	case p.User != "":
		req.SetBasicAuth(p.User, p.Password)
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", redact(u), err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("fetch %s: the server answered %s", redact(u), res.Status)
	}
	return res.Body, nil
}

// SignatureURL is where the signature of the document at u is: u with ".sig" added to
// its path (https://prov/partyline/{mac}.json.sig), its query kept.
func SignatureURL(u string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	parsed.Path += ".sig"
	parsed.RawPath = ""
	return parsed.String(), nil
}

// verify fetches the detached signature of body, published at SignatureURL(u) as the 64
// bytes of the ed25519 signature or their base64, and checks it with key.
func verify(ctx context.Context, c *http.Client, u string, p settings.ProvisioningSettings, ua string, key ed25519.PublicKey, body []byte) error {
	su, err := SignatureURL(u)
	if err != nil {
		return &Failure{ReasonSignature, err}
	}
	res, err := get(ctx, c, su, p, ua, "", "")
	if err != nil {
		var f *Failure
		if errors.As(err, &f) && f.Reason == ReasonFetch {
			f.Reason = ReasonSignature
			f.Err = fmt.Errorf("the settings ask for a signed document, and its signature cannot be had: %w", f.Err)
		}
		return err
	}
	sig := res.body
	if len(sig) != ed25519.SignatureSize {
		sig, err = base64.StdEncoding.DecodeString(string(bytes.TrimSpace(res.body)))
		if err != nil || len(sig) != ed25519.SignatureSize {
			return &Failure{ReasonSignature, fmt.Errorf("%s is not an ed25519 signature (64 bytes, or their base64)", redact(su))}
		}
	}
	if !ed25519.Verify(key, body, sig) {
		return &Failure{ReasonSignature, fmt.Errorf("the signature %s does not verify with the public key in the settings: the document is not the one that was signed", redact(su))}
	}
	return nil
}

// redact is u without credentials written in it.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Redacted()
}

// host is u's host and port, "" when u does not parse.
func host(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}
