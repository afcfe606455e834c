package mixer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LayoutKind selects how tiles are arranged on the canvas.
type LayoutKind uint8

const (
	// LayoutGrid tiles every participant in an automatic grid: 1, 2 side by
	// side, 2x2, 3x3, ... with a short last row centred.
	LayoutGrid LayoutKind = iota
	// LayoutSpeaker shows the focus speaker large and the others in a strip.
	LayoutSpeaker
	// LayoutPIP shows the focus speaker full-canvas with small insets in a corner.
	LayoutPIP
	// LayoutCustom places the regions listed in Layout.Custom.
	LayoutCustom
)

var layoutKindNames = [...]string{"grid", "speaker", "pip", "custom"}

func (k LayoutKind) String() string {
	if int(k) < len(layoutKindNames) {
		return layoutKindNames[k]
	}
	return "LayoutKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseLayoutKind reads "grid", "speaker", "pip" or "custom".
func ParseLayoutKind(s string) (LayoutKind, error) {
	for i, n := range layoutKindNames {
		if strings.EqualFold(s, n) {
			return LayoutKind(i), nil
		}
	}
	return 0, fmt.Errorf("layout kind %q: %w", s, ErrInvalidLayout)
}

// MarshalText and UnmarshalText let configs and APIs spell kinds by name.
func (k LayoutKind) MarshalText() ([]byte, error) {
	if k > LayoutCustom {
		return nil, fmt.Errorf("layout kind %d: %w", k, ErrInvalidLayout)
	}
	return []byte(k.String()), nil
}

// UnmarshalText reads a kind by name (see ParseLayoutKind).
func (k *LayoutKind) UnmarshalText(b []byte) error {
	v, err := ParseLayoutKind(string(b))
	if err == nil {
		*k = v
	}
	return err
}

// FitMode says how a picture keeps its aspect ratio inside its tile.
type FitMode uint8

const (
	// FitLetterbox shows the whole picture, with background bars.
	FitLetterbox FitMode = iota
	// FitCrop fills the tile and cuts off what overflows, centred.
	FitCrop
)

func (f FitMode) String() string {
	switch f {
	case FitLetterbox:
		return "letterbox"
	case FitCrop:
		return "crop"
	}
	return "FitMode(" + strconv.Itoa(int(f)) + ")"
}

// ParseFitMode reads "letterbox" or "crop".
func ParseFitMode(s string) (FitMode, error) {
	switch strings.ToLower(s) {
	case "letterbox":
		return FitLetterbox, nil
	case "crop":
		return FitCrop, nil
	}
	return 0, fmt.Errorf("fit mode %q: %w", s, ErrInvalidLayout)
}

// MarshalText spells the fit mode by name.
func (f FitMode) MarshalText() ([]byte, error) {
	if f > FitCrop {
		return nil, fmt.Errorf("fit mode %d: %w", f, ErrInvalidLayout)
	}
	return []byte(f.String()), nil
}

// UnmarshalText reads "letterbox" or "crop".
func (f *FitMode) UnmarshalText(b []byte) error {
	v, err := ParseFitMode(string(b))
	if err == nil {
		*f = v
	}
	return err
}

// StripSide is where the speaker layout puts the other participants.
type StripSide uint8

const (
	// StripBottom puts the strip below the focus speaker.
	StripBottom StripSide = iota
	// StripRight puts the strip to the right of the focus speaker.
	StripRight
)

var stripSideNames = [...]string{"bottom", "right"}

// MarshalText spells the side "bottom" or "right".
func (s StripSide) MarshalText() ([]byte, error) {
	if int(s) >= len(stripSideNames) {
		return nil, fmt.Errorf("strip side %d: %w", s, ErrInvalidLayout)
	}
	return []byte(stripSideNames[s]), nil
}

// UnmarshalText reads "bottom" or "right".
func (s *StripSide) UnmarshalText(b []byte) error {
	i, err := lookupName(stripSideNames[:], string(b), "strip side")
	if err == nil {
		*s = StripSide(i)
	}
	return err
}

// Corner is where the PIP layout puts its insets.
type Corner uint8

// The PIP corners; the zero value is bottom right.
const (
	CornerBottomRight Corner = iota
	CornerBottomLeft
	CornerTopRight
	CornerTopLeft
)

var cornerNames = [...]string{"bottom-right", "bottom-left", "top-right", "top-left"}

// MarshalText spells the corner, e.g. "bottom-right".
func (c Corner) MarshalText() ([]byte, error) {
	if int(c) >= len(cornerNames) {
		return nil, fmt.Errorf("pip corner %d: %w", c, ErrInvalidLayout)
	}
	return []byte(cornerNames[c]), nil
}

// UnmarshalText reads "bottom-right", "bottom-left", "top-right" or "top-left".
func (c *Corner) UnmarshalText(b []byte) error {
	i, err := lookupName(cornerNames[:], string(b), "pip corner")
	if err == nil {
		*c = Corner(i)
	}
	return err
}

func lookupName(names []string, s, what string) (int, error) {
	for i, n := range names {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s %q: %w", what, s, ErrInvalidLayout)
}

// MaxRegions bounds a custom layout.
const MaxRegions = 64

// Region is one rectangle of a custom layout in normalised canvas
// coordinates ([0,1], origin top left). It is bound either to a participant
// ID or, when Speaker > 0, to the Speaker-th entry of the speaker ranking
// (focus first, then other active speakers, then everyone else in order).
type Region struct {
	X float64 `yaml:"x"`
	Y float64 `yaml:"y"`
	W float64 `yaml:"w"`
	H float64 `yaml:"h"`
	// Z orders drawing: higher is drawn later, on top. Ties keep list order.
	Z           int    `yaml:"z"`
	Participant string `yaml:"participant,omitempty"`
	Speaker     int    `yaml:"speaker,omitempty"`
}

// ParseRegionBinding reads a binding as the API spells it: "speaker N"
// (or "speaker:N") binds to the N-th speaker, anything else is a participant ID.
func ParseRegionBinding(s string) (participant string, speaker int) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "speaker")
	if ok {
		rest = strings.TrimLeft(rest, " :")
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			return "", n
		}
	}
	return s, 0
}

