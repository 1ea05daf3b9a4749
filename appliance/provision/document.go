package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"partyline/appliance/settings"
	"partyline/appliance/update"
)

// overridesKey is the document's list of the sections it names that the admin page may
// still change (local overrides); the others it names are managed.
const overridesKey = "local_overrides"

// firmwareKey is the document's firmware section: the version to run (update.Firmware).
const firmwareKey = "firmware"

// Sections are the names of the settings' sections, the top-level keys of a settings
// export, in its order.
var Sections = sectionNames()

func sectionNames() []string {
	t := reflect.TypeFor[settings.Settings]()
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// A Document is a provisioning document: a settings export, whole or with only some of
// its sections, and the sections the page may still change.
type Document struct {
	sections map[string]json.RawMessage
	// Overridable are the sections the document names that stay editable on the page.
	Overridable []string
	// Firmware, when set, is the version the appliance is to run.
	Firmware *update.Firmware
}

// Parse reads a document strictly: one JSON object whose keys are sections of the
// settings (Sections), local_overrides or firmware, at least one section or firmware, and
// in each section no field the settings lack. It checks the form only; Apply and the settings' validation
// check the values.
func Parse(data []byte) (Document, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return Document{}, fmt.Errorf("not a JSON object: %w", err)
	}
	doc := Document{sections: map[string]json.RawMessage{}}
	for name, raw := range top {
		switch {
		case name == overridesKey:
			if err := json.Unmarshal(raw, &doc.Overridable); err != nil {
				return Document{}, fmt.Errorf("%s must be a list of section names: %w", overridesKey, err)
			}
		case name == firmwareKey:
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			doc.Firmware = new(update.Firmware)
			if err := dec.Decode(doc.Firmware); err != nil {
				return Document{}, fmt.Errorf("section %q: %s", name, strings.TrimPrefix(err.Error(), "json: "))
			}
			if err := doc.Firmware.Check(); err != nil {
				return Document{}, err
			}
		case slices.Contains(Sections, name):
			doc.sections[name] = raw
		default:
			return Document{}, fmt.Errorf("%q is not a section of the settings (%s) nor %s or %s", name, strings.Join(Sections, ", "), overridesKey, firmwareKey)
		}
	}
	if len(doc.sections) == 0 && doc.Firmware == nil {
		return Document{}, errors.New("the document names no section of the settings and no firmware")
	}
	for _, o := range doc.Overridable {
		if _, ok := doc.sections[o]; !ok {
			return Document{}, fmt.Errorf("%s names %q, which the document does not have", overridesKey, o)
		}
	}
	var probe settings.Settings
	if err := doc.decode(&probe); err != nil {
		return Document{}, err
	}
	return doc, nil
}

// Names returns the sections the document has, in the settings' order.
func (d Document) Names() []string {
	var names []string
	for _, s := range Sections {
		if _, ok := d.sections[s]; ok {
			names = append(names, s)
		}
	}
	return names
}

// Managed returns the sections the document has that the page may not change.
func (d Document) Managed() []string {
	return slices.DeleteFunc(d.Names(), func(s string) bool { return slices.Contains(d.Overridable, s) })
}

// only returns the document with only the sections names.
func (d Document) only(names []string) Document {
	o := Document{sections: map[string]json.RawMessage{}, Firmware: d.Firmware}
	for _, n := range names {
		if raw, ok := d.sections[n]; ok {
			o.sections[n] = raw
		}
	}
	return o
}

// decode replaces each section of set the document has with the document's.
func (d Document) decode(set *settings.Settings) error {
	v := reflect.ValueOf(set).Elem()
	for i, name := range Sections {
		raw, ok := d.sections[name]
		if !ok {
			continue
		}
		field := v.Field(i)
		fresh := reflect.New(field.Type())
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(fresh.Interface()); err != nil {
			return fmt.Errorf("section %q: %s", name, strings.TrimPrefix(err.Error(), "json: "))
		}
		field.Set(fresh.Elem())
	}
	return nil
}

// Apply replaces the sections of set that the document has with the document's. As an
// import does, an account or bridge the document has without its password keeps the one
// stored for the same ID, and metrics and provisioning without their secrets keep the
// stored ones: secrets stay write-only, and a document need not carry them every time.
func (d Document) Apply(set *settings.Settings) error {
	old := set.Clone()
	if err := d.decode(set); err != nil {
		return err
	}
	for i, a := range set.Accounts {
		if j := slices.IndexFunc(old.Accounts, func(b settings.Account) bool { return b.ID == a.ID }); a.Password == "" && j >= 0 {
			set.Accounts[i].Password = old.Accounts[j].Password
		}
	}
	for i, b := range set.Bridges {
		if j := slices.IndexFunc(old.Bridges, func(c settings.Bridge) bool { return c.ID == b.ID }); b.AuthPassword == "" && b.AuthUser != "" && j >= 0 {
			set.Bridges[i].AuthPassword = old.Bridges[j].AuthPassword
		}
	}
	if set.Metrics.Token == "" && set.Metrics.Access == settings.MetricsToken {
		set.Metrics.Token = old.Metrics.Token
	}
	if p := &set.Provisioning; p.Password == "" && p.Token == "" && p.User == old.Provisioning.User {
		p.Password, p.Token = old.Provisioning.Password, old.Provisioning.Token
	}
	return nil
}

// Changed returns the sections that differ between old and next.
func Changed(old, next settings.Settings) []string {
	a, b := reflect.ValueOf(old), reflect.ValueOf(next)
	var names []string
	for i, name := range Sections {
		x, y := a.Field(i), b.Field(i)
		if x.Kind() == reflect.Slice && x.Len() == 0 && y.Len() == 0 {
			continue // nil and empty are the same list
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			names = append(names, name)
		}
	}
	return names
}
