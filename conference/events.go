package conference

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	eventQueueLen        = 1024
	subscriptionQueueLen = 256
	// slowSubscriberWait is how long a lifecycle event waits for a full
	// subscriber before that subscriber is cut off.
	slowSubscriberWait = 200 * time.Millisecond
)

// Subscription is one WatchRoom stream. Events ends (is closed) when the room
// is deleted, the subscription is closed, or the subscriber falls too far
// behind to be sent lifecycle events.
type Subscription struct {
	ch      chan Event
	hub     *eventHub
	once    sync.Once
	dropped atomic.Uint64
}

// Events delivers the room's events in order.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped counts audio-level events skipped because the subscriber was slow.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops the subscription. It is safe to call more than once.
func (s *Subscription) Close() { s.hub.unsubscribe(s) }

// eventHub fans a room's events out to its subscribers from one goroutine,
// so producers (the room tick among them) never wait on a slow reader.
type eventHub struct {
	in      chan Event
	done    chan struct{}
	stopped chan struct{}

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool

	dropped atomic.Uint64 // events dropped because the hub's queue was full
	nsubs   atomic.Int32
}

func newEventHub() *eventHub {
	h := &eventHub{
		in:      make(chan Event, eventQueueLen),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		subs:    make(map[*Subscription]struct{}),
	}
	go h.run()
	return h
}

// hasSubscribers lets producers skip building events nobody reads.
func (h *eventHub) hasSubscribers() bool { return h.nsubs.Load() > 0 }

// publish queues an event without blocking; it is dropped when the queue is full.
func (h *eventHub) publish(e Event) {
	select {
	case h.in <- e:
	default:
		h.dropped.Add(1)
	}
}

func (h *eventHub) subscribe() (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrRoomNotFound
	}
	s := &Subscription{ch: make(chan Event, subscriptionQueueLen), hub: h}
	h.subs[s] = struct{}{}
	h.nsubs.Store(int32(len(h.subs)))
	return s, nil
}

func (h *eventHub) unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *eventHub) removeLocked(s *Subscription) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	h.nsubs.Store(int32(len(h.subs)))
	s.once.Do(func() { close(s.ch) })
}

// close delivers the events already queued (the last is RoomDeleted), ends
// every subscription and stops the hub's goroutine.
func (h *eventHub) close() {
	close(h.done)
	<-h.stopped
}

func (h *eventHub) run() {
	defer close(h.stopped)
	for {
		select {
		case e := <-h.in:
			h.deliver(e)
		case <-h.done:
			for {
				select {
				case e := <-h.in:
					h.deliver(e)
					continue
				default:
				}
				break
			}
			h.mu.Lock()
			h.closed = true
			for s := range h.subs {
				h.removeLocked(s)
			}
			h.mu.Unlock()
			return
		}
	}
}

func (h *eventHub) deliver(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- e:
			continue
		default:
		}
		if e.Type == EventAudioLevels {
			s.dropped.Add(1)
			continue
		}
		t := time.NewTimer(slowSubscriberWait)
		select {
		case s.ch <- e:
		case <-t.C:
			h.removeLocked(s)
		}
		t.Stop()
	}
}
