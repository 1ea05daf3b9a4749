// Package confinfo reads conference-info documents (RFC 4575, the conference event
// package) and keeps a conference's roster from the full and partial notifications a focus
// sends. It knows nothing of subscriptions or transports: it turns NOTIFY bodies into a
// list of participants.
package confinfo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the MIME type of a conference-info document.
const ContentType = "application/conference-info+xml"

// maxDocument bounds the size of a document Parse accepts.
const maxDocument = 256 << 10

// Document states (RFC 4575 section 5.1): a full document replaces what the subscriber
// knows, a partial one changes it, a deleted element is removed.
const (
	StateFull    = "full"
	StatePartial = "partial"
	StateDeleted = "deleted"
)

// A Document is one conference-info document as a focus sent it.
type Document struct {
	Entity  string // the conference URI
	State   string // StateFull, StatePartial or StateDeleted
	Version uint64
	Users   []User
}

// A User is one participant element, possibly partial.
type User struct {
	Entity      string // the participant's URI, which identifies it
	State       string
	DisplayText string
	Endpoints   []Endpoint
}

// An Endpoint is one device of a participant.
type Endpoint struct {
	Entity string
	State  string
	Status string   // e.g. "connected", "on-hold", "disconnected"
	Media  []string // the status of each medium from the focus: "sendrecv", "recvonly", ...
}

// The XML shapes, namespace-agnostic: encoding/xml matches local names when the tag has no
// namespace.
type xmlDoc struct {
	XMLName xml.Name  `xml:"conference-info"`
	Entity  string    `xml:"entity,attr"`
	State   string    `xml:"state,attr"`
	Version string    `xml:"version,attr"`
	Users   []xmlUser `xml:"users>user"`
}

type xmlUser struct {
	Entity      string        `xml:"entity,attr"`
	State       string        `xml:"state,attr"`
	DisplayText string        `xml:"display-text"`
	Endpoints   []xmlEndpoint `xml:"endpoint"`
}

type xmlEndpoint struct {
	Entity string `xml:"entity,attr"`
	State  string `xml:"state,attr"`
	Status string `xml:"status"`
	Media  []struct {
		Status string `xml:"status"`
	} `xml:"media"`
}

// Parse reads a conference-info document. It checks what applying the document relies on:
// the root element, a version, known states and a URI for every user.
func Parse(b []byte) (Document, error) {
	if len(b) > maxDocument {
		return Document{}, fmt.Errorf("parse conference-info: %d bytes, more than %d", len(b), maxDocument)
	}
	var x xmlDoc
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&x); err != nil {
		return Document{}, fmt.Errorf("parse conference-info: %w", err)
	}
	doc := Document{Entity: x.Entity, State: orFull(x.State)}
	var err error
	if doc.Version, err = parseVersion(x.Version); err != nil {
		return Document{}, err
	}
	if !knownState(doc.State) {
		return Document{}, fmt.Errorf("parse conference-info: unknown state %q", x.State)
	}
	for i, u := range x.Users {
		user := User{Entity: strings.TrimSpace(u.Entity), State: orFull(u.State), DisplayText: strings.TrimSpace(u.DisplayText)}
		if user.Entity == "" {
			return Document{}, fmt.Errorf("parse conference-info: user %d has no entity", i+1)
		}
		if !knownState(user.State) {
			return Document{}, fmt.Errorf("parse conference-info: user %s: unknown state %q", user.Entity, u.State)
		}
		for _, e := range u.Endpoints {
			ep := Endpoint{Entity: strings.TrimSpace(e.Entity), State: orFull(e.State), Status: strings.TrimSpace(e.Status)}
			if !knownState(ep.State) {
				return Document{}, fmt.Errorf("parse conference-info: user %s: endpoint state %q", user.Entity, e.State)
			}
			for _, m := range e.Media {
				ep.Media = append(ep.Media, strings.TrimSpace(m.Status))
			}
			user.Endpoints = append(user.Endpoints, ep)
		}
		doc.Users = append(doc.Users, user)
	}
	return doc, nil
}