// Layout describes how the compositor arranges the canvas. The zero value is
// a letterboxed grid.
type Layout struct {
	Kind LayoutKind `yaml:"kind"`
	Fit  FitMode    `yaml:"fit"`
	// Strip is the side of the others' strip in the speaker layout.
	Strip StripSide `yaml:"strip"`
	// Corner and Insets shape the PIP layout; Insets is the most insets
	// shown, 0 meaning 1.
	Corner Corner `yaml:"corner"`
	Insets int    `yaml:"insets"`
	// Custom lists the regions of a custom layout.
	Custom []Region `yaml:"custom,omitempty"`
}

// Validate reports a layout that cannot be placed.
func (l Layout) Validate() error {
	if l.Kind > LayoutCustom {
		return fmt.Errorf("layout kind %d: %w", l.Kind, ErrInvalidLayout)
	}
	if l.Fit > FitCrop {
		return fmt.Errorf("fit mode %d: %w", l.Fit, ErrInvalidLayout)
	}
	if l.Strip > StripRight {
		return fmt.Errorf("strip side %d: %w", l.Strip, ErrInvalidLayout)
	}
	if l.Corner > CornerTopLeft {
		return fmt.Errorf("pip corner %d: %w", l.Corner, ErrInvalidLayout)
	}
	if l.Insets < 0 || l.Insets > MaxRegions {
		return fmt.Errorf("pip insets %d out of 0..%d: %w", l.Insets, MaxRegions, ErrInvalidLayout)
	}
	if l.Kind != LayoutCustom {
		return nil
	}
	if len(l.Custom) == 0 {
		return fmt.Errorf("custom layout without regions: %w", ErrInvalidLayout)
	}
	if len(l.Custom) > MaxRegions {
		return fmt.Errorf("custom layout has %d regions, at most %d: %w", len(l.Custom), MaxRegions, ErrInvalidLayout)
	}
	const eps = 1e-9
	for i, r := range l.Custom {
		for _, v := range [...]float64{r.X, r.Y, r.W, r.H} {
			if math.IsNaN(v) || v < 0 || v > 1 {
				return fmt.Errorf("region %d: coordinate %v outside [0,1]: %w", i, v, ErrInvalidLayout)
			}
		}
		if r.W <= 0 || r.H <= 0 {
			return fmt.Errorf("region %d: empty (%vx%v): %w", i, r.W, r.H, ErrInvalidLayout)
		}
		if r.X+r.W > 1+eps || r.Y+r.H > 1+eps {
			return fmt.Errorf("region %d: extends past the canvas (x+w=%v, y+h=%v): %w", i, r.X+r.W, r.Y+r.H, ErrInvalidLayout)
		}
		switch {
		case r.Speaker < 0 || r.Speaker > MaxRegions:
			return fmt.Errorf("region %d: speaker %d out of 1..%d: %w", i, r.Speaker, MaxRegions, ErrInvalidLayout)
		case r.Speaker > 0 && r.Participant != "":
			return fmt.Errorf("region %d: bound to both participant %q and speaker %d: %w", i, r.Participant, r.Speaker, ErrInvalidLayout)
		case r.Speaker == 0 && r.Participant == "":
			return fmt.Errorf("region %d: bound to nobody: %w", i, ErrInvalidLayout)
		}
	}
	return nil
}

