package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"partyline/appliance/settings"
	"partyline/appliance/web/promtext"
)

// DeviceStatus is what identifies the device in a fleet: its provisioning document is
// named by these, and partyline_device_info carries them.
type DeviceStatus struct {
	MAC    string `json:"mac"`    // the first wired interface's, lower case, no colons
	Serial string `json:"serial"` // the board's serial number; "" where it has none
	Model  string `json:"model"`  // the board's model; "" where it has none
}

// ProvisioningStatus is what the Settings page and the metrics show of provisioning.
type ProvisioningStatus struct {
	URL    string `json:"url,omitempty"`    // the document's URL, last fetched
	Source string `json:"source,omitempty"` // where the URL came from: the settings or a DHCP option
	// Result is the last round's: applied, unchanged, not_modified, failed, no_url or off.
	Result string `json:"result,omitempty"`
	Reason string `json:"reason,omitempty"` // why it failed, one of Reasons
	Error  string `json:"error,omitempty"`  // what failed, for people
	// Reasons are every reason a round can fail: partyline_provisioning_failures_total
	// has a series for each, 0 until one fails so.
	Reasons     []string          `json:"-"`
	Failures    map[string]uint64 `json:"failures,omitempty"` // failed rounds since start, by reason
	LastAttempt time.Time         `json:"lastAttempt,omitzero"`
	LastSuccess time.Time         `json:"lastSuccess,omitzero"` // the last round that reached the document
	Applied     time.Time         `json:"applied,omitzero"`     // when the document last changed the settings
	// Managed are the sections (settings export names) the page shows read-only;
	// Overridable those the document set that the page may change.
	Managed     []string `json:"managed,omitempty"`
	Overridable []string `json:"overridable,omitempty"`
}

// UpdateStatus is a firmware update that was rolled back.
type UpdateStatus struct {
	Version string    `json:"version"` // the update's version
	Running string    `json:"running"` // the version installed again
	Reason  string    `json:"reason"`  // why the update did not prove healthy
	At      time.Time `json:"at"`
}

var (
	updateRolledBackDesc = promtext.NewDesc("partyline_update_rolled_back",
		"1 when the last firmware update was rolled back, with its version and the version running again; absent otherwise.", promtext.Gauge, "version", "running")
	deviceInfoDesc = promtext.NewDesc("partyline_device_info",
		"Always 1: the device's firmware version, board profile, MAC address (first wired interface), serial number and model, to tell the devices of a fleet apart.", promtext.Gauge, "version", "board", "mac", "serial", "model")
	provisioningOKDesc = promtext.NewDesc("partyline_provisioning_ok",
		"1 when the last provisioning round reached the document and it applied (or had not changed), 0 when it failed; absent without provisioning.", promtext.Gauge)
	provisioningFailuresDesc = promtext.NewDesc("partyline_provisioning_failures_total",
		"Provisioning rounds that changed nothing because they failed, by reason: fetch, certificate, signature, invalid.", promtext.Counter, "reason")
	provisioningSuccessDesc = promtext.NewDesc("partyline_provisioning_last_success_timestamp_seconds",
		"When a provisioning round last reached the document, as a Unix time; absent until one has.", promtext.Gauge)
	provisioningAppliedDesc = promtext.NewDesc("partyline_provisioning_applied_timestamp_seconds",
		"When a provisioning document last changed the settings, as a Unix time; absent until one has.", promtext.Gauge)
)

// collectFleet adds the fleet's metrics, read from st, to s.
func collectFleet(s *promtext.Set, st Status) {
	gauge := s.Add
	d := st.Device
	gauge(deviceInfoDesc, 1, st.Version, st.Board, d.MAC, d.Serial, d.Model)
	if u := st.UpdateRolledBack; u != nil {
		gauge(updateRolledBackDesc, 1, u.Version, u.Running)
	}
	p := st.Provisioning
	if p == nil || p.Result == "" || p.Result == "off" || p.Result == "no_url" {
		return
	}
	gauge(provisioningOKDesc, bit(p.Result != "failed"))
	for _, r := range p.Reasons {
		s.Add(provisioningFailuresDesc, float64(p.Failures[r]), r)
	}
	if !p.LastSuccess.IsZero() {
		gauge(provisioningSuccessDesc, float64(p.LastSuccess.Unix()))
	}
	if !p.Applied.IsZero() {
		gauge(provisioningAppliedDesc, float64(p.Applied.Unix()))
	}
}

// sectionHeadings are the Settings page's sections by the settings export's names, with
// the heading each has on the page.
var sectionHeadings = map[string]string{
	"sip": "SIP", "accounts": "Accounts", "handsets": "Handsets", "conferences": "Conferences",
	"bridges": "Bridges", "recordings": "Recordings", "buttons": "Buttons", "board": "Board",
	"pins": "Pins", "metrics": "Metrics", "admin_page": "Admin page", "log": "Logs", "provisioning": "Provisioning",
}

// managedNotes returns, for each section provisioning manages, the note the page shows
// in it.
func managedNotes(p *ProvisioningStatus) map[string]string {
	notes := map[string]string{}
	if p == nil {
		return notes
	}
	for _, s := range p.Managed {
		notes[s] = fmt.Sprintf("Managed by provisioning (%s): this section is read-only here. Change it in the provisioning document.", p.URL)
	}
	return notes
}

