package conference

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exports the server's state to Prometheus. Gauges and packet
// counters are read at scrape time from the live rooms, plus the totals of
// participants that already left, so nothing is counted on the hot path
// except the tick histogram.
type metrics struct {
	registry    *prometheus.Registry
	tickSeconds prometheus.Histogram

	m *Manager

	mu   sync.Mutex
	gone struct{ in, out, dropped, lost, overflow uint64 }

	roomsDesc, participantsDesc           *prometheus.Desc
	packetsInDesc, packetsOutDesc         *prometheus.Desc
	packetsLostDesc, packetsDroppedDesc   *prometheus.Desc
	sendOverflowDesc                      *prometheus.Desc
	echoDelayDesc, erleDesc, agcGainDesc  *prometheus.Desc
	speakingDesc, speechProbDesc          *prometheus.Desc
	videoFramesDesc, videoKeyframesDesc   *prometheus.Desc
	videoComposeDesc, videoEncodeDesc     *prometheus.Desc
	sourceConnectedDesc, sourceReconnDesc *prometheus.Desc
	sourceBufferDesc, sourceUnderrunDesc  *prometheus.Desc
	sourceDriftDesc, sourceOverflowDesc   *prometheus.Desc
}

func newMetrics(m *Manager) *metrics {
	mt := &metrics{
		registry: prometheus.NewRegistry(),
		m:        m,
		tickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mcu_room_tick_seconds",
			Help:    "Processing time of one 20 ms room tick (decode, mix, encode, send).",
			Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3},
		}),
		roomsDesc:           prometheus.NewDesc("mcu_rooms", "Rooms open.", nil, nil),
		participantsDesc:    prometheus.NewDesc("mcu_participants", "Participants connected.", nil, nil),
		packetsInDesc:       prometheus.NewDesc("mcu_rtp_packets_received_total", "Audio RTP packets received.", nil, nil),
		packetsOutDesc:      prometheus.NewDesc("mcu_rtp_packets_sent_total", "Audio RTP packets sent.", nil, nil),
		packetsLostDesc:     prometheus.NewDesc("mcu_rtp_packets_lost_total", "Audio RTP packets lost on the way in (never arrived in time).", nil, nil),
		packetsDroppedDesc:  prometheus.NewDesc("mcu_rtp_packets_dropped_total", "Incoming RTP packets dropped as malformed, unexpected, late or duplicate.", nil, nil),
		sendOverflowDesc:    prometheus.NewDesc("mcu_rtp_send_overflow_total", "Outgoing packets dropped because a peer could not keep up.", nil, nil),
		echoDelayDesc:       prometheus.NewDesc("mcu_participant_echo_delay_ms", "Echo canceller's bulk delay estimate (0 while AEC is off).", participantLabels, nil),
		erleDesc:            prometheus.NewDesc("mcu_participant_erle_db", "Echo return loss enhancement of the participant's canceller.", participantLabels, nil),
		agcGainDesc:         prometheus.NewDesc("mcu_participant_agc_gain_db", "Gain the AGC applies to the participant's voice.", participantLabels, nil),
		speakingDesc:        prometheus.NewDesc("mcu_participant_speaking", "1 while the participant is an active speaker in the mix.", participantLabels, nil),
		speechProbDesc:      prometheus.NewDesc("mcu_participant_speech_probability", "VAD speech probability of the latest frame.", participantLabels, nil),
		videoFramesDesc:     prometheus.NewDesc("mcu_room_video_frames_total", "Composite video frames encoded.", roomLabels, nil),
		videoKeyframesDesc:  prometheus.NewDesc("mcu_room_video_keyframes_total", "Composite keyframes encoded.", roomLabels, nil),
		videoComposeDesc:    prometheus.NewDesc("mcu_room_video_compose_seconds_total", "Time spent composing the video canvas.", roomLabels, nil),
		videoEncodeDesc:     prometheus.NewDesc("mcu_room_video_encode_seconds_total", "Time spent encoding the composite.", roomLabels, nil),
		sourceConnectedDesc: prometheus.NewDesc("mcu_source_connected", "1 while a pulled source's stream is open and flowing.", participantLabels, nil),
		sourceReconnDesc:    prometheus.NewDesc("mcu_source_reconnects_total", "Reconnection attempts of a pulled source.", participantLabels, nil),
		sourceBufferDesc:    prometheus.NewDesc("mcu_source_buffer_seconds", "Audio queued between a source's clock and the room's.", participantLabels, nil),
		sourceUnderrunDesc:  prometheus.NewDesc("mcu_source_underruns_total", "Times a source's audio buffer ran dry (silence until it refilled).", participantLabels, nil),
		sourceDriftDesc: prometheus.NewDesc("mcu_source_drift_samples_total",
			"Samples that clock-drift correction dropped or inserted in a source's audio.", append(participantLabels[:2:2], "direction"), nil),
		sourceOverflowDesc: prometheus.NewDesc("mcu_source_overflow_samples_total", "Source audio lost because its buffer was full.", participantLabels, nil),
	}
	mt.registry.MustRegister(mt.tickSeconds, mt)
	return mt
}

