package settings

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// ProvisioningSettings say where the appliance fetches its provisioning document and how
// it trusts it (see appliance/provision).
type ProvisioningSettings struct {
	// URL is the document's https:// URL, in which {mac}, {serial} and {model} stand for
	// the device's; "" takes it from DHCP option 160 or 66, ProvisioningOff fetches none.
	URL string `json:"url"`
	// CA is PEM text of the certificate authorities the server's certificate must chain to,
	// instead of the system's; "" trusts the system's.
	CA string `json:"ca,omitempty"`
	// Fingerprint, when set, is the SHA-256 of the server's certificate (64 hex digits,
	// colons allowed): that certificate and no other is accepted, whoever signed it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// User and Password are HTTP basic credentials; Token a bearer token instead. The
	// password and the token are secrets, like the account passwords.
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	// PublicKey, when set, is the base64 ed25519 public key that must have signed every
	// document (a detached signature at the document's URL + ".sig").
	PublicKey string `json:"public_key,omitempty"`
	// IntervalMinutes is how often the document is fetched again; 0 means
	// DefaultProvisioningMinutes.
	IntervalMinutes int `json:"interval_minutes,omitempty"`
}

// ProvisioningOff is ProvisioningSettings.URL for no provisioning, DHCP's neither.
const ProvisioningOff = "off"

// DefaultProvisioningMinutes is the interval of ProvisioningSettings.IntervalMinutes 0.
const DefaultProvisioningMinutes = 60

// maxProvisioningMinutes bounds ProvisioningSettings.IntervalMinutes: a week.
const maxProvisioningMinutes = 7 * 24 * 60

// Interval returns how often the document is fetched.
func (p ProvisioningSettings) Interval() time.Duration {
	if p.IntervalMinutes == 0 {
		return DefaultProvisioningMinutes * time.Minute
	}
	return time.Duration(p.IntervalMinutes) * time.Minute
}

// LogValue implements slog.LogValuer; it leaves the secrets out.
func (p ProvisioningSettings) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", p.URL), slog.Bool("ca", p.CA != ""),
		slog.Bool("fingerprint", p.Fingerprint != ""), slog.Bool("signed", p.PublicKey != ""))
}

// ParseFingerprint returns the 32 bytes of a SHA-256 fingerprint written as 64 hex digits,
// with or without colons.
func ParseFingerprint(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if err != nil || len(b) != 32 {
		return nil, errors.New("not a SHA-256 fingerprint: 64 hex digits, colons allowed")
	}
	return b, nil
}

// ParsePublicKey returns the ed25519 public key written in base64.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("not an ed25519 public key: 32 bytes in base64 (44 characters)")
	}
	return ed25519.PublicKey(b), nil
}

// CertPool returns the CAs of the PEM text, refusing text without a certificate.
func CertPool(pemText string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest := []byte(pemText)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errors.New("a certificate in it does not parse: " + err.Error())
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate (-----BEGIN CERTIFICATE-----) in it")
	}
	return pool, nil
}

// CheckProvisioningURL checks a provisioning URL template: https, with a host, its
// placeholders among {mac}, {serial} and {model}.
func CheckProvisioningURL(template string) error {
	filled := strings.NewReplacer("{mac}", "m", "{serial}", "s", "{model}", "p").Replace(template)
	if strings.ContainsAny(filled, "{}") {
		return errors.New("the only placeholders are {mac}, {serial} and {model}")
	}
	u, err := url.Parse(filled)
	if err != nil || u.Host == "" {
		return errors.New("not a URL such as https://prov.example.com/partyline/{mac}.json")
	}
	if u.Scheme != "https" {
		return errors.New("must be https: the document holds passwords")
	}
	return nil
}

// checkProvisioning checks every field, reporting all that are invalid, joined.
func checkProvisioning(p ProvisioningSettings) error {
	var errs []error
	if p.URL != "" && p.URL != ProvisioningOff {
		if err := CheckProvisioningURL(p.URL); err != nil {
			errs = append(errs, fieldErr("provisioning.url", "%v", err))
		}
	}
	if p.CA != "" {
		if _, err := CertPool(p.CA); err != nil {
			errs = append(errs, fieldErr("provisioning.ca", "%v", err))
		}
	}
	if p.Fingerprint != "" {
		if _, err := ParseFingerprint(p.Fingerprint); err != nil {
			errs = append(errs, fieldErr("provisioning.fingerprint", "%v", err))
		}
	}
	switch {
	case p.Password != "" && p.User == "":
		errs = append(errs, fieldErr("provisioning.user", "a password needs a user name"))
	case p.User != "" && p.Token != "":
		errs = append(errs, fieldErr("provisioning.token", "either basic credentials (user and password) or a bearer token, not both"))
	case hasControl(p.User) || strings.Contains(p.User, ":"):
		errs = append(errs, fieldErr("provisioning.user", "may contain neither control characters nor a colon"))
	case hasControl(p.Password) || hasControl(p.Token) || strings.ContainsAny(p.Token, " "):
		errs = append(errs, fieldErr("provisioning.token", "the password and the token may contain no control characters, the token no spaces"))
	}
	if p.PublicKey != "" {
		if _, err := ParsePublicKey(p.PublicKey); err != nil {
			errs = append(errs, fieldErr("provisioning.public_key", "%v", err))
		}
	}
	if m := p.IntervalMinutes; m < 0 || m > maxProvisioningMinutes {
		errs = append(errs, fieldErr("provisioning.interval_minutes", "%d is not 0 (every %d minutes) or 1..%d", m, DefaultProvisioningMinutes, maxProvisioningMinutes))
	}
	return errors.Join(errs...)
}
