package mixer

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/media"
)

// colourOf gives participant i a distinct, clearly non-background colour.
func colourOf(i int) [3]byte {
	return [3]byte{byte(60 + 9*i), byte(40 + 11*i), byte(220 - 10*i)}
}

func solid(w, h int, c [3]byte) *media.VideoFrame {
	f := media.NewVideoFrame(w, h)
	f.Fill(c[0], c[1], c[2])
	return f
}

func pixel(f *media.VideoFrame, x, y int) [3]byte {
	return [3]byte{f.Y[y*f.StrideY+x], f.U[(y/2)*f.StrideC+x/2], f.V[(y/2)*f.StrideC+x/2]}
}

func near(a, b [3]byte, tol int) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}

func expectPixel(t *testing.T, f *media.VideoFrame, x, y int, want [3]byte, what string) {
	t.Helper()
	if got := pixel(f, x, y); !near(got, want, 1) {
		t.Errorf("%s at (%d,%d): got %v, want %v", what, x, y, got, want)
	}
}

func newTestCompositor(t testing.TB, w, h int) *Compositor {
	t.Helper()
	cfg := DefaultCompositorConfig()
	cfg.Width, cfg.Height = w, h
	c, err := NewCompositor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func solidInputs(n, w, h int) []VideoInput {
	in := make([]VideoInput, n)
	for i := range in {
		in[i] = VideoInput{ParticipantID: fmt.Sprintf("p%d", i), Frame: solid(w, h, colourOf(i))}
	}
	return in
}

// expectTiles checks the centre and the corners (inset by 3 pixels, past
// any filter blur) of every tile the compositor placed.
func expectTiles(t *testing.T, c *Compositor, dst *media.VideoFrame, colour map[string][3]byte) {
	t.Helper()
	for _, tl := range c.Tiles() {
		want := colour[tl.ParticipantID]
		expectPixel(t, dst, tl.X+tl.W/2, tl.Y+tl.H/2, want, tl.ParticipantID+" centre")
	}
}

func TestComposeGrid(t *testing.T) {
	const w, h = 1280, 720
	bg := DefaultCompositorConfig().Background
	for _, n := range []int{1, 2, 4, 5, 9, 16} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := newTestCompositor(t, w, h)
			if err := c.SetLayout(Layout{Fit: FitCrop}); err != nil {
				t.Fatal(err)
			}
			in := solidInputs(n, 640, 360)
			dst := media.NewVideoFrame(w, h)
			if err := c.Compose(dst, in, nil); err != nil {
				t.Fatal(err)
			}
			want := Layout{}.Place(nil, w, h, ids(n), nil)
			if fmt.Sprint(c.Tiles()) != fmt.Sprint(want) {
				t.Fatalf("tiles %v, want %v", c.Tiles(), want)
			}
			// With crop, every pixel of a tile is its participant's colour
			// (solid sources leave no room for filter error).
			for i, tl := range c.Tiles() {
				for _, p := range [][2]int{{tl.X, tl.Y}, {tl.X + tl.W - 1, tl.Y + tl.H - 1}, {tl.X + tl.W/2, tl.Y + tl.H/2}} {
					expectPixel(t, dst, p[0], p[1], colourOf(i), tl.ParticipantID)
				}
			}
			if n == 5 {
				// The short last row is centred: background either side.
				expectPixel(t, dst, 100, 540, bg, "left of last row")
				expectPixel(t, dst, 1200, 540, bg, "right of last row")
			}
		})
	}
}

func TestComposeFocusLayouts(t *testing.T) {
	const w, h = 1280, 720
	in := solidInputs(4, 640, 360)
	col := map[string][3]byte{}
	for i, v := range in {
		col[v.ParticipantID] = colourOf(i)
	}
	for _, tc := range []struct {
		name   string
		l      Layout
		points map[[2]int]string // pixel -> participant expected there
	}{
		{"speaker", Layout{Kind: LayoutSpeaker}, map[[2]int]string{{640, 288}: "p2", {384, 648}: "p0", {640, 648}: "p1", {896, 648}: "p3"}},
		{"pip", Layout{Kind: LayoutPIP}, map[[2]int]string{{100, 100}: "p2", {1100, 600}: "p0", {900, 600}: "p2"}},
		{"custom z-order", Layout{Kind: LayoutCustom, Custom: []Region{
			{X: 0.25, Y: 0.25, W: 0.5, H: 0.5, Z: 3, Participant: "p3"},
			{X: 0, Y: 0, W: 0.5, H: 0.5, Z: 1, Speaker: 1},
			{X: 0.5, Y: 0.5, W: 0.5, H: 0.5, Z: 4, Participant: "p1"},
		}}, map[[2]int]string{{100, 100}: "p2", {400, 250}: "p3", {800, 450}: "p1", {700, 300}: "p3", {1200, 700}: "p1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCompositor(t, w, h)
			if err := c.SetLayout(tc.l); err != nil {
				t.Fatal(err)
			}
			dst := media.NewVideoFrame(w, h)
			if err := c.Compose(dst, in, []string{"p2"}); err != nil {
				t.Fatal(err)
			}
			for p, id := range tc.points {
				expectPixel(t, dst, p[0], p[1], col[id], id)
			}
		})
	}
}

