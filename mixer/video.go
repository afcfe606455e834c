package mixer

import (
	"fmt"
	"sync"
	"time"

	"github.com/openmcu/mcu/media"
)

// CompositorConfig sets the canvas of one composition.
type CompositorConfig struct {
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
	// Background is the YUV colour of the canvas and of letterbox bars.
	Background [3]byte `yaml:"background"`
	// StallTimeout turns a participant's frame into a placeholder once the
	// canvas PTS is this far past the frame's PTS (both on the room clock).
	// 0 disables it; the caller may also pass a nil frame.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// DefaultCompositorConfig is a 1280x720 black canvas with a 3 s stall timeout.
func DefaultCompositorConfig() CompositorConfig {
	return CompositorConfig{Width: 1280, Height: 720, Background: [3]byte{16, 128, 128}, StallTimeout: 3 * time.Second}
}

// Validate reports a canvas that cannot be composed.
func (c CompositorConfig) Validate() error {
	if c.Width < 2 || c.Height < 2 || c.Width%2 != 0 || c.Height%2 != 0 || c.Width > 8192 || c.Height > 8192 {
		return fmt.Errorf("canvas %dx%d must be even and in 2..8192: %w", c.Width, c.Height, ErrInvalidConfig)
	}
	if c.StallTimeout < 0 {
		return fmt.Errorf("stall_timeout %v negative: %w", c.StallTimeout, ErrInvalidConfig)
	}
	return nil
}

// VideoInput is one participant's latest picture for a composition.
type VideoInput struct {
	ParticipantID string
	// DisplayName gives the placeholder's initials; the ID is used if empty.
	DisplayName string
	// Frame is the latest decoded picture of any size, or nil for a
	// placeholder. The compositor only reads it during Compose.
	Frame *media.VideoFrame
}

// maxScalers bounds the cache of scaling tables; tiles of one size share an
// entry, so a room needs only a handful.
const maxScalers = 64

// Compositor draws participants' pictures into a canvas according to a
// layout. Compose is meant for one goroutine (the room's video tick);
// SetLayout may be called from any goroutine. After warm-up (the first
// frame at each source and tile size) Compose does not allocate.
type Compositor struct {
	cfg CompositorConfig

	mu      sync.Mutex
	pending *Layout // set by SetLayout, taken by the next Compose

	layout  Layout
	ids     []string
	tiles   []Tile
	scalers []*tileScaler
	frame   uint64
	sc      *scratch
}

// NewCompositor makes a compositor that starts with a letterboxed grid.
func NewCompositor(cfg CompositorConfig) (*Compositor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Room for a full custom layout up front, so joins do not allocate.
	return &Compositor{
		cfg:   cfg,
		sc:    new(scratch),
		ids:   make([]string, 0, MaxRegions),
		tiles: make([]Tile, 0, MaxRegions),
	}, nil
}

// SetLayout validates l and makes it take effect at the next Compose. The
// compositor keeps its own copy.
func (c *Compositor) SetLayout(l Layout) error {
	if err := l.Validate(); err != nil {
		return err
	}
	l = l.Clone()
	c.mu.Lock()
	c.pending = &l
	c.mu.Unlock()
	return nil
}

// Layout returns the layout the next Compose will use.
func (c *Compositor) Layout() Layout {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		return c.pending.Clone()
	}
	return c.layout.Clone()
}

// Tiles returns the tiles of the last Compose, valid until the next one.
func (c *Compositor) Tiles() []Tile { return c.tiles }

// Compose draws one canvas. inputs lists every participant with a tile, in
// a stable order; speakers ranks the focus speakers (see FocusSelector).
// A missing, invalid or stalled input frame becomes a placeholder tile, so
// one bad sender never fails the canvas; only a bad dst is an error.
func (c *Compositor) Compose(dst *media.VideoFrame, inputs []VideoInput, speakers []string) error {
	if dst == nil || dst.Width != c.cfg.Width || dst.Height != c.cfg.Height {
		return fmt.Errorf("canvas must be %dx%d: %w", c.cfg.Width, c.cfg.Height, ErrInvalidCanvas)
	}
	if err := dst.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCanvas, err)
	}
	c.mu.Lock()
	if c.pending != nil {
		c.layout = *c.pending
		c.pending = nil
	}
	c.mu.Unlock()
	c.frame++

	c.ids = c.ids[:0]
	for i := range inputs {
		c.ids = append(c.ids, inputs[i].ParticipantID)
	}
	c.tiles = c.layout.Place(c.tiles[:0], dst.Width, dst.Height, c.ids, speakers)

	bg := c.cfg.Background
	dst.Fill(bg[0], bg[1], bg[2])
	for _, t := range c.tiles {
		in := findInput(inputs, t.ParticipantID)
		if in == nil {
			continue
		}
		f := in.Frame
		if f == nil || f.Width > MaxSourceWidth || c.stalled(dst, f) || f.Validate() != nil {
			drawPlaceholder(dst, t, in.DisplayName)
			continue
		}
		s := c.scaler(scaleKey{sw: f.Width, sh: f.Height, tw: t.W, th: t.H, fit: c.layout.Fit})
		s.draw(dst, t.X, t.Y, f, bg, c.sc)
	}
	return nil
}

func (c *Compositor) stalled(dst, f *media.VideoFrame) bool {
	return c.cfg.StallTimeout > 0 && dst.PTS-f.PTS > c.cfg.StallTimeout
}

func findInput(inputs []VideoInput, id string) *VideoInput {
	for i := range inputs {
		if inputs[i].ParticipantID == id {
			return &inputs[i]
		}
	}
	return nil
}

// scaler returns the tables for k, building them (which allocates) only for
// a size not seen recently. Entries unused for a frame are recycled first.
func (c *Compositor) scaler(k scaleKey) *tileScaler {
	var spare *tileScaler
	for _, s := range c.scalers {
		if s.key == k {
			s.used = c.frame
			return s
		}
		if s.used < c.frame && (spare == nil || s.used < spare.used) {
			spare = s
		}
	}
	if spare == nil {
		if len(c.scalers) < maxScalers {
			spare = &tileScaler{}
			c.scalers = append(c.scalers, spare)
		} else {
			spare = c.scalers[c.frame%maxScalers]
		}
	}
	spare.build(k)
	spare.used = c.frame
	return spare
}
