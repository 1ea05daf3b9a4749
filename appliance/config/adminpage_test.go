package config

import (
	"slices"
	"testing"
)

func TestAdminPageRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	want := valid()
	want.AdminPage.Hosts = []string{"partyline.example.org", "192.0.2.7"}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Settings()
	if err != nil || !slices.Equal(got.AdminPage.Hosts, want.AdminPage.Hosts) {
		t.Fatalf("admin page hosts after saving: %q, %v; want %q", got.AdminPage.Hosts, err, want.AdminPage.Hosts)
	}
}
