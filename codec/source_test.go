package codec

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/internal/audiotest"
	"github.com/openmcu/mcu/internal/rtmptest"
	"github.com/openmcu/mcu/internal/rtsptest"
	"github.com/openmcu/mcu/media"
)

func TestParseSourceURL(t *testing.T) {
	for _, c := range []struct {
		url, transport   string
		wantURL, wantTr  string
		wantErrSubstring string
	}{
		{url: "rtsp://cam.local/live", wantURL: "rtsp://cam.local/live", wantTr: "tcp"},
		{url: "rtsp://cam.local:8554/live?transport=udp", wantURL: "rtsp://cam.local:8554/live", wantTr: "udp"},
		{url: "rtsp://cam.local/live?transport=udp&x=1", transport: "tcp", wantURL: "rtsp://cam.local/live?x=1", wantTr: "tcp"},
		{url: "RTSPS://cam.local/live", wantURL: "rtsps://cam.local/live", wantTr: "tcp"},
		{url: "rtmp://127.0.0.1/live/cam", wantURL: "rtmp://127.0.0.1/live/cam", wantTr: "tcp"},
		{url: "rtmps://example.com/app/key", wantURL: "rtmps://example.com/app/key", wantTr: "tcp"},
		{url: "rtmp://127.0.0.1/live/cam", transport: "udp", wantErrSubstring: "rtsp only"},
		{url: "rtsp://cam.local/live", transport: "sctp", wantErrSubstring: "transport"},
		{url: "file:///etc/passwd", wantErrSubstring: "scheme"},
		{url: "/etc/passwd", wantErrSubstring: "scheme"},
		{url: "http://example.com/a.flv", wantErrSubstring: "scheme"},
		{url: "concat:rtsp://a|file:///etc/passwd", wantErrSubstring: "scheme"},
		{url: "rtsp:///nohost", wantErrSubstring: "host"},
		{url: "rtsp://%zz", wantErrSubstring: "url"},
	} {
		u, tr, err := ParseSourceURL(c.url, c.transport)
		if c.wantErrSubstring != "" {
			if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.wantErrSubstring) {
				t.Errorf("%q %q: err %v, want ErrInvalidConfig about %q", c.url, c.transport, err, c.wantErrSubstring)
			}
			continue
		}
		if err != nil || u != c.wantURL || tr != c.wantTr {
			t.Errorf("%q %q: got %q %q %v, want %q %q", c.url, c.transport, u, tr, err, c.wantURL, c.wantTr)
		}
	}
}

// collector keeps what a SourceReader hands out and decodes the video.
type collector struct {
	t         *testing.T
	pcm       []float32
	dec       VideoDecoder
	frame     *media.VideoFrame
	pictures  int
	keyframes int
	codec     string
}

func (c *collector) SourceAudio(pcm []float32) { c.pcm = append(c.pcm, pcm...) }

func (c *collector) SourceVideo(au []byte, codec string, key bool, _ time.Duration) {
	c.codec = codec
	if key {
		c.keyframes++
	}
	if c.dec == nil {
		if !key {
			return // a decoder starts at a keyframe
		}
		d, err := NewVideoDecoder(codec)
		if err != nil {
			c.t.Fatal(err)
		}
		c.dec, c.frame = d, &media.VideoFrame{}
	}
	ok, err := c.dec.Decode(au, c.frame)
	if err != nil {
		c.t.Errorf("decode %s: %v", codec, err)
		return
	}
	if ok {
		c.pictures++
	}
}

// readFor reads packets for d of wall time.
func readFor(t *testing.T, r *SourceReader, d time.Duration) *collector {
	t.Helper()
	c := &collector{t: t}
	t.Cleanup(func() {
		if c.dec != nil {
			_ = c.dec.Close()
		}
	})
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if err := r.ReadPacket(c); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	return c
}

func centre(f *media.VideoFrame) [3]byte {
	x, y := f.Width/2, f.Height/2
	return [3]byte{f.Y[y*f.StrideY+x], f.U[(y/2)*f.StrideC+x/2], f.V[(y/2)*f.StrideC+x/2]}
}

func nearYUV(a, b [3]byte, tol int) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > tol || d < -tol {
			return false
		}
	}
	return true
}

