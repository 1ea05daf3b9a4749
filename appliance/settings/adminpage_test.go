package settings

import (
	"errors"
	"strings"
	"testing"
)

func TestAdminPageValidate(t *testing.T) {
	for _, hosts := range [][]string{
		nil, {"partyline.example.org"}, {"pi", "192.0.2.7", "2001:db8::7"},
	} {
		s := valid()
		s.AdminPage.Hosts = hosts
		if err := s.Validate(); err != nil {
			t.Errorf("%q: %v", hosts, err)
		}
	}
	many := make([]string, MaxAdminHosts+1)
	for i := range many {
		many[i] = strings.Repeat("a", i+1)
	}
	for _, hosts := range [][]string{
		{"pi:8080"}, {"*.example.org"}, {"Pi.example.org"}, {"pi."}, {"fe80::1%eth0"}, {"2001:DB8::7"},
		{"pi", "pi"}, {""}, {"under_score"}, many,
	} {
		s := valid()
		s.AdminPage.Hosts = hosts
		var fe *FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Field != "admin_page.hosts" {
			t.Errorf("%q: got %v, want an error on admin_page.hosts", hosts, err)
		}
	}
}
