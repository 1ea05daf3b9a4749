package appliance_test

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"partyline/hw/sim"
)

// TestSimBoardRefusesPinsItDoesNotHave saves pins on a running sim appliance, as a browser
// would, through the pins form and through a settings import: a line the board does not
// have (GPIO99) is refused next to its field, saying which lines there are, and changes
// nothing; a line of the Pi's header that no HAT takes is saved.
func TestSimBoardRefusesPinsItDoesNotHave(t *testing.T) {
	dir := t.TempDir()
	seedSettings(t, filepath.Join(dir, "partyline.db"), "127.0.0.1:9")
	r := runAppliance(t, dir, sim.New(2))

	post := func(path string, v url.Values) (int, string) {
		t.Helper()
		res, err := r.http.PostForm(r.admin+path, v)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, html.UnescapeString(string(b))
	}
	const refusal = "the sim board has no line GPIO99: its GPIO lines are GPIO0 to GPIO27"
	code, page := post("/settings/pins/0", url.Values{"hook": {"GPIO99"}})
	if code != http.StatusBadRequest || !strings.Contains(page, refusal) || !strings.Contains(page, `id="pins-0-hook-error"`) {
		t.Errorf("pins form with GPIO99: %d, want 400 with %q next to the hook field", code, refusal)
	}
	if pins := r.settings().Pins; len(pins) != 0 {
		t.Errorf("refused pins were saved: %+v", pins)
	}

	// The same line in an imported settings file.
	set := r.settings()
	set.Pins = nil
	exported, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	withPin := strings.Replace(string(exported), `"pins":[]`, `"pins":[{"handset":1,"led":"GPIO99"}]`, 1)
	withPin = strings.Replace(withPin, `"pins":null`, `"pins":[{"handset":1,"led":"GPIO99"}]`, 1)
	if !strings.Contains(withPin, "GPIO99") {
		t.Fatalf("could not put the pin into the export: %s", exported)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "partyline-settings.json")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(withPin))
	mw.Close()
	res, err := r.http.Post(r.admin+"/settings/import", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if page := html.UnescapeString(string(b)); res.StatusCode != http.StatusBadRequest || !strings.Contains(page, refusal) {
		t.Errorf("import with GPIO99: %s, want 400 with %q", res.Status, refusal)
	}
	if pins := r.settings().Pins; len(pins) != 0 {
		t.Errorf("a refused import saved pins: %+v", pins)
	}

	if code, page := post("/settings/pins/0", url.Values{"hook": {"GPIO5"}}); code != http.StatusOK || strings.Contains(page, "has no line") {
		t.Errorf("pins form with GPIO5: %d, want it saved", code)
	}
	if pins := r.settings().Pins; len(pins) != 1 || pins[0].Hook != "GPIO5" {
		t.Errorf("pins after saving GPIO5: %+v", pins)
	}
}