// Describe implements prometheus.Collector.
func (mt *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mt.roomsDesc, mt.participantsDesc, mt.packetsInDesc, mt.packetsOutDesc,
		mt.packetsLostDesc, mt.packetsDroppedDesc, mt.sendOverflowDesc,
		mt.echoDelayDesc, mt.erleDesc, mt.agcGainDesc, mt.speakingDesc, mt.speechProbDesc,
		mt.videoFramesDesc, mt.videoKeyframesDesc, mt.videoComposeDesc, mt.videoEncodeDesc,
		mt.sourceConnectedDesc, mt.sourceReconnDesc, mt.sourceBufferDesc, mt.sourceUnderrunDesc,
		mt.sourceDriftDesc, mt.sourceOverflowDesc} {
		ch <- d
	}
}

var (
	participantLabels = []string{"room", "participant"}
	roomLabels        = []string{"room"}
)

type packetTotals struct{ in, out, dropped, lost, overflow uint64 }

func participantTotals(p *participant) packetTotals {
	var t packetTotals
	if p.ep != nil {
		s := p.ep.Stats()
		t.in, t.out, t.dropped, t.overflow = s.PacketsIn, s.PacketsOut, s.PacketsDropped, s.SendOverflow
	}
	if p.jb != nil {
		js := p.jb.Stats()
		t.lost = js.Lost
		t.dropped += js.Late + js.Duplicates
	}
	return t
}

// participantLeft folds a departing participant's counters into the totals.
func (mt *metrics) participantLeft(p *participant) {
	t := participantTotals(p)
	mt.mu.Lock()
	mt.gone.in += t.in
	mt.gone.out += t.out
	mt.gone.dropped += t.dropped
	mt.gone.lost += t.lost
	mt.gone.overflow += t.overflow
	mt.mu.Unlock()
}

// Collect implements prometheus.Collector.
func (mt *metrics) Collect(ch chan<- prometheus.Metric) {
	rooms := mt.m.liveRooms()
	mt.mu.Lock()
	sum := packetTotals(mt.gone)
	mt.mu.Unlock()
	participants := 0
	for _, r := range rooms {
		vs := &r.vstats
		for _, c := range []struct {
			d *prometheus.Desc
			v float64
		}{{mt.videoFramesDesc, float64(vs.frames.Load())}, {mt.videoKeyframesDesc, float64(vs.keyframes.Load())},
			{mt.videoComposeDesc, float64(vs.composeNs.Load()) / 1e9}, {mt.videoEncodeDesc, float64(vs.encodeNs.Load()) / 1e9}} {
			ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, c.v, r.id)
		}
		r.mu.Lock()
		for _, p := range r.members {
			participants++
			t := participantTotals(p)
			sum.in += t.in
			sum.out += t.out
			sum.dropped += t.dropped
			sum.lost += t.lost
			sum.overflow += t.overflow
			st := p.dspStats()
			speaking := 0.0
			if p.speaking.Load() {
				speaking = 1
			}
			for _, g := range []struct {
				d *prometheus.Desc
				v float64
			}{{mt.echoDelayDesc, st.EchoDelayMs}, {mt.erleDesc, st.ERLEdB}, {mt.agcGainDesc, st.AGCGainDB},
				{mt.speakingDesc, speaking}, {mt.speechProbDesc, st.SpeechProbability}} {
				ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, g.v, r.id, p.id)
			}
			if src, ok := p.ep.(*source); ok {
				mt.collectSource(ch, r.id, p.id, src.stats())
			}
		}
		r.mu.Unlock()
	}
	ch <- prometheus.MustNewConstMetric(mt.roomsDesc, prometheus.GaugeValue, float64(len(rooms)))
	ch <- prometheus.MustNewConstMetric(mt.participantsDesc, prometheus.GaugeValue, float64(participants))
	ch <- prometheus.MustNewConstMetric(mt.packetsInDesc, prometheus.CounterValue, float64(sum.in))
	ch <- prometheus.MustNewConstMetric(mt.packetsOutDesc, prometheus.CounterValue, float64(sum.out))
	ch <- prometheus.MustNewConstMetric(mt.packetsLostDesc, prometheus.CounterValue, float64(sum.lost))
	ch <- prometheus.MustNewConstMetric(mt.packetsDroppedDesc, prometheus.CounterValue, float64(sum.dropped))
	ch <- prometheus.MustNewConstMetric(mt.sendOverflowDesc, prometheus.CounterValue, float64(sum.overflow))
}

func (mt *metrics) collectSource(ch chan<- prometheus.Metric, room, id string, st *SourceStats) {
	connected := 0.0
	if st.State == SourceConnected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(mt.sourceConnectedDesc, prometheus.GaugeValue, connected, room, id)
	ch <- prometheus.MustNewConstMetric(mt.sourceBufferDesc, prometheus.GaugeValue, st.BufferedMs/1000, room, id)
	ch <- prometheus.MustNewConstMetric(mt.sourceReconnDesc, prometheus.CounterValue, float64(st.Reconnects), room, id)
	ch <- prometheus.MustNewConstMetric(mt.sourceUnderrunDesc, prometheus.CounterValue, float64(st.Underruns), room, id)
	ch <- prometheus.MustNewConstMetric(mt.sourceOverflowDesc, prometheus.CounterValue, float64(st.OverflowSamples), room, id)
	ch <- prometheus.MustNewConstMetric(mt.sourceDriftDesc, prometheus.CounterValue, float64(st.DroppedSamples), room, id, "dropped")
	ch <- prometheus.MustNewConstMetric(mt.sourceDriftDesc, prometheus.CounterValue, float64(st.InsertedSamples), room, id, "inserted")
}
