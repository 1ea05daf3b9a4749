package appliance

import (
	"testing"

	"partyline/appliance/audiohub"
	"partyline/appliance/settings"
)

// TestStatusEarpieceUnderruns finds each earpiece's underruns and samples dropped in the admin page's status
// under the handset whose channel it is, with the handsets' channels crossed, and no audio
// device on the sim board's virtual audio.
func TestStatusEarpieceUnderruns(t *testing.T) {
	a := newSimAppliance(t, nil)
	run(t, a)
	if err := a.store.Update(func(s *settings.Settings) error {
		s.Handsets[0].Channel, s.Handsets[1].Channel = 1, 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st := (backend{a}).Status(); st.Audio != nil {
		t.Errorf("status of virtual audio has an audio device: %+v", *st.Audio)
	}
	st := backend{a}.status(audiohub.Stats{EarpieceUnderruns: []uint64{3, 7}, EarpieceDropped: []uint64{30, 90}})
	if got := []uint64{st.Handsets[0].EarpieceUnderruns, st.Handsets[1].EarpieceUnderruns}; got[0] != 7 || got[1] != 3 {
		t.Errorf("earpiece underruns of handsets 1 and 2 on channels 1 and 0: got %v, want [7 3]", got)
	}
	if got := []uint64{st.Handsets[0].EarpieceDroppedSamples, st.Handsets[1].EarpieceDroppedSamples}; got[0] != 90 || got[1] != 30 {
		t.Errorf("earpiece samples dropped of handsets 1 and 2 on channels 1 and 0: got %v, want [90 30]", got)
	}
}