// ManagedError is the refusal of a change to sections provisioning manages.
func ManagedError(sections []string) *settings.FieldError {
	names := make([]string, len(sections))
	for i, s := range sections {
		names[i] = sectionHeadings[s]
		if names[i] == "" {
			names[i] = s
		}
	}
	return &settings.FieldError{Field: sections[0], Msg: fmt.Sprintf("%s managed by provisioning: change it in the provisioning document, not here; nothing was saved.",
		strings.Join(names, ", ")+map[bool]string{true: " is", false: " are"}[len(names) == 1])}
}

// provisioningForm draws the provisioning settings and what the last round did; the
// password and token are never sent back.
func provisioningForm(p settings.ProvisioningSettings, st *ProvisioningStatus, rolledBack *UpdateStatus) formView {
	const id = "provisioning"
	u := input(id, "url", "Document URL", p.URL)
	u.Hint = "https://… with {mac}, {serial} and {model} for the device's, e.g. https://prov.example.com/partyline/{mac}.json. Empty = from DHCP option 160 or 66; off = no provisioning."
	ca := textarea(id, "ca", "Server's CA certificates (PEM)", p.CA, 6)
	ca.Hint = "The certificates (-----BEGIN CERTIFICATE----- …) the server's certificate must chain to, instead of the system's. Empty = the system's CAs."
	fp := input(id, "fingerprint", "Server certificate SHA-256 fingerprint", p.Fingerprint)
	fp.Hint = "Empty = the CAs above (or the system's) vouch for the server; set, only that certificate is accepted, whoever signed it."
	user := input(id, "user", "User name (HTTP basic)", p.User)
	pw := inputView{ID: id + "-password", Name: "password", Label: "Password (HTTP basic)", Type: "password", Autocomplete: "new-password"}
	token := inputView{ID: id + "-token", Name: "token", Label: "Bearer token", Type: "password", Autocomplete: "new-password",
		Hint: "Either a user name and password or a token."}
	if p.Password != "" || p.Token != "" {
		token.Hint += " Leave both empty to keep the stored one."
	}
	key := input(id, "public_key", "Signing public key (ed25519, base64)", p.PublicKey)
	key.Hint = "Set, every document must be signed: its detached signature is at the document's URL + .sig."
	interval := numberInput(id, "interval_minutes", "Fetch every (minutes)", p.IntervalMinutes,
		fmt.Sprintf("A tenth of it more or less at random, so that a fleet spreads out. Empty = %d.", settings.DefaultProvisioningMinutes))
	f := formView{ID: id, Method: "post", Action: "/settings/provisioning", Submit: "Save",
		Note:   provisioningNote(st),
		Inputs: []inputView{u, ca, fp, user, pw, token, key, interval},
	}
	var errs []string
	if st != nil && st.Result == "failed" {
		errs = append(errs, "The last provisioning round failed and changed nothing: "+st.Error)
	}
	if u := rolledBack; u != nil && u.Running != u.Version {
		errs = append(errs, fmt.Sprintf("The firmware update to %s was rolled back to %s at %s: %s", u.Version, u.Running, u.At.Format(time.DateTime), u.Reason))
	} else if u != nil {
		errs = append(errs, fmt.Sprintf("The firmware update to %s is not healthy (%s): %s", u.Version, u.At.Format(time.DateTime), u.Reason))
	}
	f.Error = strings.Join(errs, " ")
	return f
}

// provisioningNote says what the last round did.
func provisioningNote(st *ProvisioningStatus) string {
	const applies = "Changes apply at once: the document is fetched again."
	if st == nil || st.Result == "" {
		return applies
	}
	var b strings.Builder
	switch st.Result {
	case "off":
		b.WriteString("Provisioning is off.")
	case "no_url":
		b.WriteString("No document URL: none here, and no DHCP option 160 or 66.")
	default:
		fmt.Fprintf(&b, "Document %s (from %s), last fetched %s: %s.", st.URL, st.Source, st.LastAttempt.Format(time.DateTime), strings.ReplaceAll(st.Result, "_", " "))
		if !st.Applied.IsZero() {
			fmt.Fprintf(&b, " Last applied %s.", st.Applied.Format(time.DateTime))
		}
		if len(st.Managed) > 0 {
			fmt.Fprintf(&b, " Managed: %s.", strings.Join(st.Managed, ", "))
		}
		if len(st.Overridable) > 0 {
			fmt.Fprintf(&b, " Set by the document, changeable here: %s.", strings.Join(st.Overridable, ", "))
		}
	}
	return b.String() + " " + applies
}

func (s *server) saveProvisioning(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "provisioning", func(set *settings.Settings, v url.Values) (string, error) {
		const prefix = "provisioning."
		p := &set.Provisioning
		p.URL = formText(v, "url")
		// A browser sends a textarea's lines ended by CRLF; the stored PEM keeps LF, and
		// is kept as it is when only the whitespace around it differs.
		if ca := strings.ReplaceAll(formText(v, "ca"), "\r\n", "\n"); ca != strings.TrimSpace(p.CA) {
			p.CA = ca
		}
		p.Fingerprint = formText(v, "fingerprint")
		if user := formText(v, "user"); user != p.User {
			p.User, p.Password = user, ""
		}
		if pw := v.Get("password"); pw != "" {
			p.Password, p.Token = pw, ""
		}
		if t := v.Get("token"); t != "" {
			p.Token, p.User, p.Password = t, "", ""
		}
		p.PublicKey = formText(v, "public_key")
		p.IntervalMinutes = 0
		if e := formText(v, "interval_minutes"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil {
				return prefix, &settings.FieldError{Field: prefix + "interval_minutes", Msg: fmt.Sprintf("%q is not a whole number of minutes", e)}
			}
			p.IntervalMinutes = n
		}
		return prefix, nil
	})
}
