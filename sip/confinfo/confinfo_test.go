package confinfo

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const full1 = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
    entity="sip:conf@example.test" state="full" version="1">
  <users>
    <user entity="sip:alice@example.test" state="full">
      <display-text>Alice</display-text>
      <endpoint entity="sip:alice@192.0.2.1">
        <status>connected</status>
        <media id="1"><type>audio</type><status>sendrecv</status></media>
      </endpoint>
    </user>
    <user entity="sip:bob@example.test" state="full">
      <display-text>Bob</display-text>
      <endpoint entity="sip:bob@192.0.2.2"><status>connected</status>
        <media id="1"><status>sendrecv</status></media></endpoint>
    </user>
  </users>
</conference-info>`

// partial2 mutes Bob, adds Carol and removes Alice.
const partial2 = `<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"
    entity="sip:conf@example.test" state="partial" version="2">
  <users>
    <user entity="sip:bob@example.test" state="partial">
      <endpoint entity="sip:bob@192.0.2.2" state="partial">
        <media id="1"><status>recvonly</status></media></endpoint>
    </user>
    <user entity="sip:carol@example.test" state="full">
      <display-text>Carol &amp; Co</display-text>
      <endpoint entity="sip:carol@192.0.2.3"><status>dialing-out</status></endpoint>
    </user>
    <user entity="sip:alice@example.test" state="deleted"/>
  </users>
</conference-info>`

func mustParse(t *testing.T, s string) Document {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func TestRosterFollowsFullAndPartialNotifications(t *testing.T) {
	var r Roster
	if err := r.Apply(mustParse(t, partial2)); !errors.Is(err, ErrGap) {
		t.Errorf("partial before full: err = %v, want ErrGap", err)
	}
	if err := r.Apply(mustParse(t, full1)); err != nil {
		t.Fatal(err)
	}
	want := []Participant{
		{URI: "sip:alice@example.test", DisplayName: "Alice", Status: "connected"},
		{URI: "sip:bob@example.test", DisplayName: "Bob", Status: "connected"},
	}
	if got := r.Participants(); !slices.Equal(got, want) {
		t.Fatalf("after full: %+v, want %+v", got, want)
	}
	if err := r.Apply(mustParse(t, partial2)); err != nil {
		t.Fatal(err)
	}
	want = []Participant{
		{URI: "sip:bob@example.test", DisplayName: "Bob", Status: "connected", Muted: true},
		{URI: "sip:carol@example.test", DisplayName: "Carol & Co", Status: "dialing-out"},
	}
	if got := r.Participants(); !slices.Equal(got, want) {
		t.Fatalf("after partial: %+v, want %+v", got, want)
	}

	// Out of order: version 2 again, or the old full document, change nothing.
	for _, stale := range []string{partial2, full1} {
		if err := r.Apply(mustParse(t, stale)); !errors.Is(err, ErrStale) {
			t.Errorf("stale document: err = %v, want ErrStale", err)
		}
	}
	if got := r.Participants(); !slices.Equal(got, want) {
		t.Errorf("after stale documents: %+v, want %+v", got, want)
	}
	// A gap: version 4 partial after 2.
	gap := strings.Replace(partial2, `version="2"`, `version="4"`, 1)
	if err := r.Apply(mustParse(t, gap)); !errors.Is(err, ErrGap) {
		t.Errorf("partial 4 after 2: err = %v, want ErrGap", err)
	}
	// A newer full document replaces everything.
	full5 := strings.Replace(full1, `version="1"`, `version="5"`, 1)
	if err := r.Apply(mustParse(t, full5)); err != nil {
		t.Fatal(err)
	}
	if got := r.Participants(); len(got) != 2 || got[0].URI != "sip:alice@example.test" || got[1].Muted {
		t.Errorf("after full 5: %+v", got)
	}
	if v, ok := r.Version(); v != 5 || !ok {
		t.Errorf("Version = %d, %v, want 5, true", v, ok)
	}
}

func TestParseRefusesBadDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":        "this is not xml",
		"wrong root":     `<presence version="1"/>`,
		"no version":     `<conference-info entity="sip:c@x" state="full"/>`,
		"bad version":    `<conference-info entity="sip:c@x" version="-1"/>`,
		"unknown state":  `<conference-info entity="sip:c@x" version="1" state="half"/>`,
		"user no entity": `<conference-info version="1"><users><user/></users></conference-info>`,
		"user state":     `<conference-info version="1"><users><user entity="sip:a@x" state="odd"/></users></conference-info>`,
		"unclosed":       `<conference-info version="1"><users>`,
		"entity loop":    `<!DOCTYPE x [<!ENTITY a "aaaa">]><conference-info version="1">&a;</conference-info>`,
		"endpoint state": `<conference-info version="1"><users><user entity="sip:a@x"><endpoint state="x"/></user></users></conference-info>`,
		"too large":      "<conference-info version=\"1\">" + strings.Repeat(" ", maxDocument) + "</conference-info>",
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: Parse succeeded, want an error", name)
		}
	}
}

// FuzzApply checks that no document panics the parser or corrupts a roster: a document
// that Apply refuses leaves the roster exactly as it was.
func FuzzApply(f *testing.F) {
	f.Add([]byte(full1))
	f.Add([]byte(partial2))
	f.Add([]byte(`<conference-info version="3" state="deleted"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Roster
		if err := r.Apply(mustParse(t, full1)); err != nil {
			t.Fatal(err)
		}
		before := r.Participants()
		doc, err := Parse(b)
		if err != nil {
			return
		}
		if err := r.Apply(doc); err != nil {
			if got := r.Participants(); !slices.Equal(got, before) {
				t.Fatalf("a refused document changed the roster: %+v -> %+v", before, got)
			}
			return
		}
		for _, p := range r.Participants() {
			if p.URI == "" {
				t.Fatalf("participant without a URI: %+v", p)
			}
		}
	})
}
