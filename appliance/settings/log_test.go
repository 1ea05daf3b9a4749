package settings

import (
	"errors"
	"testing"
)

func TestLogLevel(t *testing.T) {
	for _, level := range append([]string{""}, LogLevels...) {
		s := valid()
		s.Log.Level = level
		if err := s.Validate(); err != nil {
			t.Errorf("log level %q: %v", level, err)
		}
	}
	for _, level := range []string{"INFO", "trace", "warning", "info+2"} {
		s := valid()
		s.Log.Level = level
		var fe *FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Field != "log.level" {
			t.Errorf("log level %q: got %v, want an error on log.level", level, err)
		}
	}
}
