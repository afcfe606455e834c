package mixer

import (
	"errors"
	"fmt"
	"testing"

	"gopkg.in/yaml.v3"
)

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d", i)
	}
	return out
}

type rect struct{ x, y, w, h int }

func tileRect(t Tile) rect { return rect{t.X, t.Y, t.W, t.H} }

// checkTiles asserts the invariants every layout keeps: even, inside the
// canvas, sorted by Z.
func checkTiles(t *testing.T, tiles []Tile, w, h int) {
	t.Helper()
	for i, tl := range tiles {
		if tl.X%2 != 0 || tl.Y%2 != 0 || tl.W%2 != 0 || tl.H%2 != 0 {
			t.Errorf("tile %d %+v not even-aligned", i, tl)
		}
		if tl.X < 0 || tl.Y < 0 || tl.W < 2 || tl.H < 2 || tl.X+tl.W > w || tl.Y+tl.H > h {
			t.Errorf("tile %d %+v outside %dx%d canvas", i, tl, w, h)
		}
		if i > 0 && tiles[i-1].Z > tl.Z {
			t.Errorf("tiles not sorted by Z: %d then %d", tiles[i-1].Z, tl.Z)
		}
	}
}

func overlaps(a, b Tile) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func TestGridLayout(t *testing.T) {
	const w, h = 1280, 720
	for _, tc := range []struct {
		n          int
		cols, rows int
		want       map[int]rect // spot checks by tile index
	}{
		{1, 1, 1, map[int]rect{0: {0, 0, 1280, 720}}},
		{2, 2, 1, map[int]rect{0: {0, 0, 640, 720}, 1: {640, 0, 640, 720}}},
		{3, 2, 2, map[int]rect{2: {320, 360, 640, 360}}}, // last row centred
		{4, 2, 2, map[int]rect{0: {0, 0, 640, 360}, 3: {640, 360, 640, 360}}},
		{5, 3, 2, map[int]rect{0: {0, 0, 426, 360}, 2: {852, 0, 428, 360}, 3: {212, 360, 428, 360}, 4: {640, 360, 426, 360}}},
		{9, 3, 3, map[int]rect{4: {426, 240, 426, 240}, 8: {852, 480, 428, 240}}},
		{16, 4, 4, map[int]rect{0: {0, 0, 320, 180}, 15: {960, 540, 320, 180}}},
	} {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			if c, r := gridShape(tc.n); c != tc.cols || r != tc.rows {
				t.Fatalf("shape %dx%d, want %dx%d", c, r, tc.cols, tc.rows)
			}
			tiles := Layout{}.Place(nil, w, h, ids(tc.n), nil)
			if len(tiles) != tc.n {
				t.Fatalf("%d tiles, want %d", len(tiles), tc.n)
			}
			checkTiles(t, tiles, w, h)
			area := 0
			for i, tl := range tiles {
				if tl.ParticipantID != fmt.Sprintf("p%d", i) {
					t.Errorf("tile %d is %s", i, tl.ParticipantID)
				}
				for j := range i {
					if overlaps(tiles[j], tl) {
						t.Errorf("tiles %d and %d overlap", j, i)
					}
				}
				area += tl.W * tl.H
			}
			// Full rows cover the canvas; the last row may be short.
			full := tc.n == tc.cols*tc.rows
			if full && area != w*h {
				t.Errorf("tiles cover %d pixels, want %d", area, w*h)
			}
			for i, r := range tc.want {
				if got := tileRect(tiles[i]); got != r {
					t.Errorf("tile %d = %+v, want %+v", i, got, r)
				}
			}
		})
	}
}