func TestLetterboxAndCropGeometry(t *testing.T) {
	for _, tc := range []struct {
		name           string
		sw, sh, tw, th int
		fit            FitMode
		dx, dy, dw, dh int
	}{
		{"4:3 in 16:9 letterbox", 640, 480, 1280, 720, FitLetterbox, 160, 0, 960, 720},
		{"4:3 in 16:9 crop", 640, 480, 1280, 720, FitCrop, 0, 0, 1280, 720},
		{"16:9 in 4:3 letterbox", 1280, 720, 640, 480, FitLetterbox, 0, 60, 640, 360},
		{"16:9 in 16:9", 640, 360, 320, 180, FitLetterbox, 0, 0, 320, 180},
		{"16:9 in tall tile", 640, 360, 640, 720, FitLetterbox, 0, 180, 640, 360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s tileScaler
			s.build(scaleKey{tc.sw, tc.sh, tc.tw, tc.th, tc.fit})
			if s.dx != tc.dx || s.dy != tc.dy || s.dw != tc.dw || s.dh != tc.dh {
				t.Errorf("picture at (%d,%d) %dx%d, want (%d,%d) %dx%d", s.dx, s.dy, s.dw, s.dh, tc.dx, tc.dy, tc.dw, tc.dh)
			}
		})
	}

	// Pixels: a source whose outer eighth on each side is a border colour.
	// Letterbox shows the border next to background bars; crop to a
	// narrower aspect cuts exactly the border away (16:9 -> 4:3 keeps the
	// middle 75% of the width).
	inner, border := [3]byte{150, 60, 200}, [3]byte{50, 200, 60}
	bg := DefaultCompositorConfig().Background
	bordered := func(w, h int) *media.VideoFrame {
		f := solid(w, h, inner)
		b := w / 8
		fillRect(f, 0, 0, b, h, border)
		fillRect(f, w-b, 0, b, h, border)
		return f
	}
	for _, tc := range []struct {
		name   string
		src    *media.VideoFrame
		cw, ch int
		fit    FitMode
		points map[[2]int][3]byte
	}{
		{"16:9 letterbox into 4:3", bordered(1280, 720), 640, 480, FitLetterbox, map[[2]int][3]byte{
			{320, 30}: bg, {320, 450}: bg, {320, 240}: inner, {20, 240}: border, {620, 240}: border}},
		{"16:9 crop into 4:3", bordered(1280, 720), 640, 480, FitCrop, map[[2]int][3]byte{
			{320, 2}: inner, {2, 240}: inner, {637, 477}: inner}},
		{"4:3 letterbox into 16:9", bordered(640, 480), 1280, 720, FitLetterbox, map[[2]int][3]byte{
			{100, 360}: bg, {1180, 360}: bg, {180, 360}: border, {640, 360}: inner}},
		{"4:3 crop into 16:9", bordered(640, 480), 1280, 720, FitCrop, map[[2]int][3]byte{
			{2, 2}: border, {640, 2}: inner, {1277, 717}: border}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCompositor(t, tc.cw, tc.ch)
			if err := c.SetLayout(Layout{Fit: tc.fit}); err != nil {
				t.Fatal(err)
			}
			dst := media.NewVideoFrame(tc.cw, tc.ch)
			if err := c.Compose(dst, []VideoInput{{ParticipantID: "a", Frame: tc.src}}, nil); err != nil {
				t.Fatal(err)
			}
			for p, want := range tc.points {
				expectPixel(t, dst, p[0], p[1], want, "")
			}
		})
	}
}