// Clone returns a copy that shares no memory with l.
func (l Layout) Clone() Layout {
	if l.Custom != nil {
		l.Custom = append([]Region(nil), l.Custom...)
	}
	return l
}

// Tile is one participant's rectangle on the canvas, in pixels. X, Y, W and
// H are even so the rectangle maps exactly onto the I420 chroma planes.
type Tile struct {
	ParticipantID string
	X, Y, W, H    int
	// Z is the drawing order; Place returns tiles sorted by it.
	Z int
}

// Place appends the tiles of the layout for a canvasW x canvasH canvas to
// dst and returns it, sorted by Z. participants is everyone with a tile, in
// a stable order; speakers ranks the active speakers, focus first. Speakers
// who are not participants are ignored. Place does not allocate when dst has
// room for the tiles (at most max(len(participants), len(Custom))). The
// layout is assumed valid (see Validate); tiles smaller than 2x2 are dropped.
func (l Layout) Place(dst []Tile, canvasW, canvasH int, participants, speakers []string) []Tile {
	canvasW, canvasH = even(canvasW), even(canvasH)
	if canvasW <= 0 || canvasH <= 0 {
		return dst
	}
	switch l.Kind {
	case LayoutSpeaker:
		return l.placeSpeaker(dst, canvasW, canvasH, participants, speakers)
	case LayoutPIP:
		return l.placePIP(dst, canvasW, canvasH, participants, speakers)
	case LayoutCustom:
		return l.placeCustom(dst, canvasW, canvasH, participants, speakers)
	default:
		return placeGrid(dst, canvasW, canvasH, participants)
	}
}

func even(v int) int { return v &^ 1 }

// appendTile adds the tile spanning [x0,x1) x [y0,y1), clipped to the
// canvas and to even edges.
func appendTile(dst []Tile, id string, x0, y0, x1, y1, z, w, h int) []Tile {
	x0, y0 = even(max(x0, 0)), even(max(y0, 0))
	x1, y1 = even(min(x1, w)), even(min(y1, h))
	if x1-x0 < 2 || y1-y0 < 2 {
		return dst
	}
	return append(dst, Tile{ParticipantID: id, X: x0, Y: y0, W: x1 - x0, H: y1 - y0, Z: z})
}

// gridShape picks the columns and rows for n tiles: the smallest square
// that holds them, minus empty rows.
func gridShape(n int) (cols, rows int) {
	cols = 1
	for cols*cols < n {
		cols++
	}
	return cols, (n + cols - 1) / cols
}

