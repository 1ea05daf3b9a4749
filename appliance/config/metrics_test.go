package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"partyline/appliance/settings"
)

const testToken = "metrics-token-0123456789"

func TestMetricsRoundTripAndLog(t *testing.T) {
	s, _ := openTemp(t)
	want := valid()
	want.Metrics = settings.MetricsSettings{Access: settings.MetricsToken, Token: testToken}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Settings()
	if err != nil || got.Metrics != want.Metrics {
		t.Fatalf("metrics after saving: %+v, %v; want %+v", got.Metrics, err, want.Metrics)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("settings", "metrics", got.Metrics)
	if strings.Contains(buf.String(), testToken) || !strings.Contains(buf.String(), "metrics.access=token") {
		t.Errorf("logged %q: want the access without the token", buf.String())
	}
}
