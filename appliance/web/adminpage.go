package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"partyline/appliance/settings"
)

func adminHostsForm(a settings.AdminPageSettings) formView {
	const id = "admin-hosts"
	hosts := input(id, "hosts", "Other host names", strings.Join(a.Hosts, " "))
	hosts.Autocomplete = "off"
	hosts.Hint = "Names or IP addresses, separated by spaces, for example partyline.example.org. " +
		"The page always answers to the appliance's IP addresses, its host name, its host name with .local, and localhost."
	return formView{ID: id, Method: "post", Action: "/settings/admin-hosts", Submit: "Save",
		Note: "The admin page refuses requests that name another host, which keeps other sites from reaching it " +
			"through your browser (DNS rebinding). Changes apply at once.",
		Inputs: []inputView{hosts},
	}
}

// saveAdminHosts saves the host names. It refuses a list without the name this browser
// uses, when only the list allows it: the next page would be refused.
func (s *server) saveAdminHosts(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "admin-hosts", func(set *settings.Settings, v url.Values) (string, error) {
		hosts := []string{}
		for h := range strings.FieldsFuncSeq(strings.ToLower(v.Get("hosts")), func(r rune) bool {
			return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '\r'
		}) {
			hosts = append(hosts, strings.TrimSuffix(h, "."))
		}
		own := requestHost(r)
		if !ownName(r, own) && slices.Contains(set.AdminPage.Hosts, own) && !slices.Contains(hosts, own) {
			return "admin_page.", &settings.FieldError{Field: "admin_page.hosts",
				Msg: fmt.Sprintf("This browser reaches the page as %s: keep it in the list, or open the page by another name first.", own)}
		}
		set.AdminPage.Hosts = hosts
		return "admin_page.", nil
	})
}

func passwordForm() formView {
	const id = "password"
	return formView{ID: id, Method: "post", Action: "/settings/password", Submit: "Change password",
		Note: "Other browsers logged in with the old password are logged out. " +
			"A forgotten password is reset on the device: `sudo partyline reset-password` while partyline is stopped.",
		Inputs: []inputView{
			{ID: id + "-current", Name: "current", Label: "Current password", Type: "password",
				Required: true, Autocomplete: "current-password"},
			{ID: id + "-password", Name: "password", Label: "New password", Type: "password",
				Required: true, Autocomplete: "new-password", Hint: fmt.Sprintf("At least %d characters.", MinPasswordLength)},
			{ID: id + "-confirm", Name: "confirm", Label: "New password again", Type: "password",
				Required: true, Autocomplete: "new-password"},
		},
	}
}

// changePassword replaces the admin password if the current one is given, counting a
// wrong one as a failed login.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	if !readForm(w, r) {
		return
	}
	refuse := func(code int, fe *settings.FieldError) {
		s.renderSettings(w, code, &failure{form: "password", err: fe}, saved{})
	}
	if fe := checkNewPassword(r.PostForm); fe != nil {
		refuse(http.StatusBadRequest, fe)
		return
	}
	prefix, done, ok := s.checkGate(w, r, "password change", func(code int, fe *settings.FieldError) {
		fe.Field = "current"
		refuse(code, fe)
	})
	if !ok {
		return
	}
	ok, err := s.backend.CheckAdminPassword(r.PostForm.Get("current"))
	if err == nil && ok {
		err = s.backend.SetAdminPassword(r.PostForm.Get("password"))
	}
	done()
	var fe *settings.FieldError
	switch {
	case err == nil && !ok:
		s.log.Warn("password change refused", "client", clientAddr(r), "reason", "wrong current password")
		refuse(http.StatusForbidden, &settings.FieldError{Field: "current", Msg: "Wrong password."})
	case errors.As(err, &fe):
		s.logins.undo(prefix)
		refuse(http.StatusBadRequest, &settings.FieldError{Field: "password", Msg: fe.Msg})
	case err != nil:
		s.logins.undo(prefix)
		s.fail(w, "change admin password", err)
	default:
		s.logins.succeeded(prefix)
		s.sessions.endOthers(sessionToken(r))
		s.log.Info("admin password changed", "client", clientAddr(r))
		http.Redirect(w, r, savedURL("password-live", "password"), http.StatusSeeOther)
	}
}