// TestLetterboxBarsHideTileBelow: a letterboxed tile on top of another
// paints its bars, so the tile below does not show through.
func TestLetterboxBarsHideTileBelow(t *testing.T) {
	c := newTestCompositor(t, 1280, 720)
	err := c.SetLayout(Layout{Kind: LayoutCustom, Custom: []Region{
		{X: 0, Y: 0, W: 1, H: 1, Participant: "under"},
		{X: 0, Y: 0, W: 0.5, H: 1, Z: 1, Participant: "over"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	dst := media.NewVideoFrame(1280, 720)
	in := []VideoInput{{ParticipantID: "under", Frame: solid(640, 360, colourOf(1))}, {ParticipantID: "over", Frame: solid(640, 360, colourOf(2))}}
	if err := c.Compose(dst, in, nil); err != nil {
		t.Fatal(err)
	}
	bg := DefaultCompositorConfig().Background
	expectPixel(t, dst, 320, 50, bg, "bar of top tile")
	expectPixel(t, dst, 320, 360, colourOf(2), "top tile")
	expectPixel(t, dst, 960, 50, colourOf(1), "bottom tile")
}

func popcount(g [7]byte) int {
	n := 0
	for _, r := range g {
		n += bits.OnesCount8(r)
	}
	return n
}

func TestPlaceholder(t *testing.T) {
	const w, h = 1280, 720
	stale := solid(640, 360, colourOf(3))
	stale.PTS = 1 * time.Second
	fresh := solid(640, 360, colourOf(4))
	fresh.PTS = 9 * time.Second
	broken := &media.VideoFrame{Width: 640, Height: 360, StrideY: 640, StrideC: 320, Y: make([]byte, 10)}
	in := []VideoInput{
		{ParticipantID: "alice", DisplayName: "Alice Smith"},               // no video
		{ParticipantID: "bob", DisplayName: "bob", Frame: stale},           // stalled
		{ParticipantID: "x7", Frame: fresh},                                // live
		{ParticipantID: "zed", DisplayName: "Zoë 9 Ortega", Frame: broken}, // bad frame from a bad sender
	}
	c := newTestCompositor(t, w, h)
	dst := media.NewVideoFrame(w, h)
	dst.PTS = 10 * time.Second
	if err := c.Compose(dst, in, nil); err != nil {
		t.Fatal(err)
	}
	if PlaceholderColor("alice") == PlaceholderColor("bob") && PlaceholderColor("bob") == PlaceholderColor("zed") {
		t.Fatalf("palette gives everyone the same colour")
	}
	for _, tc := range []struct {
		tile  int
		glyph []byte
	}{{0, []byte("AS")}, {1, []byte("B")}, {3, []byte("ZO")}} {
		tl := c.Tiles()[tc.tile]
		col := PlaceholderColor(tl.ParticipantID)
		expectPixel(t, dst, tl.X+2, tl.Y+2, col, tl.ParticipantID+" placeholder corner")
		// Count text pixels: they must all sit in the middle of the tile
		// and number s*s times the glyphs' set bits for an even scale s.
		white, set := 0, 0
		for _, g := range tc.glyph {
			set += popcount(glyphs[glyphIndex(g)])
		}
		for y := tl.Y; y < tl.Y+tl.H; y++ {
			for x := tl.X; x < tl.X+tl.W; x++ {
				p := pixel(dst, x, y)
				switch {
				case p == textColor:
					white++
					if x < tl.X+tl.W/8 || x > tl.X+tl.W*7/8 || y < tl.Y+tl.H/4 || y > tl.Y+tl.H*3/4 {
						t.Fatalf("%s: text pixel at (%d,%d) outside the middle", tl.ParticipantID, x, y)
					}
				case p != col:
					t.Fatalf("%s: stray colour %v at (%d,%d)", tl.ParticipantID, p, x, y)
				}
			}
		}
		s2 := white / set
		s := 2
		for s*s < s2 {
			s += 2
		}
		if white%set != 0 || s*s != s2 || s < 8 {
			t.Errorf("%s: %d text pixels for %d glyph bits: not a whole even scale", tl.ParticipantID, white, set)
		}
	}
	live := c.Tiles()[2]
	expectPixel(t, dst, live.X+live.W/2, live.Y+live.H/2, colourOf(4), "live tile")
}

func TestInitials(t *testing.T) {
	for name, want := range map[string]string{
		"Alice Smith": "AS", "bob": "B", "  jean-luc  picard ": "JP", "x7": "X", "7x": "7",
		"Émile Zola": "MZ", "": "?", "!!!": "?", "a b c": "AC",
	} {
		g, n := initials(name)
		got := ""
		for _, gi := range g[:n] {
			switch {
			case gi < 26:
				got += string(rune('A' + gi))
			case gi < 36:
				got += string(rune('0' + gi - 26))
			default:
				got += "?"
			}
		}
		if got != want {
			t.Errorf("initials(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestSwitchLayoutMovesColours(t *testing.T) {
	const w, h = 1280, 720
	c := newTestCompositor(t, w, h)
	in := solidInputs(4, 640, 360)
	dst := media.NewVideoFrame(w, h)
	compose := func() {
		t.Helper()
		if err := c.Compose(dst, in, []string{"p3"}); err != nil {
			t.Fatal(err)
		}
	}
	compose()
	expectPixel(t, dst, 320, 180, colourOf(0), "grid top left")
	expectPixel(t, dst, 960, 540, colourOf(3), "grid bottom right")

	if err := c.SetLayout(Layout{Kind: LayoutSpeaker, Fit: FitCrop}); err != nil {
		t.Fatal(err)
	}
	// Not applied until the next Compose.
	expectPixel(t, dst, 320, 180, colourOf(0), "before next compose")
	compose()
	expectPixel(t, dst, 320, 180, colourOf(3), "speaker focus")
	expectPixel(t, dst, 384, 648, colourOf(0), "speaker strip")

	// An invalid layout is refused and the current one stays.
	if err := c.SetLayout(Layout{Kind: LayoutCustom}); !errors.Is(err, ErrInvalidLayout) {
		t.Fatalf("invalid layout: %v", err)
	}
	regions := []Region{{X: 0, Y: 0, W: 0.5, H: 1, Participant: "p1"}, {X: 0.5, Y: 0, W: 0.5, H: 1, Speaker: 1}}
	if err := c.SetLayout(Layout{Kind: LayoutCustom, Fit: FitCrop, Custom: regions}); err != nil {
		t.Fatal(err)
	}
	regions[0].Participant = "p0" // the compositor kept its own copy
	compose()
	expectPixel(t, dst, 320, 360, colourOf(1), "custom left")
	expectPixel(t, dst, 960, 360, colourOf(3), "custom right")
	if got := c.Layout().Kind; got != LayoutCustom {
		t.Errorf("Layout() = %v", got)
	}
}

func TestOddAndBadSizes(t *testing.T) {
	for _, sz := range [][2]int{{1279, 720}, {1280, 719}, {0, 720}, {-2, 2}} {
		cfg := DefaultCompositorConfig()
		cfg.Width, cfg.Height = sz[0], sz[1]
		if _, err := NewCompositor(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v accepted: %v", sz, err)
		}
	}
	c := newTestCompositor(t, 640, 360)
	if err := c.Compose(media.NewVideoFrame(320, 180), nil, nil); !errors.Is(err, ErrInvalidCanvas) {
		t.Errorf("wrong canvas size: %v", err)
	}
	if err := c.Compose(&media.VideoFrame{Width: 640, Height: 360}, nil, nil); !errors.Is(err, ErrInvalidCanvas) {
		t.Errorf("canvas without planes: %v", err)
	}
	// Odd-sized and tiny sources are scaled like any other.
	dst := media.NewVideoFrame(640, 360)
	for _, sz := range [][3]int{{641, 361, 180}, {175, 99, 180}, {1, 1, 180}, {3, 2, 180}, {2000, 1, 179}} {
		col := [3]byte{120, 70, 190}
		if err := c.Compose(dst, []VideoInput{{ParticipantID: "odd", Frame: solid(sz[0], sz[1], col)}}, nil); err != nil {
			t.Fatal(err)
		}
		// A 2000x1 sliver letterboxes to the minimum two rows, 178 and 179.
		expectPixel(t, dst, 320, sz[2], col, fmt.Sprint(sz))
	}
}

func TestComposeDoesNotAllocate(t *testing.T) {
	c := newTestCompositor(t, 1280, 720)
	in := solidInputs(9, 640, 360)
	in[4].Frame = nil // a placeholder too
	in[5].Frame = solid(480, 270, colourOf(5))
	dst := media.NewVideoFrame(1280, 720)
	for _, l := range []Layout{{}, {Kind: LayoutSpeaker, Fit: FitCrop}, {Kind: LayoutPIP, Insets: 3}} {
		if err := c.SetLayout(l); err != nil {
			t.Fatal(err)
		}
		if err := c.Compose(dst, in, []string{"p1"}); err != nil { // warm-up builds the tables
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(10, func() { _ = c.Compose(dst, in, []string{"p1"}) }); n != 0 {
			t.Errorf("%v: %v allocs per Compose", l.Kind, n)
		}
	}
}

// TestSetLayoutConcurrently runs under -race: the API goroutine changes the
// layout while the room tick composes.
func TestSetLayoutConcurrently(t *testing.T) {
	c := newTestCompositor(t, 320, 180)
	in := solidInputs(3, 160, 90)
	dst := media.NewVideoFrame(320, 180)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			_ = c.SetLayout(Layout{Kind: LayoutKind(i % 3)})
			_ = c.Layout()
		}
	}()
	for range 200 {
		if err := c.Compose(dst, in, []string{"p1"}); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}
