package mixer

import (
	"fmt"
	"time"
)

// SpeakerConfig tunes active-speaker selection.
type SpeakerConfig struct {
	// MaxActive is how many participants are mixed at once (top N).
	MaxActive int `yaml:"max_active"`
	// SmoothingMs is the time constant of the level average used to rank speakers.
	SmoothingMs float64 `yaml:"smoothing_ms"`
	// HoldMs keeps a speaker active through pauses between words.
	HoldMs float64 `yaml:"hold_ms"`
	// ReplaceMarginDB is how much louder a newcomer must be than the quietest
	// active speaker to take its place while that speaker still talks.
	ReplaceMarginDB float64 `yaml:"replace_margin_db"`
	// MinActiveMs protects a speaker that just became active from being
	// replaced straight away.
	MinActiveMs float64 `yaml:"min_active_ms"`
}

// DefaultSpeakerConfig mixes the three loudest talkers.
func DefaultSpeakerConfig() SpeakerConfig {
	return SpeakerConfig{MaxActive: 3, SmoothingMs: 300, HoldMs: 1200, ReplaceMarginDB: 6, MinActiveMs: 500}
}

// Validate reports a setting that cannot work.
func (c SpeakerConfig) Validate() error {
	if c.MaxActive < 1 || c.MaxActive > 64 {
		return fmt.Errorf("max_active %d out of 1..64: %w", c.MaxActive, ErrInvalidConfig)
	}
	if c.SmoothingMs <= 0 || c.HoldMs < 0 || c.MinActiveMs < 0 {
		return fmt.Errorf("speaker timing must be positive: %w", ErrInvalidConfig)
	}
	return nil
}

type speakerSlot struct {
	used       bool
	level      float64 // smoothed dBFS
	speaking   bool
	lastSpeech time.Duration
	active     bool
	since      time.Duration
}

// SpeakerSelector ranks participants, addressed by slot index, and keeps the
// set of active speakers with hysteresis so it does not flicker. Time is a
// parameter so tests drive it deterministically. It is not safe for
// concurrent use: the room tick owns it.
type SpeakerSelector struct {
	cfg    SpeakerConfig
	slots  []speakerSlot
	active []int
}

// NewSpeakerSelector makes a selector for up to capacity slots.
func NewSpeakerSelector(cfg SpeakerConfig, capacity int) *SpeakerSelector {
	return &SpeakerSelector{
		cfg:    cfg,
		slots:  make([]speakerSlot, capacity),
		active: make([]int, 0, cfg.MaxActive),
	}
}

// SetMaxActive changes N; extra speakers leave at the next Update.
func (s *SpeakerSelector) SetMaxActive(n int) {
	if n < 1 {
		n = 1
	}
	s.cfg.MaxActive = n
}

// Grow makes room for at least capacity slots.
func (s *SpeakerSelector) Grow(capacity int) {
	if capacity > len(s.slots) {
		s.slots = append(s.slots, make([]speakerSlot, capacity-len(s.slots))...)
	}
}

// Remove forgets a slot, dropping it from the active set at once.
func (s *SpeakerSelector) Remove(slot int) {
	if slot >= len(s.slots) {
		return
	}
	s.slots[slot] = speakerSlot{}
	s.dropActive(slot)
}

// Observe records one frame of a slot: its level in dBFS and whether it
// carries speech. frame is the frame's duration.
func (s *SpeakerSelector) Observe(slot int, levelDBFS float64, speech bool, frame, now time.Duration) {
	sl := &s.slots[slot]
	if !sl.used {
		*sl = speakerSlot{used: true, level: -127, lastSpeech: -time.Hour}
	}
	alpha := float64(frame) / (float64(time.Millisecond)*s.cfg.SmoothingMs + float64(frame))
	if levelDBFS > sl.level {
		// Rise faster than we fall, so a new talker is ranked quickly.
		alpha = min(1, alpha*4)
	}
	sl.level += alpha * (levelDBFS - sl.level)
	sl.speaking = speech
	if speech {
		sl.lastSpeech = now
	}
}

// Level returns a slot's smoothed level.
func (s *SpeakerSelector) Level(slot int) float64 { return s.slots[slot].level }

// IsActive tells whether the slot is among the active speakers.
func (s *SpeakerSelector) IsActive(slot int) bool {
	return slot < len(s.slots) && s.slots[slot].active
}

// Update recomputes the active set after the frame's observations and
// returns it. The returned slice is owned by the selector and valid until
// the next call.
func (s *SpeakerSelector) Update(now time.Duration) []int {
	hold := time.Duration(s.cfg.HoldMs * float64(time.Millisecond))
	minActive := time.Duration(s.cfg.MinActiveMs * float64(time.Millisecond))
	// Speakers silent for longer than the hold leave.
	for i := 0; i < len(s.active); {
		sl := &s.slots[s.active[i]]
		if now-sl.lastSpeech > hold {
			sl.active = false
			s.active = append(s.active[:i], s.active[i+1:]...)
			continue
		}
		i++
	}
	for len(s.active) > s.cfg.MaxActive {
		s.dropActive(s.weakest(now, 0))
	}
	// Current talkers join, loudest first, while there is room or they beat
	// the weakest member by the margin.
	for {
		cand := -1
		for i := range s.slots {
			sl := &s.slots[i]
			if sl.used && !sl.active && sl.speaking && (cand < 0 || sl.level > s.slots[cand].level) {
				cand = i
			}
		}
		if cand < 0 {
			break
		}
		if len(s.active) < s.cfg.MaxActive {
			s.activate(cand, now)
			continue
		}
		w := s.weakest(now, minActive)
		if w < 0 {
			break
		}
		ws := &s.slots[w]
		silentWeakest := now-ws.lastSpeech > 300*time.Millisecond
		if !silentWeakest && s.slots[cand].level < ws.level+s.cfg.ReplaceMarginDB {
			break
		}
		s.dropActive(w)
		s.activate(cand, now)
	}
	return s.active
}

func (s *SpeakerSelector) activate(slot int, now time.Duration) {
	s.slots[slot].active = true
	s.slots[slot].since = now
	s.active = append(s.active, slot)
}

func (s *SpeakerSelector) dropActive(slot int) {
	for i, a := range s.active {
		if a == slot {
			s.slots[slot].active = false
			s.active = append(s.active[:i], s.active[i+1:]...)
			return
		}
	}
}

// weakest returns the replaceable active speaker with the lowest smoothed
// level, preferring one that is not talking right now; -1 if all are
// protected by minActive.
func (s *SpeakerSelector) weakest(now, minActive time.Duration) int {
	best := -1
	for _, a := range s.active {
		sl := &s.slots[a]
		if now-sl.since < minActive {
			continue
		}
		if best < 0 {
			best = a
			continue
		}
		b := &s.slots[best]
		if sl.speaking != b.speaking {
			if !sl.speaking {
				best = a
			}
			continue
		}
		if sl.level < b.level {
			best = a
		}
	}
	return best
}
