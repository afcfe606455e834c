package dspquality

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// Levels used by the scenes, in dBFS of active speech.
const (
	farLevelDBFS    = -20
	nearLevelDBFS   = -24
	nsSpeechDBFS    = -26
	micNoiseDBFS    = -90 // self-noise of the capture path in echo scenes
	agcNoiseDBFS    = -70 // room noise under AGC scenes
	agcTargetDBFS   = -18
	noiseOnlyDBFS   = -55
	loudspeakerGain = 1.5 // tanh drive: about 2 dB of compression on peaks
)

// EchoParams describes one simulated echo path.
type EchoParams struct {
	Seconds  float64
	DelayMs  float64 // initial bulk delay from Render to the mic
	DriftPPM float64 // slow clock drift of that delay
	JumpMs   float64 // a sudden jitter-buffer step ...
	JumpAtS  float64 // ... at this time
	T60Ms    float64
	ERLdB    float64
	// DoubleTalkAtS > 0 adds near-end speech from that time on.
	DoubleTalkAtS float64
}

// EchoScene is one far-end/near-end pair with its ground truth.
type EchoScene struct {
	Name   string
	Params EchoParams
	Far    []float64 // what the server rendered to the participant
	Echo   []float64 // the echo component at the mic, without noise
	Talker []float64 // clean near-end speech at the mic (zeros in single talk)
	Near   []float64 // the mic: echo + talker + mic noise
}

// TrueDelay is the bulk delay in samples at mic sample n.
func (p EchoParams) TrueDelay(n int) float64 {
	d := p.DelayMs*Rate/1000 + p.DriftPPM*1e-6*float64(n)
	if p.JumpMs != 0 && float64(n) >= p.JumpAtS*Rate {
		d += p.JumpMs * Rate / 1000
	}
	return d
}

// Scenes builds every scene from the synthesiser and a seed. The same seed
// always gives the same samples.
type Scenes struct {
	Synth *Synth
	Seed  uint64
}

func (s Scenes) rng(salt string) *rand.Rand {
	var h uint64 = 1469598103934665603
	for _, c := range []byte(salt) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return rand.New(rand.NewPCG(s.Seed, h))
}

// Echo builds an echo scene.
func (s Scenes) Echo(ctx context.Context, name string, p EchoParams) (*EchoScene, error) {
	rng := s.rng("echo/" + name)
	n := samples(p.Seconds)
	far, err := s.Synth.track(ctx, talkers[:4], n, farLevelDBFS, rng)
	if err != nil {
		return nil, err
	}
	// Network and playout delay, drifting, then a small loudspeaker (high
	// pass and soft saturation), then the room.
	ls := variableDelay(far, p.TrueDelay)
	highpass(150, 0.707).apply(ls)
	for i, v := range ls {
		ls[i] = math.Tanh(loudspeakerGain*v) / loudspeakerGain
	}
	echo := convolve(ls, RoomImpulse(p.T60Ms/1000, rng))[:n]
	// ERL: far-end active level minus echo active level.
	setActiveLevel(echo, farLevelDBFS-p.ERLdB)

	talker := make([]float64, n)
	if p.DoubleTalkAtS > 0 {
		at := int(p.DoubleTalkAtS * Rate)
		t, err := s.Synth.track(ctx, talkers[4:], n-at, nearLevelDBFS, rng)
		if err != nil {
			return nil, err
		}
		copy(talker[at:], t)
	}
	near := whiteNoise(n, rng)
	scale(near, fromDB(micNoiseDBFS))
	for i := range near {
		near[i] += echo[i] + talker[i]
	}
	return &EchoScene{Name: name, Params: p, Far: far, Echo: echo, Talker: talker, Near: near}, nil
}

