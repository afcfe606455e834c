package codec

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
)

// libav would print its own lines (a corrupt packet, a server's complaint)
// to stderr. They go to a slog.Logger instead: warnings and errors only,
// and at most logBurst lines per logWindow, so a broken stream that
// complains about every packet cannot flood the log.
const (
	logBurst  = 10
	logWindow = 10 * time.Second
)

var avLog struct {
	logger atomic.Pointer[slog.Logger]
	mu     sync.Mutex
	lim    logLimiter
}

func init() {
	// libav drops lines above this level before formatting them.
	astiav.SetLogLevel(astiav.LogLevelWarning)
	astiav.SetLogCallback(onAVLog)
}

// SetLogger sends libav's warnings and errors to l; nil (the default)
// means slog.Default() at the time of each line.
func SetLogger(l *slog.Logger) { avLog.logger.Store(l) }

// onAVLog runs on whichever thread libav logs from.
func onAVLog(c astiav.Classer, level astiav.LogLevel, _, msg string) {
	msg = strings.TrimSpace(msg)
	if msg == "" || level > astiav.LogLevelWarning {
		return
	}
	avLog.mu.Lock()
	ok, suppressed := avLog.lim.allow(time.Now())
	avLog.mu.Unlock()
	if !ok {
		return
	}
	l := avLog.logger.Load()
	if l == nil {
		l = slog.Default()
	}
	if suppressed > 0 {
		l.Warn("libav: lines suppressed", "count", suppressed, "window", logWindow)
	}
	lvl := slog.LevelWarn
	if level <= astiav.LogLevelError {
		lvl = slog.LevelError
	}
	from := ""
	if c != nil {
		if cl := c.Class(); cl != nil {
			from = cl.ItemName() // "h264", "rtsp": what libav prints in brackets
		}
	}
	l.Log(context.Background(), lvl, "libav: "+msg, "from", from)
}

// logLimiter lets logBurst lines through per logWindow and counts the rest.
type logLimiter struct {
	start      time.Time
	n, dropped int
}

// allow reports whether a line at now may be logged, and on the first one
// of a new window how many the last windows suppressed.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	if now.Sub(l.start) >= logWindow {
		l.start, l.n = now, 0
	}
	if l.n >= logBurst {
		l.dropped++
		return false, 0
	}
	l.n++
	suppressed, l.dropped = l.dropped, 0
	return true, suppressed
}
