package mixer

import (
	"errors"
	"testing"
	"time"
)

func TestFocusHysteresis(t *testing.T) {
	const tick = 20 * time.Millisecond
	type step struct {
		dur    time.Duration // how long this active list lasts
		active []string
		want   string // focus at the end of the step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first speaker takes focus at once", []step{
			{tick, nil, ""},
			{tick, []string{"a"}, "a"},
		}},
		{"short interjection does not switch", []step{
			{time.Second, []string{"a"}, "a"},
			{1400 * time.Millisecond, []string{"b", "a"}, "a"},
			{time.Second, []string{"a", "b"}, "a"},
		}},
		{"sustained new speaker switches after 1.5 s", []step{
			{time.Second, []string{"a"}, "a"},
			{1480 * time.Millisecond, []string{"b"}, "a"},
			{2 * tick, []string{"b"}, "b"},
		}},
		{"dominance must be continuous", []step{
			{time.Second, []string{"a"}, "a"},
			{time.Second, []string{"b"}, "a"},
			{tick, []string{"a", "b"}, "a"}, // a back on top resets b's run
			{time.Second, []string{"b"}, "a"},
			{600 * time.Millisecond, []string{"b"}, "b"},
		}},
		{"silence keeps the focus but breaks a run", []step{
			{time.Second, []string{"a"}, "a"},
			{time.Second, []string{"b"}, "a"},
			{5 * time.Second, nil, "a"},
			{time.Second, []string{"b"}, "a"},
		}},
		{"alternating talkers never steal focus", []step{
			{time.Second, []string{"a"}, "a"},
			{time.Second, []string{"b"}, "a"},
			{time.Second, []string{"c"}, "a"},
			{time.Second, []string{"b"}, "a"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFocusSelector(DefaultFocusConfig())
			var now time.Duration
			for i, s := range tc.steps {
				var got string
				for end := now + s.dur; now < end; now += tick {
					got = f.Update(s.active, now)
				}
				if got != s.want || f.Focus() != s.want {
					t.Fatalf("step %d at %v: focus %q, want %q", i, now, got, s.want)
				}
			}
		})
	}
}

func TestFocusForgetAndSpeakers(t *testing.T) {
	f := NewFocusSelector(DefaultFocusConfig())
	f.Update([]string{"a", "b"}, 0)
	dst := make([]string, 0, 4)
	if got := f.Speakers(dst, []string{"b", "a", "c"}); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("Speakers = %v", got)
	}
	if n := testing.AllocsPerRun(50, func() { dst = f.Speakers(dst[:0], []string{"b", "a", "c"}) }); n != 0 {
		t.Errorf("Speakers allocates %v", n)
	}
	f.Forget("a")
	if got := f.Update([]string{"b"}, time.Second); got != "b" {
		t.Fatalf("after the focus left, focus = %q, want b at once", got)
	}
	if err := (FocusConfig{SwitchAfter: -1}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative switch_after accepted")
	}
}