// RoomImpulse is a synthetic room response: a direct path, a few early
// reflections and an exponentially decaying diffuse tail that reaches -60 dB
// at t60 seconds (direct-to-reverberant ratio about 0 dB), low-passed like
// air and walls do.
func RoomImpulse(t60 float64, rng *rand.Rand) []float64 {
	l := int(t60 * Rate)
	h := make([]float64, l)
	h[0] = 1
	for range 6 {
		at := Rate/1000 + rng.IntN(Rate*15/1000)
		sign := 1.0
		if rng.IntN(2) == 0 {
			sign = -1
		}
		h[at] += sign * (0.2 + 0.3*rng.Float64())
	}
	g := math.Sqrt(13.8 / (t60 * Rate))
	decay := -6.9 / (t60 * Rate) // ln(1000) per t60: amplitude -60 dB
	for i := Rate / 500; i < l; i++ {
		h[i] += g * rng.NormFloat64() * math.Exp(decay*float64(i))
	}
	lowpass(7000, 0.707).apply(h)
	return h
}

// NoiseScene is clean speech plus one kind of noise at a given SNR.
type NoiseScene struct {
	Name  string
	Kind  string // white, pink or babble
	SNRdB float64
	Clean []float64
	Noisy []float64
}

// Noise builds a noise-suppression scene: 0.5 s of noise alone, then speech;
// the SNR is measured over active speech.
func (s Scenes) Noise(ctx context.Context, kind string, snr, seconds float64) (*NoiseScene, error) {
	name := fmt.Sprintf("%s %g dB", kind, snr)
	rng := s.rng("noise/" + name)
	n := samples(seconds)
	lead := Rate / 2
	clean := make([]float64, n)
	sp, err := s.Synth.track(ctx, talkers, n-lead, nsSpeechDBFS, rng)
	if err != nil {
		return nil, err
	}
	copy(clean[lead:], sp)
	var noise []float64
	switch kind {
	case "white":
		noise = whiteNoise(n, rng)
	case "pink":
		noise = pinkNoise(n, rng)
	case "babble":
		noise, err = s.Synth.babble(ctx, n, 8, rng)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown noise %q", ErrSynthesis, kind)
	}
	scale(noise, fromDB(nsSpeechDBFS-snr)/rms(noise))
	noisy := make([]float64, n)
	for i := range noisy {
		noisy[i] = clean[i] + noise[i]
	}
	return &NoiseScene{Name: name, Kind: kind, SNRdB: snr, Clean: clean, Noisy: noisy}, nil
}

// AGCScene is speech at a fixed level over a quiet room, or room noise only.
type AGCScene struct {
	Name      string
	LevelDBFS float64
	NoiseOnly bool
	Clean     []float64 // the speech alone (zeros for noise only)
	Input     []float64
}

// AGC builds a gain-control scene with speech at level dBFS (active RMS).
// Speech so loud its peaks would pass full scale is soft-limited first, as a
// capture path would, so every engine sees the same legal input.
func (s Scenes) AGC(ctx context.Context, level, seconds float64) (*AGCScene, error) {
	name := fmt.Sprintf("speech at %g dBFS", level)
	rng := s.rng("agc/" + name)
	n := samples(seconds)
	lead := Rate / 2
	clean := make([]float64, n)
	sp, err := s.Synth.track(ctx, talkers, n-lead, level, rng)
	if err != nil {
		return nil, err
	}
	copy(clean[lead:], sp)
	for i, v := range clean {
		if math.Abs(v) > 0.7 {
			clean[i] = math.Copysign(0.7+0.29*math.Tanh((math.Abs(v)-0.7)/0.29), v)
		}
	}
	in := pinkNoise(n, rng)
	scale(in, fromDB(agcNoiseDBFS))
	for i := range in {
		in[i] += clean[i]
	}
	return &AGCScene{Name: name, LevelDBFS: level, Clean: clean, Input: in}, nil
}

// AGCNoiseOnly is room noise with no speech: the AGC must not amplify it.
func (s Scenes) AGCNoiseOnly(seconds float64) *AGCScene {
	rng := s.rng("agc/noise")
	n := samples(seconds)
	in := pinkNoise(n, rng)
	scale(in, fromDB(noiseOnlyDBFS))
	return &AGCScene{Name: fmt.Sprintf("pink noise only at %d dBFS", noiseOnlyDBFS), NoiseOnly: true,
		Clean: make([]float64, n), Input: in}
}

// samples converts a duration to a whole number of 20 ms ticks of samples,
// so the frame loops cover every sample.
func samples(seconds float64) int {
	const tick = 2 * FrameLen
	return int(math.Round(seconds*Rate/tick)) * tick
}
