package codec

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/openmcu/mcu/media"
)

// recordHandler keeps every record it is given.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}

func attr(r slog.Record, key string) string {
	v := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// captureLibav routes libav's log to a fresh handler, with a fresh limiter,
// until the test ends.
func captureLibav(t *testing.T) *recordHandler {
	h := &recordHandler{}
	SetLogger(slog.New(h))
	avLog.mu.Lock()
	avLog.lim = logLimiter{}
	avLog.mu.Unlock()
	t.Cleanup(func() { SetLogger(nil) })
	return h
}

// A real decoder's complaint (an H.264 slice without its parameter sets)
// reaches the logger as an error from "h264"; info lines do not.
func TestLibavLogGoesToSlog(t *testing.T) {
	h := captureLibav(t)
	astiav.Log(nil, astiav.LogLevelInfo, "%s", "an info line")
	d, err := NewVideoDecoder("h264")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Close() }()
	var f media.VideoFrame
	_, _ = d.Decode([]byte{0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33, 0xff, 0xee}, &f)
	recs := h.records()
	if len(recs) == 0 {
		t.Fatal("no libav line logged")
	}
	for _, r := range recs {
		t.Logf("%v %s from=%s", r.Level, r.Message, attr(r, "from"))
		if strings.Contains(r.Message, "an info line") {
			t.Error("an info line was logged")
		}
	}
	r := recs[0]
	if r.Level != slog.LevelError || attr(r, "from") != "h264" || !strings.HasPrefix(r.Message, "libav: ") ||
		strings.HasSuffix(r.Message, "\n") {
		t.Errorf("got %v %q from %q, want an error from h264", r.Level, r.Message, attr(r, "from"))
	}
}

// A flood is cut to logBurst lines; the next window reports the count.
func TestLibavLogIsRateLimited(t *testing.T) {
	h := captureLibav(t)
	for i := range 1000 {
		astiav.Log(nil, astiav.LogLevelWarning, "flood %s", string(rune('a'+i%26)))
	}
	recs := h.records()
	if len(recs) != logBurst {
		t.Fatalf("%d lines of a 1000-line flood logged, want %d", len(recs), logBurst)
	}
	if recs[0].Level != slog.LevelWarn || recs[0].Message != "libav: flood a" {
		t.Errorf("first line %v %q", recs[0].Level, recs[0].Message)
	}
}

func TestLogLimiterWindows(t *testing.T) {
	var l logLimiter
	t0 := time.Unix(1000, 0)
	for i := range logBurst {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Millisecond)); !ok {
			t.Fatalf("line %d refused", i)
		}
	}
	for range 5 {
		if ok, _ := l.allow(t0.Add(time.Second)); ok {
			t.Fatal("line over the burst allowed")
		}
	}
	ok, suppressed := l.allow(t0.Add(logWindow))
	if !ok || suppressed != 5 {
		t.Fatalf("next window: allowed %v, suppressed %d, want true, 5", ok, suppressed)
	}
	if ok, suppressed := l.allow(t0.Add(logWindow + time.Millisecond)); !ok || suppressed != 0 {
		t.Fatalf("then: allowed %v, suppressed %d", ok, suppressed)
	}
}
