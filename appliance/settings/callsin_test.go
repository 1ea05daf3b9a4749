package settings

import (
	"strings"
	"testing"
)

func TestHandsetCallsInChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   HandsetCallsIn
		want string // "" = valid
	}{
		{"closed by default", HandsetCallsIn{}, ""},
		{"ring from the proxy", HandsetCallsIn{Mode: CallsInRing, AllowProxy: true}, ""},
		{"auto-answer from a network", HandsetCallsIn{Mode: CallsInAutoAnswer, MuteUntilLifted: true, AllowNetworks: "192.0.2.0/24, 2001:db8::5"}, ""},
		{"reject", HandsetCallsIn{Mode: CallsInReject}, ""},
		{"unknown mode", HandsetCallsIn{Mode: "answer"}, `handsets[0].calls_in.mode: "answer" is not ring, auto-answer or reject`},
		{"not a network", HandsetCallsIn{AllowNetworks: "192.0.2.0/24 lan"}, `handsets[0].calls_in.allow_networks[1]: "lan" is not a network`},
		{"everyone", HandsetCallsIn{AllowNetworks: "0.0.0.0/0"}, "admits every address"},
		{"digest", HandsetCallsIn{AuthUser: "door", AuthPassword: "s3cret"}, ""},
		{"digest without a password", HandsetCallsIn{AuthUser: "door"}, "handsets[0].calls_in.auth_password: is needed with a user name"},
		{"a password without a user", HandsetCallsIn{AuthPassword: "s3cret"}, "handsets[0].calls_in.auth_user: is needed with a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{SIP: SIPSettings{ListenAddr: ":5060"}, Handsets: []Handset{{ID: "h1", Name: "Kitchen", CallsIn: tc.in}}}
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	c := HandsetCallsIn{AllowNetworks: "192.0.2.0/24,10.0.0.1"}
	if n := c.Networks(); len(n) != 2 || !c.Open() || (HandsetCallsIn{}).Open() {
		t.Errorf("Networks() = %v, Open() = %v; want two networks, open, and the zero value closed", n, c.Open())
	}
}
