package dspquality

import (
	"math"
)

// Metric constants, shared by scenes and tests.
const (
	// activeRangeDB: a frame is speech-active when its energy is within this
	// many dB of the loudest frame (and above absoluteFloorDBFS).
	activeRangeDB     = 40
	absoluteFloorDBFS = -90
	// segFrame is the segmental-SNR frame: 20 ms.
	segFrame = Rate / 50
	// segMin and segMax clamp each frame's SNR (the usual [-10, 35] dB).
	segMin, segMax = -10.0, 35.0
	// erleWindow is the ERLE measurement window, 0.5 s, stepped by erleHop.
	erleWindow = Rate / 2
	erleHop    = Rate / 10
)

// ActiveMask marks the frames of x (frame samples each) whose energy is
// within rangeDB of the loudest frame. The mask has len(x)/frame entries.
func ActiveMask(x []float64, frame int, rangeDB float64) []bool {
	n := len(x) / frame
	e := make([]float64, n)
	maxE := 0.0
	for i := range e {
		e[i] = energy(x[i*frame:(i+1)*frame]) / float64(frame)
		maxE = max(maxE, e[i])
	}
	th := max(maxE*math.Pow(10, -rangeDB/10), math.Pow(10, absoluteFloorDBFS/10))
	m := make([]bool, n)
	for i := range m {
		m[i] = e[i] >= th && e[i] > 0
	}
	return m
}

// ActiveLevelDB is the RMS level in dBFS of x over the frames marked in mask.
func ActiveLevelDB(x []float64, mask []bool, frame int) float64 {
	var e float64
	var n int
	for i, on := range mask {
		if !on || (i+1)*frame > len(x) {
			continue
		}
		e += energy(x[i*frame : (i+1)*frame])
		n += frame
	}
	if n == 0 {
		return math.Inf(-1)
	}
	return dB(e / float64(n))
}

// setActiveLevel scales x so that its active-speech RMS is levelDBFS.
func setActiveLevel(x []float64, levelDBFS float64) {
	m := ActiveMask(x, FrameLen, activeRangeDB)
	l := ActiveLevelDB(x, m, FrameLen)
	if math.IsInf(l, 0) {
		return
	}
	scale(x, fromDB(levelDBFS-l))
}

