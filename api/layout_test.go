package api

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/openmcu/mcu/conference"
	mcuv1 "github.com/openmcu/mcu/proto/mcu/v1"
)

func TestSetLayoutAndVideoSettings(t *testing.T) {
	h := start(t, testToken)
	ctx := authed(t, testToken)
	c := h.client
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r1", Video: &mcuv1.VideoSettings{
		Width: 640, Height: 360, Fps: 15,
		Layout: &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_SPEAKER, Fit: mcuv1.FitMode_FIT_MODE_CROP},
	}}); err != nil {
		t.Fatal(err)
	}
	v := h.fake.lastSettings.Video
	if v == nil || v.Width != 640 || v.Height != 360 || v.FPS != 15 || v.Layout.Kind != conference.LayoutSpeaker || v.Layout.Fit != conference.FitCrop {
		t.Fatalf("video settings reached the manager as %+v", v)
	}

	custom := &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM, Regions: []*mcuv1.LayoutRegion{
		{X: 0, Y: 0, W: 1, H: 1, Bind: "speaker 1"},
		{X: 0.7, Y: 0.7, W: 0.3, H: 0.3, Z: 1, Bind: "bob"},
	}}
	if _, err := c.SetLayout(ctx, &mcuv1.SetLayoutRequest{RoomId: "r1", Layout: custom}); err != nil {
		t.Fatal(err)
	}
	got := h.fake.lastLayout
	if got.Kind != conference.LayoutCustom || len(got.Custom) != 2 || got.Custom[0].Speaker != 1 ||
		got.Custom[1].Participant != "bob" || got.Custom[1].Z != 1 {
		t.Fatalf("layout reached the manager as %+v", got)
	}
	room, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if l := room.GetVideo().GetLayout(); l.GetKind() != mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM || l.GetRegions()[0].GetBind() != "speaker 1" {
		t.Fatalf("GetRoom layout %v", l)
	}

	tests := []struct {
		name   string
		req    *mcuv1.SetLayoutRequest
		code   codes.Code
		msgHas string
	}{
		{"unknown room", &mcuv1.SetLayoutRequest{RoomId: "nope", Layout: &mcuv1.Layout{}}, codes.NotFound, "room not found"},
		{"no layout", &mcuv1.SetLayoutRequest{RoomId: "r1"}, codes.InvalidArgument, "layout"},
		{"custom without regions", &mcuv1.SetLayoutRequest{RoomId: "r1", Layout: &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM}},
			codes.InvalidArgument, "layout.regions"},
		{"region outside", &mcuv1.SetLayoutRequest{RoomId: "r1", Layout: &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM,
			Regions: []*mcuv1.LayoutRegion{{X: 1.5, W: 0.1, H: 0.1, Bind: "a"}}}}, codes.InvalidArgument, "layout.regions[0].x"},
		{"region unbound", &mcuv1.SetLayoutRequest{RoomId: "r1", Layout: &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM,
			Regions: []*mcuv1.LayoutRegion{{W: 0.5, H: 0.5}}}}, codes.InvalidArgument, "layout.regions[0].bind"},
		{"unknown kind", &mcuv1.SetLayoutRequest{RoomId: "r1", Layout: &mcuv1.Layout{Kind: 9}}, codes.InvalidArgument, "layout.kind"},
		{"regions on grid", &mcuv1.SetLayoutRequest{RoomId: "r1", Layout: &mcuv1.Layout{
			Regions: []*mcuv1.LayoutRegion{{W: 0.5, H: 0.5, Bind: "a"}}}}, codes.InvalidArgument, "layout.regions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SetLayout(ctx, tc.req)
			wantCode(t, err, tc.code, tc.msgHas)
		})
	}
	for _, tc := range []struct {
		name   string
		video  *mcuv1.VideoSettings
		msgHas string
	}{
		{"odd width", &mcuv1.VideoSettings{Width: 641}, "video.width"},
		{"tiny height", &mcuv1.VideoSettings{Height: 8}, "video.height"},
		{"fps", &mcuv1.VideoSettings{Fps: 120}, "video.fps"},
		{"bitrate", &mcuv1.VideoSettings{Bitrate: 10}, "video.bitrate"},
		{"layout", &mcuv1.VideoSettings{Layout: &mcuv1.Layout{Fit: 7}}, "video.layout.fit"},
		{"rendition width", &mcuv1.VideoSettings{Renditions: []*mcuv1.Rendition{{Width: 15, Height: 16, Bitrate: 100_000}}},
			"video.renditions[0].width"},
		{"rendition bitrate", &mcuv1.VideoSettings{Renditions: []*mcuv1.Rendition{{Width: 640, Height: 360, Bitrate: 1}}},
			"video.renditions[0].bitrate"},
		{"too many renditions", &mcuv1.VideoSettings{Renditions: make([]*mcuv1.Rendition, 5)}, "video.renditions"},
	} {
		t.Run("create "+tc.name, func(t *testing.T) {
			_, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r2", Video: tc.video})
			wantCode(t, err, codes.InvalidArgument, tc.msgHas)
		})
	}
}

