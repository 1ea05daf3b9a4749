package web

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"partyline/appliance/settings"
)

// TestProvisioningCA: the Provisioning form shows the pinned CA and saves a PEM typed
// into it (with a browser's CRLF line ends, stored with LF); text that is not a PEM
// certificate is refused with the error next to the field, what was typed shown again and
// the CA saved before kept; an empty field goes back to the system's CAs.
func TestProvisioningCA(t *testing.T) {
	certPEM, _, err := NewCertificate([]string{"prov.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ca := strings.TrimSpace(string(certPEM))
	f := newFake(t)
	c := loggedIn(t, f)
	form := func(ca string) url.Values {
		return url.Values{"url": {"https://prov.example.com/{mac}.json"}, "ca": {ca}}
	}
	savedCA := func() string {
		t.Helper()
		set, err := f.Settings()
		if err != nil {
			t.Fatal(err)
		}
		return set.Provisioning.CA
	}

	if rec := c.post("/settings/provisioning", form(strings.ReplaceAll(ca, "\n", "\r\n")+"\r\n")); rec.Code != http.StatusSeeOther {
		t.Fatalf("saving a CA: got %d, want 303; body:\n%s", rec.Code, rec.Body)
	}
	if got := savedCA(); got != ca {
		t.Fatalf("saved CA %q, want %q", got, ca)
	}
	if _, err := settings.CertPool(savedCA()); err != nil {
		t.Errorf("the saved CA does not parse: %v", err)
	}
	if got := textareaText(c.get("/settings").Body.String(), "provisioning-ca"); got != ca {
		t.Errorf("the settings page shows %q in the CA field, want the saved %q", got, ca)
	}

	broken := strings.Replace(ca, "MII", "MIX", 1)
	for _, tt := range []struct{ typed, msg string }{
		{"not a certificate", "no PEM certificate"},
		{broken, "does not parse"},
	} {
		rec := c.post("/settings/provisioning", form(tt.typed))
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("%q: got %d, want 400", tt.typed, rec.Code)
		}
		body := rec.Body.String()
		checkFieldError(t, body, "provisioning-ca", tt.msg)
		if got := textareaText(body, "provisioning-ca"); got != tt.typed {
			t.Errorf("the refused form shows %q in the CA field, want what was typed, %q", got, tt.typed)
		}
		if got := savedCA(); got != ca {
			t.Errorf("%q: a refused CA changed the saved one to %q", tt.typed, got)
		}
	}

	if rec := c.post("/settings/provisioning", form("  \r\n")); rec.Code != http.StatusSeeOther {
		t.Fatalf("emptying the CA: got %d, want 303; body:\n%s", rec.Code, rec.Body)
	}
	if got := savedCA(); got != "" {
		t.Errorf("an empty field saved the CA %q, want none (the system's CAs)", got)
	}
}

// textareaText returns the text of the textarea with the given id as a browser reads it:
// unescaped, without the line end that follows the tag.
func textareaText(body, id string) string {
	i := strings.Index(body, `<textarea id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := body[i:]
	start := strings.Index(rest, ">")
	end := strings.Index(rest, "</textarea>")
	if start < 0 || end < start {
		return ""
	}
	return html.UnescapeString(strings.TrimPrefix(rest[start+1:end], "\n"))
}
