package web

import (
	"fmt"

	"partyline/appliance/settings"
)

// A step is one item of the dashboard's checklist of what the device needs before a
// handset can join its conference.
type step struct {
	Text string // what to do
	Link string // the form that does it
	Done bool
}

// firstSteps is the checklist for set: add an account, set the URI of the conferences the
// handsets join, give every handset an account. It is nil once every step is done: the
// dashboard then shows none.
func firstSteps(set settings.Settings) []step {
	steps := []step{{Text: "Add a SIP account", Link: "/settings#new-account", Done: len(set.Accounts) > 0}}

	uri := step{Text: "Set the conference URI", Link: "/settings#conferences-heading", Done: true}
	for _, h := range set.Handsets {
		for _, c := range set.Conferences {
			if c.ID == h.Conference && c.URI == "" {
				uri.Done = false
				uri.Text = fmt.Sprintf("Set the URI of the conference %s", c.Name)
				uri.Link = "/settings#conference-" + c.ID
			}
		}
	}
	if len(set.Conferences) == 0 {
		uri.Done, uri.Link = false, "/settings#new-conference"
	}
	steps = append(steps, uri)

	assign := step{Text: "Choose each handset's account", Link: "/settings#handsets-heading", Done: true}
	var missing []settings.Handset
	for _, h := range set.Handsets {
		if h.Account == "" {
			missing = append(missing, h)
		}
	}
	switch {
	case len(missing) == 1:
		assign.Done, assign.Text, assign.Link = false, "Choose the account of "+missing[0].Name, "/settings#handset-"+missing[0].ID
	case len(missing) > 1:
		assign.Done, assign.Link = false, "/settings#handset-"+missing[0].ID
		assign.Text = fmt.Sprintf("Choose the account of each handset (%d have none)", len(missing))
	}
	steps = append(steps, assign)

	for _, s := range steps {
		if !s.Done {
			return steps
		}
	}
	return nil
}