func TestSpeakerLayout(t *testing.T) {
	const w, h = 1280, 720
	parts := []string{"a", "b", "c", "d"}
	for _, tc := range []struct {
		name     string
		l        Layout
		speakers []string
		want     []Tile
	}{
		{"bottom strip, focus c", Layout{Kind: LayoutSpeaker}, []string{"c"}, []Tile{
			{"c", 0, 0, 1280, 576, 0},
			{"a", 256, 576, 256, 144, 0}, {"b", 512, 576, 256, 144, 0}, {"d", 768, 576, 256, 144, 0},
		}},
		{"other speakers lead the strip", Layout{Kind: LayoutSpeaker}, []string{"c", "d", "ghost"}, []Tile{
			{"c", 0, 0, 1280, 576, 0},
			{"d", 256, 576, 256, 144, 0}, {"a", 512, 576, 256, 144, 0}, {"b", 768, 576, 256, 144, 0},
		}},
		{"no speaker yet: first participant", Layout{Kind: LayoutSpeaker}, nil, []Tile{
			{"a", 0, 0, 1280, 576, 0},
			{"b", 256, 576, 256, 144, 0}, {"c", 512, 576, 256, 144, 0}, {"d", 768, 576, 256, 144, 0},
		}},
		{"right strip", Layout{Kind: LayoutSpeaker, Strip: StripRight}, []string{"b"}, []Tile{
			{"b", 0, 0, 1024, 720, 0},
			{"a", 1024, 144, 256, 144, 0}, {"c", 1024, 288, 256, 144, 0}, {"d", 1024, 432, 256, 144, 0},
		}},
		{"pip one inset", Layout{Kind: LayoutPIP}, []string{"b", "d"}, []Tile{
			{"b", 0, 0, 1280, 720, 0}, {"d", 942, 522, 320, 180, 1},
		}},
		{"pip three insets top left", Layout{Kind: LayoutPIP, Corner: CornerTopLeft, Insets: 3}, []string{"b"}, []Tile{
			{"b", 0, 0, 1280, 720, 0}, {"a", 18, 18, 320, 180, 1}, {"c", 356, 18, 320, 180, 1}, {"d", 694, 18, 320, 180, 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.l.Validate(); err != nil {
				t.Fatal(err)
			}
			got := tc.l.Place(nil, w, h, parts, tc.speakers)
			checkTiles(t, got, w, h)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
	// One participant fills the canvas in every focus layout.
	for _, k := range []LayoutKind{LayoutSpeaker, LayoutPIP} {
		got := Layout{Kind: k}.Place(nil, w, h, []string{"solo"}, []string{"solo"})
		if len(got) != 1 || tileRect(got[0]) != (rect{0, 0, w, h}) {
			t.Errorf("%v with one participant: %v", k, got)
		}
	}
}

func TestCustomLayout(t *testing.T) {
	l := Layout{Kind: LayoutCustom, Custom: []Region{
		{X: 0.5, Y: 0.5, W: 0.5, H: 0.5, Z: 2, Speaker: 1},   // top
		{X: 0, Y: 0, W: 1, H: 1, Z: 0, Participant: "a"},     // bottom
		{X: 0.25, Y: 0.25, W: 0.5, H: 0.5, Z: 1, Speaker: 2}, // middle
		{X: 0, Y: 0, W: 0.1, H: 0.1, Z: 5, Participant: "gone"},
		{X: 0, Y: 0, W: 0.1, H: 0.1, Z: 6, Speaker: 9}, // nobody that far down the ranking
	}}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	got := l.Place(nil, 1280, 720, []string{"a", "b", "c"}, []string{"c"})
	want := []Tile{{"a", 0, 0, 1280, 720, 0}, {"a", 320, 180, 640, 360, 1}, {"c", 640, 360, 640, 360, 2}}
	checkTiles(t, got, 1280, 720)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestLayoutValidate(t *testing.T) {
	ok := Region{X: 0, Y: 0, W: 0.5, H: 0.5, Participant: "a"}
	with := func(f func(r *Region)) Layout {
		r := ok
		f(&r)
		return Layout{Kind: LayoutCustom, Custom: []Region{r}}
	}
	many := make([]Region, MaxRegions+1)
	for i := range many {
		many[i] = ok
	}
	for name, l := range map[string]Layout{
		"bad kind":           {Kind: 9},
		"bad fit":            {Fit: 7},
		"bad corner":         {Kind: LayoutPIP, Corner: 9},
		"negative insets":    {Kind: LayoutPIP, Insets: -1},
		"no regions":         {Kind: LayoutCustom},
		"too many regions":   {Kind: LayoutCustom, Custom: many},
		"negative x":         with(func(r *Region) { r.X = -0.1 }),
		"past right edge":    with(func(r *Region) { r.X = 0.6 }),
		"past bottom edge":   with(func(r *Region) { r.Y = 0.75 }),
		"empty":              with(func(r *Region) { r.W = 0 }),
		"unbound":            with(func(r *Region) { r.Participant = "" }),
		"bound twice":        with(func(r *Region) { r.Speaker = 1 }),
		"negative speaker":   with(func(r *Region) { r.Participant, r.Speaker = "", -1 }),
		"coordinate above 1": with(func(r *Region) { r.H = 1.5 }),
	} {
		if err := l.Validate(); !errors.Is(err, ErrInvalidLayout) {
			t.Errorf("%s: got %v, want ErrInvalidLayout", name, err)
		}
	}
	if err := (Layout{Kind: LayoutCustom, Custom: many[:MaxRegions]}).Validate(); err != nil {
		t.Errorf("64 regions rejected: %v", err)
	}
}

func TestParseLayoutNames(t *testing.T) {
	for _, k := range []LayoutKind{LayoutGrid, LayoutSpeaker, LayoutPIP, LayoutCustom} {
		if got, err := ParseLayoutKind(k.String()); err != nil || got != k {
			t.Errorf("round trip %v: %v %v", k, got, err)
		}
	}
	if _, err := ParseLayoutKind("mosaic"); !errors.Is(err, ErrInvalidLayout) {
		t.Errorf("unknown kind accepted")
	}
	if f, err := ParseFitMode("Crop"); err != nil || f != FitCrop {
		t.Errorf("crop: %v %v", f, err)
	}
	for s, want := range map[string]struct {
		p string
		n int
	}{"speaker 2": {"", 2}, "Speaker:1": {"", 1}, "alice": {"alice", 0}, "speaker x": {"speaker x", 0}} {
		if p, n := ParseRegionBinding(s); p != want.p || n != want.n {
			t.Errorf("%q: %q %d", s, p, n)
		}
	}
}

func TestPlaceDoesNotAllocate(t *testing.T) {
	parts := ids(16)
	custom := Layout{Kind: LayoutCustom, Custom: []Region{{X: 0, Y: 0, W: 1, H: 1, Speaker: 1}, {X: 0.7, Y: 0.7, W: 0.3, H: 0.3, Z: -1, Participant: "p3"}}}
	dst := make([]Tile, 0, 64)
	for _, l := range []Layout{{}, {Kind: LayoutSpeaker}, {Kind: LayoutPIP, Insets: 4}, custom} {
		if n := testing.AllocsPerRun(50, func() { dst = l.Place(dst[:0], 1280, 720, parts, []string{"p5", "p2"}) }); n != 0 {
			t.Errorf("%v: %v allocs per Place", l.Kind, n)
		}
	}
}

func TestLayoutYAML(t *testing.T) {
	const doc = `
kind: custom
fit: crop
strip: right
corner: top-left
custom:
  - {x: 0, y: 0, w: 1, h: 1, participant: alice}
  - {x: 0.7, y: 0.7, w: 0.3, h: 0.3, z: 1, speaker: 1}
`
	var l Layout
	if err := yaml.Unmarshal([]byte(doc), &l); err != nil {
		t.Fatal(err)
	}
	if l.Kind != LayoutCustom || l.Fit != FitCrop || l.Strip != StripRight || l.Corner != CornerTopLeft || len(l.Custom) != 2 || l.Custom[1].Speaker != 1 {
		t.Fatalf("decoded %+v", l)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back Layout
	if err := yaml.Unmarshal(out, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(l) {
		t.Fatalf("round trip: %v\n%s", err, out)
	}
	if err := yaml.Unmarshal([]byte("kind: mosaic"), &l); !errors.Is(err, ErrInvalidLayout) {
		t.Errorf("unknown kind: %v", err)
	}
}
