package dspquality

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"

	"github.com/openmcu/mcu/dsp/resample"
	"github.com/openmcu/mcu/media/wav"
)

// Voice is an espeak-ng voice with a variant (for example "en-us+f3").
type Voice struct {
	Name string
	Lang string // key into sentences
}

// Talkers for target speech: several languages, male and female variants.
var talkers = []Voice{
	{"en-us+f3", "en"}, {"en-us+m3", "en"}, {"en-gb+f2", "en"}, {"en-gb+m1", "en"},
	{"de+f4", "de"}, {"de+m2", "de"}, {"fr-fr+f1", "fr"}, {"fr-fr+m4", "fr"},
}

// babblers are the voices behind babble noise, disjoint from talkers.
var babblers = []Voice{
	{"en-us+m1", "en"}, {"en-us+f1", "en"}, {"en-gb-scotland+m5", "en"}, {"en-gb+f5", "en"},
	{"de+m6", "de"}, {"de+f2", "de"}, {"fr-fr+m2", "fr"}, {"fr-fr+f3", "fr"},
}

// Harvard sentences and equivalents: phonetically balanced, public domain.
var sentences = map[string][]string{
	"en": {
		"The birch canoe slid on the smooth planks.",
		"Glue the sheet to the dark blue background.",
		"It's easy to tell the depth of a well.",
		"These days a chicken leg is a rare dish.",
		"Rice is often served in round bowls.",
		"The juice of lemons makes fine punch.",
		"The box was thrown beside the parked truck.",
		"Four hours of steady work faced us.",
		"A large size in stockings is hard to sell.",
		"The boy was there when the sun rose.",
		"A rod is used to catch pink salmon.",
		"The source of the huge river is the clear spring.",
	},
	"de": {
		"Der Wind weht kalt über die weiten Felder im Norden.",
		"Am Morgen trinken wir Kaffee und lesen die Zeitung.",
		"Die alte Brücke führt über den breiten Fluss zur Stadt.",
		"Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
		"Im Sommer wandern viele Leute durch die grünen Berge.",
		"Der Zug nach Berlin hat heute leider zwanzig Minuten Verspätung.",
	},
	"fr": {
		"Le vent souffle fort sur la plage depuis ce matin.",
		"Nous avons pris le train de nuit pour aller à Marseille.",
		"La petite maison au bord du lac est fermée en hiver.",
		"Portez ce vieux whisky au juge blond qui fume.",
		"Les enfants jouent dans le jardin après l'école.",
		"Il faut arroser les fleurs tous les deux jours.",
	},
}

// Synth renders sentences with espeak-ng at 48 kHz, caching each utterance.
type Synth struct {
	mu    sync.Mutex
	cache map[string][]float64
}

// NewSynth checks that espeak-ng is available.
func NewSynth() (*Synth, error) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		return nil, fmt.Errorf("%w: espeak-ng not found: %w", ErrSynthesis, err)
	}
	return &Synth{cache: make(map[string][]float64)}, nil
}

// Say returns one utterance at 48 kHz, peak-normalised to 0.5, without the
// leading and trailing silence espeak adds.
func (s *Synth) Say(ctx context.Context, v Voice, text string) ([]float64, error) {
	key := v.Name + "\x00" + text
	s.mu.Lock()
	x, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		return x, nil
	}
	// A file, not --stdout: on a pipe espeak-ng cannot fill in the WAV
	// sizes. Fixed speed keeps the output identical run to run.
	f, err := os.CreateTemp("", "dspquality-*.wav")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, err)
	}
	fn := f.Name()
	f.Close()
	defer os.Remove(fn)
	cmd := exec.CommandContext(ctx, "espeak-ng", "-v", v.Name, "-s", "165", "-w", fn, text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: espeak-ng -v %s: %w: %s", ErrSynthesis, v.Name, err, stderr.String())
	}
	out, err := os.ReadFile(fn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, err)
	}
	a, err := wav.Decode(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("%w: decoding espeak-ng output: %w", ErrSynthesis, err)
	}
	mono := a.Mono()
	y, err := to48k(mono, a.SampleRate)
	if err != nil {
		return nil, err
	}
	y = trimSilence(y)
	if len(y) < Rate/4 {
		return nil, fmt.Errorf("%w: voice %s produced %d samples", ErrSynthesis, v.Name, len(y))
	}
	peak := 0.0
	for _, v := range y {
		peak = max(peak, v, -v)
	}
	scale(y, 0.5/peak)
	s.mu.Lock()
	s.cache[key] = y
	s.mu.Unlock()
	return y, nil
}

func to48k(x []float32, rate int) ([]float64, error) {
	if rate == Rate {
		return toFloat64(x), nil
	}
	r, err := resample.New(rate, Rate, resample.QualityHigh)
	if err != nil {
		return nil, fmt.Errorf("%w: resampler %d Hz: %w", ErrSynthesis, rate, err)
	}
	dst := make([]float32, r.MaxOut(len(x))+r.MaxOut(0))
	n := r.Process(dst, x)
	n += r.Flush(dst[n:])
	return toFloat64(dst[:n]), nil
}

// trimSilence drops leading and trailing samples below -60 dB of the peak,
// keeping 20 ms of margin.
func trimSilence(x []float64) []float64 {
	peak := 0.0
	for _, v := range x {
		peak = max(peak, v, -v)
	}
	th := peak * 1e-3
	a, b := 0, len(x)
	for a < b && x[a] < th && x[a] > -th {
		a++
	}
	for b > a && x[b-1] < th && x[b-1] > -th {
		b--
	}
	a = max(0, a-Rate/50)
	b = min(len(x), b+Rate/50)
	return x[a:b]
}

// track concatenates random sentences from voices with pauses of 0.2-0.7 s
// until n samples are filled (the last one is cut). Each sentence, and the
// whole, is scaled to an active-speech RMS of levelDBFS.
func (s *Synth) track(ctx context.Context, voices []Voice, n int, levelDBFS float64, rng *rand.Rand) ([]float64, error) {
	x := make([]float64, n)
	at := 0
	for at < n {
		v := voices[rng.IntN(len(voices))]
		list := sentences[v.Lang]
		u, err := s.Say(ctx, v, list[rng.IntN(len(list))])
		if err != nil {
			return nil, err
		}
		// Every sentence at the same active level, so that the long-term
		// level (and the gain an AGC should settle on) is well defined.
		u = append([]float64(nil), u...)
		setActiveLevel(u, levelDBFS)
		addInto(x, u, at, 1)
		at += len(u) + Rate/5 + rng.IntN(Rate/2)
	}
	setActiveLevel(x, levelDBFS)
	return x, nil
}

// babble is the sum of count utterances from the babble voices, each looped
// from a random offset over n samples with a random ±3 dB gain, normalised to
// unit RMS.
func (s *Synth) babble(ctx context.Context, n, count int, rng *rand.Rand) ([]float64, error) {
	x := make([]float64, n)
	for i := range count {
		v := babblers[i%len(babblers)]
		list := sentences[v.Lang]
		// Several sentences back to back so each talker is continuous.
		var talker []float64
		for range 4 {
			u, err := s.Say(ctx, v, list[rng.IntN(len(list))])
			if err != nil {
				return nil, err
			}
			talker = append(talker, u...)
			talker = append(talker, make([]float64, Rate/10)...)
		}
		g := fromDB(rng.Float64()*6 - 3)
		off := rng.IntN(len(talker))
		for j := range x {
			x[j] += g * talker[(off+j)%len(talker)]
		}
	}
	removeDC(x)
	scale(x, 1/rms(x))
	return x, nil
}
