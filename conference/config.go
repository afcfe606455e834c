package conference

import (
	"fmt"

	"github.com/openmcu/mcu/mixer"
	"github.com/openmcu/mcu/transport"
)

// Config holds the conference settings. YAML keys are snake_case.
type Config struct {
	// MaxRooms caps the number of rooms on this server.
	MaxRooms int `yaml:"max_rooms"`
	// MaxParticipants caps participants across all rooms.
	MaxParticipants int `yaml:"max_participants"`
	// MaxParticipantsPerRoom caps one room.
	MaxParticipantsPerRoom int `yaml:"max_participants_per_room"`
	// OpusBitrate is the default bitrate of the mixed stream, bits/s.
	OpusBitrate int `yaml:"opus_bitrate"`
	// OpusComplexity is the Opus encoder complexity, 0..10.
	OpusComplexity int `yaml:"opus_complexity"`
	// SkipDecodeLevel skips decoding packets whose RFC 6464 level is this
	// quiet or quieter (in -dBov), for participants that are not speaking.
	SkipDecodeLevel int `yaml:"skip_decode_level"`
	// SpeechThresholdDBFS is the level above which a frame counts as active
	// even when the VAD hears no speech (music, tones, loud talkers).
	SpeechThresholdDBFS float64 `yaml:"speech_threshold_dbfs"`
	// Speaker tunes active-speaker selection; max_active is the room default.
	Speaker mixer.SpeakerConfig `yaml:"speaker"`
	// Limiter shapes the mix limiter.
	Limiter mixer.LimiterConfig `yaml:"limiter"`
	// DSP is the default voice processing for new rooms.
	DSP DSPSettings `yaml:"dsp"`
	// Video holds the composite video defaults.
	Video VideoConfig `yaml:"video"`
	// Recording holds the recorder settings.
	Recording RecordingConfig `yaml:"recording"`
	// Source holds the settings of pulled RTSP/RTMP sources.
	Source SourceConfig `yaml:"source"`
	// Transport holds the WebRTC network settings.
	Transport transport.Config `yaml:"transport"`
}

// DefaultConfig returns the embedded defaults `mcu serve` starts with.
func DefaultConfig() Config {
	return Config{
		MaxRooms:               1000,
		MaxParticipants:        5000,
		MaxParticipantsPerRoom: 1000,
		OpusBitrate:            32000,
		OpusComplexity:         8,
		SkipDecodeLevel:        70,
		SpeechThresholdDBFS:    -30,
		Speaker:                mixer.DefaultSpeakerConfig(),
		Limiter:                mixer.DefaultLimiterConfig(),
		DSP:                    DSPSettings{NS: true, AGC: true},
		Video:                  DefaultVideoConfig(),
		Recording:              DefaultRecordingConfig(),
		Source:                 DefaultSourceConfig(),
		Transport:              transport.DefaultConfig(),
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxRooms < 1:
		return fmt.Errorf("max_rooms must be at least 1: %w", ErrInvalidArgument)
	case c.MaxParticipants < 1:
		return fmt.Errorf("max_participants must be at least 1: %w", ErrInvalidArgument)
	case c.MaxParticipantsPerRoom < 1:
		return fmt.Errorf("max_participants_per_room must be at least 1: %w", ErrInvalidArgument)
	case c.OpusBitrate < minOpusBitrate || c.OpusBitrate > maxOpusBitrate:
		return fmt.Errorf("opus_bitrate %d out of %d..%d: %w", c.OpusBitrate, minOpusBitrate, maxOpusBitrate, ErrInvalidArgument)
	case c.OpusComplexity < 0 || c.OpusComplexity > 10:
		return fmt.Errorf("opus_complexity %d out of 0..10: %w", c.OpusComplexity, ErrInvalidArgument)
	case c.SkipDecodeLevel < 0 || c.SkipDecodeLevel > 128:
		return fmt.Errorf("skip_decode_level %d out of 0..128 (128 never skips): %w", c.SkipDecodeLevel, ErrInvalidArgument)
	}
	if err := c.Speaker.Validate(); err != nil {
		return fmt.Errorf("speaker: %w", err)
	}
	if err := c.Video.Validate(); err != nil {
		return err
	}
	if err := c.Source.Validate(); err != nil {
		return err
	}
	if err := c.Transport.Validate(); err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	return nil
}

const (
	minOpusBitrate = 6000
	maxOpusBitrate = 510000
	maxIDLen       = 128
)
