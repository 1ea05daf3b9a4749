package media

import (
	"fmt"
	"math"
)

// AGC defaults: DefaultAGC returns them.
const (
	// DefaultAGCTargetDBFS is the RMS level the AGC steers speech toward, a comfortable
	// telephone level well below clipping.
	DefaultAGCTargetDBFS = -20.0
	// DefaultAGCMaxGainDB is the most the AGC boosts a quiet microphone.
	DefaultAGCMaxGainDB = 24.0
	// DefaultAGCMinGainDB is the most the AGC cuts a loud one.
	DefaultAGCMinGainDB = -12.0
	// DefaultAGCGateDBFS is the noise gate: below this input level (room noise, a handset
	// on the desk, pauses between words) the gain holds instead of rising.
	DefaultAGCGateDBFS = -55.0
	// DefaultAGCAttackDBPerSec is how fast the gain falls when the input gets louder.
	DefaultAGCAttackDBPerSec = 20.0
	// DefaultAGCReleaseDBPerSec is how fast it rises when the input gets quieter: slowly, so
	// the gain does not swell in every pause.
	DefaultAGCReleaseDBPerSec = 6.0
	// agcLevelTau is the time constant of the input level the AGC measures.
	agcLevelTau = 0.1 // seconds
)

// AGCConfig shapes an AGC. Levels are RMS in dBFS, as LevelDBFS measures them.
type AGCConfig struct {
	TargetDBFS      float64 // the output level the gain steers toward
	MaxGainDB       float64 // the gain's upper limit, ≥ 0
	MinGainDB       float64 // its lower limit, ≤ 0
	GateDBFS        float64 // below this input level the gain holds
	AttackDBPerSec  float64 // how fast the gain may fall, > 0
	ReleaseDBPerSec float64 // how fast it may rise, > 0
}

// DefaultAGC returns the AGC settings of the Default… constants.
func DefaultAGC() AGCConfig {
	return AGCConfig{
		TargetDBFS:      DefaultAGCTargetDBFS,
		MaxGainDB:       DefaultAGCMaxGainDB,
		MinGainDB:       DefaultAGCMinGainDB,
		GateDBFS:        DefaultAGCGateDBFS,
		AttackDBPerSec:  DefaultAGCAttackDBPerSec,
		ReleaseDBPerSec: DefaultAGCReleaseDBPerSec,
	}
}

// An AGC is an automatic gain control for one microphone. It measures the input level
// (smoothed over 100 ms) and moves its gain toward the one that brings that level to the
// target, within the gain limits and no faster than the attack and release rates. While the
// samples of a Process call are below the gate the gain holds, so silence and room noise
// are not pumped up to the maximum gain. Process never allocates; it is meant for the audio callback. An AGC is not safe for
// concurrent use.
type AGC struct {
	cfg    AGCConfig
	rate   float64 // samples per second
	meanSq float64 // smoothed mean square of the input, in full-scale units
	gainDB float64
}

// NewAGC returns an AGC for audio at sampleRate Hz, at 0 dB gain.
func NewAGC(sampleRate int, cfg AGCConfig) (*AGC, error) {
	switch {
	case sampleRate <= 0:
		return nil, fmt.Errorf("new AGC: sample rate %d Hz, want > 0", sampleRate)
	case cfg.MaxGainDB < 0 || cfg.MinGainDB > 0:
		return nil, fmt.Errorf("new AGC: gain limits %.1f..%.1f dB must include 0 dB", cfg.MinGainDB, cfg.MaxGainDB)
	case cfg.AttackDBPerSec <= 0 || cfg.ReleaseDBPerSec <= 0:
		return nil, fmt.Errorf("new AGC: attack %.1f and release %.1f dB/s must be positive", cfg.AttackDBPerSec, cfg.ReleaseDBPerSec)
	}
	return &AGC{cfg: cfg, rate: float64(sampleRate)}, nil
}

// Reset returns the AGC to 0 dB gain and forgets the level it measured.
func (a *AGC) Reset() { a.meanSq, a.gainDB = 0, 0 }

// GainDB returns the gain the AGC applied at the end of the last Process.
func (a *AGC) GainDB() float64 { return a.gainDB }

// Process applies the gain to pcm in place, clipping to 16 bits. It updates the level and
// the gain once per call, from the samples of the call, and ramps the gain across the
// samples so that a change does not click; calls of a few milliseconds (one device period)
// suit it.
func (a *AGC) Process(pcm []int16) {
	if len(pcm) == 0 {
		return
	}
	var sum float64
	for _, v := range pcm {
		x := float64(v) / 32768
		sum += x * x
	}
	dur := float64(len(pcm)) / a.rate
	block := sum / float64(len(pcm))
	a.meanSq += (1 - math.Exp(-dur/agcLevelTau)) * (block - a.meanSq)

	// The gate looks at this call's samples alone, so the gain holds from the first quiet
	// period on, and does not creep up while the smoothed level decays.
	from := a.gainDB
	if MeanSquareDBFS(block) >= a.cfg.GateDBFS {
		level := MeanSquareDBFS(a.meanSq)
		want := max(a.cfg.MinGainDB, min(a.cfg.MaxGainDB, a.cfg.TargetDBFS-level))
		if want < a.gainDB {
			a.gainDB = max(want, a.gainDB-a.cfg.AttackDBPerSec*dur)
		} else {
			a.gainDB = min(want, a.gainDB+a.cfg.ReleaseDBPerSec*dur)
		}
	}
	g0, g1 := math.Pow(10, from/20), math.Pow(10, a.gainDB/20)
	if g0 == 1 && g1 == 1 {
		return
	}
	step := (g1 - g0) / float64(len(pcm))
	for i, v := range pcm {
		g := g0 + step*float64(i+1)
		pcm[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(float64(v)*g))))
	}
}