// SegSNR is the mean over active frames of 10·log10(Σs²/Σ(s-y)²), each
// frame clamped to [segMin, segMax] dB. y must already be time-aligned with
// clean; mask is per frame of length frame.
func SegSNR(clean, y []float64, mask []bool, frame int) float64 {
	var sum float64
	var n int
	for i, on := range mask {
		if !on || (i+1)*frame > len(clean) || (i+1)*frame > len(y) {
			continue
		}
		var es, en float64
		for k := i * frame; k < (i+1)*frame; k++ {
			d := clean[k] - y[k]
			es += clean[k] * clean[k]
			en += d * d
		}
		v := segMax
		if en > 0 {
			v = math.Min(segMax, math.Max(segMin, 10*math.Log10(es/en)))
		}
		sum += v
		n++
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// Delay returns the lag (in samples, within [minLag, maxLag]) at which y
// best matches x: y[n+lag] ≈ g·x[n]. Positive lags mean y is later than x.
func Delay(x, y []float64, minLag, maxLag int) int {
	c := xcorr(x, y, minLag, maxLag)
	best, bestV := 0, math.Inf(-1)
	for i, v := range c {
		// |c| so a polarity flip still aligns.
		if a := math.Abs(v); a > bestV {
			best, bestV = i, a
		}
	}
	return minLag + best
}

// shift returns y advanced by lag samples (y[n+lag]), zero-padded, with
// length n.
func shift(y []float64, lag, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		if j := i + lag; j >= 0 && j < len(y) {
			out[i] = y[j]
		}
	}
	return out
}

// ProjectionGainDB is 20·log10(α) for the least-squares α in y ≈ α·clean over
// the active frames: how much the speech itself was amplified, unaffected by
// noise that was removed or added. y must be aligned.
func ProjectionGainDB(clean, y []float64, mask []bool, frame int) float64 {
	var sy, ss float64
	for i, on := range mask {
		if !on || (i+1)*frame > len(clean) || (i+1)*frame > len(y) {
			continue
		}
		for k := i * frame; k < (i+1)*frame; k++ {
			sy += clean[k] * y[k]
			ss += clean[k] * clean[k]
		}
	}
	if ss == 0 || sy <= 0 {
		return math.Inf(-1)
	}
	return 20 * math.Log10(sy/ss)
}

// SDR is the signal-to-distortion ratio of y against clean over the masked
// frames, after the best delay in [0, maxLag] and the least-squares gain:
// 10·log10(Σ(αs)²/Σ(y-αs)²).
func SDR(clean, y []float64, mask []bool, frame, maxLag int) (sdr float64, lag int) {
	masked := make([]float64, len(clean))
	for i, on := range mask {
		if on && (i+1)*frame <= len(clean) {
			copy(masked[i*frame:(i+1)*frame], clean[i*frame:(i+1)*frame])
		}
	}
	lag = Delay(masked, y, 0, maxLag)
	ya := shift(y, lag, len(clean))
	var sy, ss float64
	for i := range masked {
		sy += masked[i] * ya[i]
		ss += masked[i] * masked[i]
	}
	if ss == 0 {
		return math.NaN(), lag
	}
	alpha := sy / ss
	var es, ed float64
	for i, on := range mask {
		if !on || (i+1)*frame > len(clean) {
			continue
		}
		for k := i * frame; k < (i+1)*frame; k++ {
			s := alpha * clean[k]
			d := ya[k] - s
			es += s * s
			ed += d * d
		}
	}
	return dB(es) - dB(ed), lag
}

// ERLETrack returns the ERLE in dB of out against the echo (the mic signal
// without noise) in erleWindow windows every erleHop samples, and which
// windows carry echo (within 30 dB of the loudest window). Window i covers
// samples [i·erleHop, i·erleHop+erleWindow).
func ERLETrack(echo, out []float64) (erle []float64, active []bool) {
	l := min(len(echo), len(out))
	if l < erleWindow {
		return nil, nil
	}
	n := (l-erleWindow)/erleHop + 1
	erle = make([]float64, n)
	active = make([]bool, n)
	ew := make([]float64, n)
	maxE := 0.0
	for i := range n {
		a, b := i*erleHop, i*erleHop+erleWindow
		ew[i] = energy(echo[a:b])
		maxE = max(maxE, ew[i])
		erle[i] = dB(ew[i]) - dB(energy(out[a:b]))
	}
	for i := range n {
		active[i] = ew[i] > 0 && ew[i] >= maxE*1e-3
	}
	return erle, active
}

// SteadyERLE is the ERLE over samples [from, to) as a ratio of summed powers
// (so loud passages weigh more, as a listener hears), counting only
// erleWindow blocks that carry echo (within 30 dB of the loudest block).
func SteadyERLE(echo, out []float64, from, to int) float64 {
	to = min(to, len(echo), len(out))
	var blocks [][2]int
	maxE := 0.0
	for a := from; a+erleWindow <= to; a += erleWindow {
		blocks = append(blocks, [2]int{a, a + erleWindow})
		maxE = max(maxE, energy(echo[a:a+erleWindow]))
	}
	var ee, eo float64
	for _, bl := range blocks {
		e := energy(echo[bl[0]:bl[1]])
		if e == 0 || e < maxE*1e-3 {
			continue
		}
		ee += e
		eo += energy(out[bl[0]:bl[1]])
	}
	if ee == 0 {
		return math.NaN()
	}
	return dB(ee) - dB(eo)
}

// TimeToERLE is the time in seconds from the start of the first active
// window until the ERLE reaches thr dB and then stays there: the end of the
// first active window at or above thr from which at least 90% of the later
// active windows are at or above thr too. It returns +Inf if that never
// happens.
func TimeToERLE(erle []float64, active []bool, thr float64) float64 {
	first := -1
	for i, on := range active {
		if on {
			first = i
			break
		}
	}
	if first < 0 {
		return math.Inf(1)
	}
	for i := first; i < len(erle); i++ {
		if !active[i] || erle[i] < thr {
			continue
		}
		var good, all int
		for j := i; j < len(erle); j++ {
			if active[j] {
				all++
				if erle[j] >= thr {
					good++
				}
			}
		}
		if float64(good) >= 0.9*float64(all) {
			return float64((i-first)*erleHop+erleWindow) / Rate
		}
	}
	return math.Inf(1)
}

// LevelSettling follows the gain an AGC applied to speech: the active level
// of out minus that of in, over sliding 0.5 s windows (10 ms frames, mask
// from the clean speech) stepped by 100 ms, against the ideal gain that puts
// the speech at target (target minus the input's overall active level).
// Comparing gains rather than output levels removes the talker's own level
// changes, which swing 1 s windows of speech by more than ±2 dB.
//
// settle is the time in seconds after which every window with enough speech
// is within tol dB of the ideal gain (+Inf if the last one is not); finalErr
// is the gain error over the last tail seconds, which equals the output's
// level error there for speech at a steady level.
func LevelSettling(in, out []float64, mask []bool, target, tol, tail float64) (settle, finalErr float64) {
	const step = 10 // frames per 100 ms
	const win = 50  // frames per 0.5 s
	ideal := target - ActiveLevelDB(in, mask, FrameLen)
	gain := func(from, to int) (float64, int) {
		var ei, eo float64
		var n int
		for i := from; i < to; i++ {
			if mask[i] && (i+1)*FrameLen <= len(in) && (i+1)*FrameLen <= len(out) {
				ei += energy(in[i*FrameLen : (i+1)*FrameLen])
				eo += energy(out[i*FrameLen : (i+1)*FrameLen])
				n++
			}
		}
		return dB(eo) - dB(ei), n
	}
	settle = 0
	last := 0
	for end := win; end <= len(mask); end += step {
		g, n := gain(end-win, end)
		if n < 15 {
			continue
		}
		last = end
		if math.Abs(g-ideal) > tol {
			settle = float64(end) / 100
		}
	}
	if last > 0 && settle >= float64(last)/100 {
		settle = math.Inf(1)
	}
	g, n := gain(max(0, len(mask)-int(tail*100)), len(mask))
	if n == 0 {
		return settle, math.NaN()
	}
	return settle, g - ideal
}

// PeakDBFS is the largest |y| in dBFS.
func PeakDBFS(y []float64) float64 {
	p := 0.0
	for _, v := range y {
		p = max(p, math.Abs(v))
	}
	return 20 * math.Log10(math.Max(p, 1e-10))
}

// Clipped counts samples at or beyond full scale.
func Clipped(y []float64) int {
	n := 0
	for _, v := range y {
		// 0.9999: int16 engines saturate at 32767/32768.
		if v >= 0.9999 || v <= -0.9999 {
			n++
		}
	}
	return n
}
