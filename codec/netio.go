package codec

/*
#cgo pkg-config: libavformat libavutil
#include <stdlib.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>

static int mcu_interrupt_cb(void *p) {
	return __atomic_load_n((int *)p, __ATOMIC_RELAXED);
}

// mcu_open_pb opens fc's output with options the astiav API cannot pass:
// a read/write timeout (so a hung server errors out) and an interrupt flag
// (so a stop does not wait for it).
static int mcu_open_pb(AVFormatContext *fc, const char *url, int *flag, int64_t rw_timeout_us) {
	AVIOInterruptCB cb = { mcu_interrupt_cb, flag };
	AVDictionary *opts = NULL;
	int ret;
	fc->interrupt_callback = cb;
	if (rw_timeout_us > 0)
		av_dict_set_int(&opts, "rw_timeout", rw_timeout_us, 0);
	ret = avio_open2(&fc->pb, url, AVIO_FLAG_WRITE, &fc->interrupt_callback, &opts);
	av_dict_free(&opts);
	return ret;
}

static void mcu_close_pb(AVFormatContext *fc) { avio_closep(&fc->pb); }

static int *mcu_new_flag(void) { return calloc(1, sizeof(int)); }
static void mcu_set_flag(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
*/
import "C"

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// Interrupt aborts the blocking network I/O (connect, handshake, write) of
// the muxers opened with it, from any goroutine. The flag lives in C memory
// because libavformat polls it from inside its calls.
type Interrupt struct {
	mu sync.Mutex
	p  *C.int
}

// NewInterrupt returns an armed-off interrupt; Free releases it.
func NewInterrupt() *Interrupt { return &Interrupt{p: C.mcu_new_flag()} }

// Trigger makes pending and later I/O of its muxers fail at once.
func (i *Interrupt) Trigger() { i.set(1) }

// Reset clears a trigger so new I/O may block again.
func (i *Interrupt) Reset() { i.set(0) }

func (i *Interrupt) set(v int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.p != nil {
		C.mcu_set_flag(i.p, C.int(v))
	}
}

// Free releases the flag; call it only after every muxer using it closed.
func (i *Interrupt) Free() {
	i.mu.Lock()
	defer i.mu.Unlock()
	C.free(unsafe.Pointer(i.p))
	i.p = nil
}

// isNetworkURL tells a network output (rtmp://, rtmps://...) from a file.
func isNetworkURL(p string) bool { return strings.Contains(p, "://") }

// avFormatContextOf returns the AVFormatContext behind fc. astiav v0.16.0
// does not export it; its FormatContext holds the C pointer as its only
// field. The layout is checked through the public API.
func avFormatContextOf(fc *astiav.FormatContext) *C.AVFormatContext {
	c := *(**C.AVFormatContext)(unsafe.Pointer(fc))
	if c == nil || int(c.nb_streams) != fc.NbStreams() {
		return nil
	}
	return c
}

// openNetwork opens fc's output on a network URL with a read/write timeout
// and the interrupt flag.
func openNetwork(fc *astiav.FormatContext, url string, timeout time.Duration, intr *Interrupt) error {
	c := avFormatContextOf(fc)
	if c == nil {
		return fmt.Errorf("%w: unexpected astiav.FormatContext layout", ErrMuxer)
	}
	if intr == nil || intr.p == nil {
		return fmt.Errorf("%w: a network output needs an Interrupt", ErrInvalidConfig)
	}
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	if ret := C.mcu_open_pb(c, curl, intr.p, C.int64_t(timeout.Microseconds())); ret < 0 {
		return astiav.Error(ret)
	}
	return nil
}

func closeNetwork(fc *astiav.FormatContext) {
	if c := avFormatContextOf(fc); c != nil {
		C.mcu_close_pb(c)
	}
}
