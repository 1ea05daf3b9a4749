package web

import (
	"fmt"
	"net/http"
	"net/url"

	"partyline/appliance/settings"
)

// boardForm draws the choice of the board profile: detected at start, or one of boards.
// st says which board runs now and how it was chosen.
func boardForm(setting string, boards []string, st Status) formView {
	in := selection("board", "board", "Board profile", setting, "detect it at start", boards)
	in.Hint = "Detection knows the Raspberry Pi sound cards of the profiles and falls back to the sim board."
	note := "Running on " + st.Board
	if st.BoardChosen != "" {
		note += fmt.Sprintf(" (%s)", st.BoardChosen)
	}
	note += ". A change applies when the appliance restarts"
	if st.BoardFromFlag {
		note += ", unless it is started with the -board flag, which overrides this setting"
	}
	return formView{ID: "board", Method: "post", Action: "/settings/board", Submit: "Save",
		Note: note + ".", Inputs: []inputView{in}}
}

func (s *server) saveBoard(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, "board", func(set *settings.Settings, v url.Values) (string, error) {
		set.Board = formText(v, "board")
		return "", nil
	})
}
