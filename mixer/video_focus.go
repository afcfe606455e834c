package mixer

import (
	"fmt"
	"time"
)

// FocusConfig tunes which speaker the speaker and PIP layouts show large.
type FocusConfig struct {
	// SwitchAfter is how long a new speaker must stay dominant before the
	// focus moves to them, so the picture does not flicker between talkers.
	SwitchAfter time.Duration `yaml:"switch_after"`
}

// DefaultFocusConfig switches after 1.5 s of dominance.
func DefaultFocusConfig() FocusConfig {
	return FocusConfig{SwitchAfter: 1500 * time.Millisecond}
}

// Validate reports a setting that cannot work.
func (c FocusConfig) Validate() error {
	if c.SwitchAfter < 0 || c.SwitchAfter > time.Minute {
		return fmt.Errorf("switch_after %v out of 0..1m: %w", c.SwitchAfter, ErrInvalidConfig)
	}
	return nil
}

// FocusSelector turns the audio side's active speakers into a stable video
// focus. Time is a parameter so tests drive it deterministically. It is not
// safe for concurrent use: the room tick owns it.
type FocusSelector struct {
	cfg       FocusConfig
	focus     string
	candidate string
	since     time.Duration
}

// NewFocusSelector makes a selector with no focus yet.
func NewFocusSelector(cfg FocusConfig) *FocusSelector {
	return &FocusSelector{cfg: cfg}
}

// Update takes the active speakers, loudest first, at time now and returns
// the focus. The first speaker ever heard gets the focus at once; later a
// different dominant speaker (active[0]) takes it only after staying
// dominant for SwitchAfter without a break. An empty list keeps the focus.
func (f *FocusSelector) Update(active []string, now time.Duration) string {
	if len(active) == 0 {
		f.candidate = ""
		return f.focus
	}
	d := active[0]
	switch {
	case f.focus == "":
		f.focus, f.candidate = d, ""
	case d == f.focus:
		f.candidate = ""
	case d != f.candidate:
		f.candidate, f.since = d, now
		fallthrough
	default:
		if now-f.since >= f.cfg.SwitchAfter {
			f.focus, f.candidate = d, ""
		}
	}
	return f.focus
}

// Focus returns the current focus, "" before anyone spoke.
func (f *FocusSelector) Focus() string { return f.focus }

// Forget drops a participant who left; if it had the focus, the next Update
// gives the focus to whoever is dominant then.
func (f *FocusSelector) Forget(id string) {
	if f.focus == id {
		f.focus = ""
	}
	if f.candidate == id {
		f.candidate = ""
	}
}

// Speakers appends the ranking Compose expects to dst: the focus first,
// then the other active speakers in order. It does not allocate when dst has
// room for len(active)+1 entries.
func (f *FocusSelector) Speakers(dst []string, active []string) []string {
	if f.focus != "" {
		dst = append(dst, f.focus)
	}
	for _, a := range active {
		if a != f.focus {
			dst = append(dst, a)
		}
	}
	return dst
}
