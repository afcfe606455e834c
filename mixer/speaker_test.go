package mixer

import (
	"slices"
	"testing"
	"time"
)

const frame = 20 * time.Millisecond

// drive feeds levels per slot (in dBFS; below -60 counts as silence) for a
// duration and returns the active set at the end.
func drive(s *SpeakerSelector, now *time.Duration, d time.Duration, levels map[int]float64) []int {
	var act []int
	for end := *now + d; *now < end; *now += frame {
		for slot, lvl := range levels {
			s.Observe(slot, lvl, lvl > -60, frame, *now)
		}
		act = s.Update(*now)
	}
	out := slices.Clone(act)
	slices.Sort(out)
	return out
}

func TestSpeakerSelection(t *testing.T) {
	cfg := DefaultSpeakerConfig()
	cfg.MaxActive = 2
	s := NewSpeakerSelector(cfg, 4)
	var now time.Duration

	if got := drive(s, &now, time.Second, map[int]float64{0: -20, 1: -100, 2: -100, 3: -100}); !slices.Equal(got, []int{0}) {
		t.Fatalf("one talker: active %v, want [0]", got)
	}
	if got := drive(s, &now, time.Second, map[int]float64{0: -20, 1: -25, 2: -100, 3: -100}); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("two talkers: active %v, want [0 1]", got)
	}
	// A third, barely louder talker does not displace a talking member...
	if got := drive(s, &now, time.Second, map[int]float64{0: -20, 1: -25, 2: -23, 3: -100}); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("hysteresis: active %v, want [0 1]", got)
	}
	// ...but takes the place of one that fell silent.
	if got := drive(s, &now, time.Second, map[int]float64{0: -20, 1: -100, 2: -23, 3: -100}); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("replacement: active %v, want [0 2]", got)
	}
	// Everyone silent: the set empties after the hold time.
	if got := drive(s, &now, 2*time.Second, map[int]float64{0: -100, 1: -100, 2: -100, 3: -100}); len(got) != 0 {
		t.Fatalf("silence: active %v, want none", got)
	}
}

func TestSpeakerHoldsThroughPauses(t *testing.T) {
	s := NewSpeakerSelector(DefaultSpeakerConfig(), 2)
	var now time.Duration
	drive(s, &now, 500*time.Millisecond, map[int]float64{0: -20, 1: -100})
	// A 400 ms pause between words keeps the speaker active.
	if got := drive(s, &now, 400*time.Millisecond, map[int]float64{0: -100, 1: -100}); !slices.Equal(got, []int{0}) {
		t.Fatalf("pause: active %v, want [0]", got)
	}
	s.Remove(0)
	if s.IsActive(0) {
		t.Fatal("removed slot still active")
	}
}

func TestSpeakerUpdateDoesNotAllocate(t *testing.T) {
	s := NewSpeakerSelector(DefaultSpeakerConfig(), 500)
	var now time.Duration
	allocs := testing.AllocsPerRun(100, func() {
		for i := 0; i < 500; i++ {
			lvl := -100.0
			if i < 3 {
				lvl = -20
			}
			s.Observe(i, lvl, lvl > -60, frame, now)
		}
		s.Update(now)
		now += frame
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
}