func placeGrid(dst []Tile, w, h int, ids []string) []Tile {
	n := len(ids)
	if n == 0 {
		return dst
	}
	cols, rows := gridShape(n)
	for i, id := range ids {
		r, c := i/cols, i%cols
		k := cols
		if r == rows-1 {
			k = n - r*cols
		}
		// Edges in half-cells so a short last row is centred; computing
		// edges (not widths) makes neighbours abut without gaps.
		off := cols - k
		x0 := (2*c + off) * w / (2 * cols)
		x1 := (2*c + 2 + off) * w / (2 * cols)
		dst = appendTile(dst, id, x0, r*h/rows, x1, (r+1)*h/rows, 0, w, h)
	}
	return dst
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ranked returns the n-th (0-based) entry of the speaker ranking without
// allocating: speakers who are participants (first occurrence), then the
// remaining participants in order.
func ranked(participants, speakers []string, n int) (string, bool) {
	for i, s := range speakers {
		if !contains(participants, s) || contains(speakers[:i], s) {
			continue
		}
		if n == 0 {
			return s, true
		}
		n--
	}
	for _, p := range participants {
		if contains(speakers, p) {
			continue
		}
		if n == 0 {
			return p, true
		}
		n--
	}
	return "", false
}

// eachOther calls fn for every participant but focus, in ranking order.
func eachOther(participants, speakers []string, focus string, fn func(j int, id string)) {
	j := 0
	for i, s := range speakers {
		if s == focus || !contains(participants, s) || contains(speakers[:i], s) {
			continue
		}
		fn(j, s)
		j++
	}
	for _, p := range participants {
		if p == focus || contains(speakers, p) {
			continue
		}
		fn(j, p)
		j++
	}
}

func (l Layout) placeSpeaker(dst []Tile, w, h int, ids, speakers []string) []Tile {
	focus, ok := ranked(ids, speakers, 0)
	if !ok {
		return dst
	}
	m := len(ids) - 1
	if m == 0 {
		return appendTile(dst, focus, 0, 0, w, h, 0, w, h)
	}
	if l.Strip == StripRight {
		sw := even(w / 5)
		dst = appendTile(dst, focus, 0, 0, w-sw, h, 0, w, h)
		// Tiles keep the canvas aspect unless the strip is too short for them.
		th := even(min(h/m, sw*h/w))
		y0 := even((h - m*th) / 2)
		eachOther(ids, speakers, focus, func(j int, id string) {
			dst = appendTile(dst, id, w-sw, y0+j*th, w, y0+(j+1)*th, 0, w, h)
		})
		return dst
	}
	sh := even(h / 5)
	dst = appendTile(dst, focus, 0, 0, w, h-sh, 0, w, h)
	tw := even(min(w/m, sh*w/h))
	x0 := even((w - m*tw) / 2)
	eachOther(ids, speakers, focus, func(j int, id string) {
		dst = appendTile(dst, id, x0+j*tw, h-sh, x0+(j+1)*tw, h, 0, w, h)
	})
	return dst
}

func (l Layout) placePIP(dst []Tile, w, h int, ids, speakers []string) []Tile {
	focus, ok := ranked(ids, speakers, 0)
	if !ok {
		return dst
	}
	dst = appendTile(dst, focus, 0, 0, w, h, 0, w, h)
	maxInsets := max(l.Insets, 1)
	iw, ih := even(w/4), even(h/4)
	margin := even(min(w, h) / 40)
	perRow := max(1, (w-margin)/(iw+margin))
	left := l.Corner == CornerBottomLeft || l.Corner == CornerTopLeft
	top := l.Corner == CornerTopRight || l.Corner == CornerTopLeft
	eachOther(ids, speakers, focus, func(j int, id string) {
		if j >= maxInsets {
			return
		}
		// Insets fill a row from the corner inwards, then the next row.
		r, c := j/perRow, j%perRow
		x := margin + c*(iw+margin)
		if !left {
			x = w - margin - iw - c*(iw+margin)
		}
		y := margin + r*(ih+margin)
		if !top {
			y = h - margin - ih - r*(ih+margin)
		}
		if x < 0 || y < 0 || y+ih > h {
			return
		}
		dst = appendTile(dst, id, x, y, x+iw, y+ih, 1, w, h)
	})
	return dst
}

func (l Layout) placeCustom(dst []Tile, w, h int, ids, speakers []string) []Tile {
	start := len(dst)
	for _, r := range l.Custom {
		id := r.Participant
		if r.Speaker > 0 {
			var ok bool
			if id, ok = ranked(ids, speakers, r.Speaker-1); !ok {
				continue
			}
		} else if !contains(ids, id) {
			continue
		}
		x0 := int(math.Round(r.X * float64(w)))
		y0 := int(math.Round(r.Y * float64(h)))
		x1 := int(math.Round((r.X + r.W) * float64(w)))
		y1 := int(math.Round((r.Y + r.H) * float64(h)))
		dst = appendTile(dst, id, x0, y0, x1, y1, r.Z, w, h)
	}
	// Stable insertion sort by Z: at most 64 regions, and no allocation.
	t := dst[start:]
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && t[j].Z < t[j-1].Z; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
	return dst
}