// checkStream asserts a 48 kHz tone at freq and a picture of colour yuv.
func checkStream(t *testing.T, c *collector, d time.Duration, freq float64, yuv [3]byte) {
	t.Helper()
	// Live sources deliver in real time: about d of audio, plus what
	// probing the streams buffered (up to the 1.5 s analyze duration).
	if got := time.Duration(len(c.pcm)) * time.Second / media.SampleRate; got < d/2 || got > d+2*time.Second {
		t.Errorf("%v of audio in %v of reading", got, d)
	}
	if len(c.pcm) < media.SampleRate/2 {
		t.Fatalf("only %d samples", len(c.pcm))
	}
	s := c.pcm[len(c.pcm)/4:]
	tone, other := audiotest.ToneDB(s, freq, media.SampleRate), audiotest.ToneDB(s, freq*1.37, media.SampleRate)
	t.Logf("%.0f Hz at %.1f dBFS, %.0f Hz at %.1f dBFS; %d pictures, %d keyframes", freq, tone, freq*1.37, other, c.pictures, c.keyframes)
	if tone < -30 || tone-other < 40 {
		t.Errorf("tone %.0f Hz at %.1f dBFS (off-tone %.1f dBFS): want a clean tone", freq, tone, other)
	}
	if c.pictures < 5 || c.keyframes == 0 {
		t.Fatalf("%d pictures, %d keyframes", c.pictures, c.keyframes)
	}
	if got := centre(c.frame); !nearYUV(got, yuv, 12) {
		t.Errorf("picture centre YUV %v, want %v", got, yuv)
	}
}

// BT.601 limited range.
var (
	yuvRed  = [3]byte{81, 90, 240}
	yuvBlue = [3]byte{41, 240, 110}
)

func TestSourceReaderRTSP(t *testing.T) {
	srv := rtsptest.Start(t, 1000, 0xff0000)
	for _, tr := range []string{TransportTCP, TransportUDP} {
		t.Run(tr, func(t *testing.T) {
			r, err := NewSourceReader(SourceConfig{URL: srv.URL() + "?transport=" + tr})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Open(); err != nil {
				t.Fatal(err)
			}
			info := r.Info()
			t.Logf("%+v", info)
			if info.Format != "rtsp" || info.AudioCodec != "opus" || info.VideoCodec != "h264" || info.Width != 320 {
				t.Errorf("info %+v", info)
			}
			const d = 2 * time.Second
			checkStream(t, readFor(t, r, d), d, 1000, yuvRed)
		})
	}
}

// openRetry opens url until the publisher is on the server.
func openRetry(t *testing.T, url string) *SourceReader {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := NewSourceReader(SourceConfig{URL: url, OpenTimeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Open()
		if err == nil {
			t.Cleanup(func() { _ = r.Close() })
			return r
		}
		_ = r.Close()
		if time.Now().After(deadline) {
			t.Fatalf("open %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSourceReaderRTMP(t *testing.T) {
	srv := rtmptest.Start(t)
	srv.Publish(t, "cam", 440, "blue")
	r := openRetry(t, srv.URL("cam"))
	info := r.Info()
	t.Logf("%+v", info)
	if info.AudioCodec != "aac" || info.SampleRate != 44100 || info.Channels != 2 || info.VideoCodec != "h264" {
		t.Errorf("info %+v", info)
	}
	if r.bsf == nil {
		t.Error("FLV's avcC H.264 should go through h264_mp4toannexb")
	}
	const d = 2 * time.Second
	c := readFor(t, r, d)
	// Stereo downmix of the same tone: louder than ffmpeg's 1/8 sine.
	checkStream(t, c, d, 440, yuvBlue)
}

// silentServer accepts connections and never answers, like a hung camera.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

func TestSourceReaderTimeoutAndInterrupt(t *testing.T) {
	addr := silentServer(t)
	for _, scheme := range []string{"rtsp", "rtmp"} {
		t.Run(scheme+"/timeout", func(t *testing.T) {
			r, err := NewSourceReader(SourceConfig{URL: scheme + "://" + addr + "/x", OpenTimeout: 700 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			start := time.Now()
			err = r.Open()
			took := time.Since(start)
			if !errors.Is(err, ErrSourceTimeout) || took < 600*time.Millisecond || took > 3*time.Second {
				t.Fatalf("open of a hung server: %v after %v, want ErrSourceTimeout after about 700 ms", err, took)
			}
		})
		t.Run(scheme+"/interrupt", func(t *testing.T) {
			r, err := NewSourceReader(SourceConfig{URL: scheme + "://" + addr + "/x", OpenTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			errc := make(chan error, 1)
			go func() { errc <- r.Open() }()
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			r.Interrupt()
			select {
			case err := <-errc:
				if !errors.Is(err, ErrInterrupted) {
					t.Fatalf("interrupted open: %v", err)
				}
				t.Logf("open returned %v after Interrupt", time.Since(start))
			case <-time.After(2 * time.Second):
				t.Fatal("Interrupt did not stop a blocked open")
			}
		})
	}
}

func TestSourceReaderRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	r, err := NewSourceReader(SourceConfig{URL: "rtsp://" + addr + "/x"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Open(); !errors.Is(err, ErrSource) {
		t.Fatalf("open of a closed port: %v, want ErrSource", err)
	}
	if err := r.Open(); !errors.Is(err, ErrSource) {
		t.Fatalf("second open after a failure: %v", err)
	}
}
