package settings

import (
	"errors"
	"strings"
	"testing"
)

const testToken = "metrics-token-0123456789"

func TestMetricsValidate(t *testing.T) {
	for _, m := range []MetricsSettings{
		{}, {Access: MetricsLoopback}, {Access: MetricsOff}, {Access: MetricsToken, Token: testToken},
		{Access: MetricsLoopback, Token: "a/b+c=d~e.f_g-h0123"}, // kept for later
	} {
		s := valid()
		s.Metrics = m
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
	for _, tt := range []struct {
		m     MetricsSettings
		field string
	}{
		{MetricsSettings{Access: "public"}, "metrics.access"},
		{MetricsSettings{Access: MetricsToken}, "metrics.token"},
		{MetricsSettings{Access: MetricsToken, Token: "short-secret"}, "metrics.token"},
		{MetricsSettings{Access: MetricsToken, Token: strings.Repeat("x", 257)}, "metrics.token"},
		{MetricsSettings{Access: MetricsToken, Token: "with a space in it, secret"}, "metrics.token"},
	} {
		s := valid()
		s.Metrics = tt.m
		var fe *FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%+v: got %v, want an error on %s", tt.m, err, tt.field)
		} else if tt.m.Token != "" && strings.Contains(fe.Msg, tt.m.Token) {
			t.Errorf("%+v: the message quotes the token: %s", tt.m, fe.Msg)
		}
	}
}