func parseVersion(s string) (uint64, error) {
	if s == "" {
		return 0, errors.New("parse conference-info: no version")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse conference-info: bad version %q", s)
	}
	return v, nil
}

func orFull(s string) string {
	if s == "" {
		return StateFull // the default of every state attribute
	}
	return s
}

func knownState(s string) bool {
	return s == StateFull || s == StatePartial || s == StateDeleted
}

// A Participant is one entry of the roster.
type Participant struct {
	URI         string
	DisplayName string
	Status      string // the status of its first endpoint, e.g. "connected"
	Muted       bool   // the focus receives no audio from it (media status recvonly or inactive)
}

// ErrStale is returned by Apply for a document whose version is not newer than the roster's.
var ErrStale = errors.New("conference-info: stale version")

// ErrGap is returned by Apply for a partial document that skips versions: the subscriber
// missed a notification and must fetch the full state again (by resubscribing).
var ErrGap = errors.New("conference-info: versions missing")

// A Roster is a conference's participants as the notifications so far describe them. The
// zero value is an empty roster that waits for its first full document. It is not safe for
// concurrent use.
type Roster struct {
	version uint64
	known   bool // a full document has been applied
	users   map[string]User
}

// Apply brings the roster up to date with doc. A document that is out of order (ErrStale) or
// a partial one that skips versions (ErrGap) changes nothing.
func (r *Roster) Apply(doc Document) error {
	switch {
	case r.known && doc.Version <= r.version:
		return fmt.Errorf("%w: have %d, got %d", ErrStale, r.version, doc.Version)
	case doc.State == StatePartial && !r.known:
		return fmt.Errorf("%w: partial version %d before any full document", ErrGap, doc.Version)
	case doc.State == StatePartial && doc.Version != r.version+1:
		return fmt.Errorf("%w: have %d, got partial %d", ErrGap, r.version, doc.Version)
	}
	users := make(map[string]User, len(r.users)+len(doc.Users))
	if doc.State == StatePartial {
		for k, u := range r.users {
			users[k] = u
		}
	}
	if doc.State != StateDeleted {
		for _, u := range doc.Users {
			key := strings.ToLower(u.Entity)
			switch u.State {
			case StateDeleted:
				delete(users, key)
			case StatePartial:
				users[key] = mergeUser(users[key], u)
			default:
				users[key] = u
			}
		}
	}
	r.users, r.version, r.known = users, doc.Version, true
	return nil
}

// mergeUser applies a partial user element to what was known of the user.
func mergeUser(old, u User) User {
	out := old
	out.Entity = u.Entity
	if u.DisplayText != "" {
		out.DisplayText = u.DisplayText
	}
	out.Endpoints = slices.Clone(old.Endpoints)
	for _, e := range u.Endpoints {
		i := slices.IndexFunc(out.Endpoints, func(o Endpoint) bool { return strings.EqualFold(o.Entity, e.Entity) })
		switch {
		case e.State == StateDeleted && i >= 0:
			out.Endpoints = slices.Delete(out.Endpoints, i, i+1)
		case e.State == StateDeleted:
		case i >= 0 && e.State == StatePartial:
			merged := out.Endpoints[i]
			if e.Status != "" {
				merged.Status = e.Status
			}
			if len(e.Media) > 0 {
				merged.Media = e.Media
			}
			out.Endpoints[i] = merged
		case i >= 0:
			out.Endpoints[i] = e
		default:
			out.Endpoints = append(out.Endpoints, e)
		}
	}
	return out
}

// Version returns the version of the last document applied, and whether any full document
// has been applied yet.
func (r *Roster) Version() (uint64, bool) { return r.version, r.known }

// Participants returns the roster sorted by URI.
func (r *Roster) Participants() []Participant {
	out := make([]Participant, 0, len(r.users))
	for _, u := range r.users {
		p := Participant{URI: u.Entity, DisplayName: u.DisplayText}
		if len(u.Endpoints) > 0 {
			e := u.Endpoints[0]
			p.Status = e.Status
			for _, m := range e.Media {
				if m == "recvonly" || m == "inactive" {
					p.Muted = true
				}
			}
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Participant) int { return strings.Compare(a.URI, b.URI) })
	return out
}