// TestSetLayoutRealManager checks the conference's own layout errors and
// that the layout and video settings come back from GetRoom.
func TestSetLayoutRealManager(t *testing.T) {
	c := startReal(t, conference.DefaultConfig(), "")
	ctx := authed(t, "")

	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "r", Video: &mcuv1.VideoSettings{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.SetLayout(ctx, &mcuv1.SetLayoutRequest{RoomId: "missing", Layout: &mcuv1.Layout{}})
	wantCode(t, err, codes.NotFound, "room not found")
	// Passes the API's checks but binds to speaker 65, beyond the regions.
	_, err = c.SetLayout(ctx, &mcuv1.SetLayoutRequest{RoomId: "r", Layout: &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_CUSTOM,
		Regions: []*mcuv1.LayoutRegion{{W: 1, H: 1, Bind: "speaker 65"}}}})
	wantCode(t, err, codes.InvalidArgument, "layout")
	if _, err := c.SetLayout(ctx, &mcuv1.SetLayoutRequest{RoomId: "r", Layout: &mcuv1.Layout{Kind: mcuv1.LayoutKind_LAYOUT_KIND_PIP}}); err != nil {
		t.Fatal(err)
	}
	room, err := c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "r"})
	if err != nil {
		t.Fatal(err)
	}
	v := room.GetVideo()
	if v.GetWidth() != 640 || v.GetHeight() != 360 || v.GetFps() != 15 || v.GetLayout().GetKind() != mcuv1.LayoutKind_LAYOUT_KIND_PIP {
		t.Fatalf("room video %v", v)
	}
	// Without renditions a 640x360 canvas derives half and quarter size.
	if rs := v.GetRenditions(); len(rs) != 3 || rs[1].GetWidth() != 320 || rs[2].GetHeight() != 90 {
		t.Fatalf("derived renditions %v", rs)
	}

	// Explicit renditions set the canvas and come back from GetRoom.
	want := []*mcuv1.Rendition{{Width: 960, Height: 540, Bitrate: 1_000_000}, {Width: 480, Height: 270, Bitrate: 300_000}}
	if _, err := c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "rr", Video: &mcuv1.VideoSettings{Renditions: want}}); err != nil {
		t.Fatal(err)
	}
	room, err = c.GetRoom(ctx, &mcuv1.GetRoomRequest{RoomId: "rr"})
	if err != nil {
		t.Fatal(err)
	}
	v = room.GetVideo()
	if v.GetWidth() != 960 || v.GetHeight() != 540 || v.GetBitrate() != 1_000_000 || len(v.GetRenditions()) != 2 ||
		v.GetRenditions()[1].GetBitrate() != 300_000 {
		t.Fatalf("room video with renditions %v", v)
	}
	// A ladder that grows is the manager's to refuse.
	_, err = c.CreateRoom(ctx, &mcuv1.CreateRoomRequest{RoomId: "bad", Video: &mcuv1.VideoSettings{Renditions: []*mcuv1.Rendition{
		{Width: 320, Height: 180, Bitrate: 150_000}, {Width: 640, Height: 360, Bitrate: 500_000}}}})
	wantCode(t, err, codes.InvalidArgument, "renditions")
}
