package settings

import (
	"errors"
	"log/slog"
	"strings"
)

// MetricsSettings says who may read the admin page's /metrics.
type MetricsSettings struct {
	// Access is MetricsLoopback (also ""), MetricsToken or MetricsOff.
	Access string `json:"access"`
	// Token is the bearer token of MetricsToken: a secret, never logged, and exported
	// only with the account passwords.
	Token string `json:"token"`
}

// The access modes of /metrics.
const (
	// MetricsLoopback lets loopback clients in without a session, and others with one.
	MetricsLoopback = "loopback"
	// MetricsToken lets in any client that sends "Authorization: Bearer" and the token.
	MetricsToken = "token"
	// MetricsOff answers nobody.
	MetricsOff = "off"
)

// Limits of MetricsSettings.Token.
const (
	MinMetricsToken = 16
	maxMetricsToken = 256
)

// LogValue implements slog.LogValuer; it leaves the token out.
func (m MetricsSettings) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access", m.Access), slog.Bool("token_set", m.Token != ""))
}

// checkMetrics checks the access mode and the token, reporting both if both are invalid,
// joined (errors.Join). Its messages never quote the token.
func checkMetrics(m MetricsSettings) error {
	var errs []error
	switch m.Access {
	case "", MetricsLoopback, MetricsToken, MetricsOff:
	default:
		errs = append(errs, fieldErr("metrics.access", "%q is not loopback, token or off", m.Access))
	}
	// The characters of a bearer token (RFC 6750 section 2.1), so that it fits in the header.
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+/="
	switch {
	case m.Token == "" && m.Access == MetricsToken:
		errs = append(errs, fieldErr("metrics.token", "token access needs a token"))
	case m.Token == "":
	case len(m.Token) < MinMetricsToken || len(m.Token) > maxMetricsToken:
		errs = append(errs, fieldErr("metrics.token", "must have %d to %d characters", MinMetricsToken, maxMetricsToken))
	case strings.Trim(m.Token, allowed) != "":
		errs = append(errs, fieldErr("metrics.token", "may contain only letters, digits and - . _ ~ + / ="))
	}
	return errors.Join(errs...)
}
