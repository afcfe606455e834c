// Package aec is the server-side acoustic echo canceller: it finds the
// unknown, drifting bulk delay between what the server sent to a
// participant (Render) and the echo in what comes back (Process), cancels
// the linear echo with a partitioned-block frequency-domain adaptive filter
// and removes what is left with a spectral suppressor that keeps the
// participant's own speech during double talk.
//
// Everything runs on 480-sample (10 ms) blocks at 48 kHz. The output of
// Process is delayed by LatencySamples (one block, the suppressor's
// overlap-add).
package aec

import (
	"math"
	"slices"
)

const (
	muMax = 0.5 // normalised step; higher is unstable with 50%-overlapped partitions
	// bootMu is the step floor before the filter has converged.
	bootMu = 0.6
	// overEst scales the residual echo estimate in the suppressor.
	overEst = 4.0
	// overEstDT replaces overEst during double talk.
	overEstDT = 1.0
	// Double talk, for the filter: the error exceeds dtRatio times the
	// predicted residual echo; the step is then scaled by dtStep for
	// dtHold blocks.
	dtRatio = 6.0
	dtStep  = 0.1
	dtHold  = 20
	// Double talk, independent of the filter's match: the mic exceeds the
	// echo power the filter predicts (calibrated per band by kappa) by
	// nearRatio times that prediction and nearNoise times the mic's noise
	// floor. The filter is then protected for nearHold blocks (its step
	// scaled by nearStep) and, once an episode has nearSupHits such
	// blocks (a lone false alarm has 1-3), the suppressor treats the near
	// end gently for nearSupHold blocks: speech has soft onsets and gaps
	// the block test misses.
	nearRatio   = 3.0
	nearNoise   = 10.0
	nearHold    = 20
	nearStep    = 0.2
	nearSupHits = 5
	nearSupHold = 100
	// kappaStep smooths the mic-to-prediction ratio outside double talk;
	// the detector waits for kappaLearn blocks of it.
	kappaStep  = 0.02
	kappaLearn = 100
)

const (
	// BlockSamples is the length of every Render and Process call.
	BlockSamples = 480
	// LatencySamples is the delay Process adds to the near-end signal.
	LatencySamples = BlockSamples
	fftN           = 2 * BlockSamples
	nBins          = fftN/2 + 1
	sampleRate     = 48000
	frameMs        = 10.0
	// preFrames is how many partitions the filter keeps before the direct
	// path, to absorb coarse-delay error and drift.
	preFrames = 3
	// slackFrames covers coarse-delay error after the direct path.
	slackFrames = 2
	// constrainEvery: the gradient constraint is applied to one partition
	// every constrainEvery blocks (round robin, as speex's AUMDF does).
	constrainEvery = 2
	supBands       = 16
	farActiveMS    = 1e-7 // mean square, about -70 dBFS
)

// Stats reports what the canceller is doing.
type Stats struct {
	// DelayMs is the estimated lag between a far-end sample (by its index in
	// the Render stream) and its echo (by its index in the Process stream).
	DelayMs float64
	// DelayConfident is true once the delay comes from a converged filter or
	// a clear correlation peak.
	DelayConfident bool
	// ERLEdB is the smoothed near-in over processed-out power ratio on
	// blocks whose far end is active.
	ERLEdB float64
	// DoubleTalk is true while near-end speech is detected over echo.
	DoubleTalk bool
}

// Canceller cancels the echo of one participant. It is not safe for
// concurrent use: Render and Process must be called from one goroutine.
type Canceller struct {
	cfg      Config
	fft      *realFFT
	nLin     int // bins modelled by the adaptive filter
	parts    int // filter partitions, 10 ms each
	ringLen  int // far frames kept
	lmax     int // largest lag searched, in frames
	gMin     float64
	binBand  []int // suppressor band of each linear bin
	bandEdge []int

	// Far end.
	farCount int64
	farPrev  []float64 // previous far block
	xRe, xIm []float32 // ringLen*nLin far spectra of [prev, cur]
	farPow   []float32 // ringLen mean squares
	farBands []float64

	// Adaptive filter.
	wRe, wIm    []float32 // parts*nLin
	align       int64     // A: partition 0 reads far frame j-A
	minA        int64
	rr          int       // next partition to constrain
	peakVal     []float64 // per partition, from the constraint scan
	peakIdx     []int
	wNorm       []float64 // per partition coefficient energy
	prop        []float64 // per partition step weight
	adapted     bool
	convFrames  int
	badFrames   int
	estRef      int64 // coarse delay when the filter was last good; -1: none
	jumpCnt     int
	misN, misE  float64 // fast mic and error powers
	mismatch    bool    // the filter adds echo: the path moved
	misFrames   int
	hypErr      []float64 // per candidate shift, accumulated error power
	hypN        int
	hypD        float64
	hypDP       [2]float64 // mic power of the blocks each parity of shift was scored on
	gPow, xmax  []float64  // per linear bin: filter power response, far max
	lastConf    int64      // last confident coarse delay
	echoSeen    bool       // the filter has cancelled echo since Reset
	misBlockE   float64    // this block's error power
	diverge     int
	dtAdaptHold int // blocks the step stays reduced after double talk
	// Near-end detector: the mic is compared with the echo power the
	// filter predicts, |Y|^2, which a drifting or moved path leaves about
	// right (only its phase goes wrong), unlike the error.
	kappa      []float64 // per band: mic over |Y|^2 power outside double talk
	micFloor   float64   // linear-band mic power floor, min-tracked
	nearHeld   int       // blocks double talk stays flagged
	supHeld    int       // blocks the suppressor stays in double-talk mode
	nearHits   int       // blocks flagged in this double-talk episode
	kappaN     int       // blocks kappa has learnt since the filter was reset
	erleLinN   float64
	erleLinD   float64
	linD, linE float64 // this block's linear-band mic and error power
	// Clock drift: the filter is rotated by driftRate samples per block so
	// that it follows a path moving at a steady rate; the rate is measured
	// from how the filter's phase moved against a snapshot.
	snRe, snIm []float32 // parts*nLin filter snapshot; snAge < 0: none
	snAge      int
	snDT       bool              // double talk since the snapshot: the filter moved for the near end
	driftRate  float64           // samples per block
	driftAcc   float64           // not yet applied
	driftRates [driftPts]float64 // the last measured rates, samples per block
	driftSort  [driftPts]float64 // scratch
	driftN     int               // measurements since Reset

	// Near end.
	nearCount int64
	tbuf      []float64
	spec      []complex128
	e0, d0    []complex128 // FFT([0, x]) of this block
	e0p, d0p  []complex128 // of the previous block
	eh, dh    []complex128 // Hann-windowed spectra of [prev, cur]
	xnorm     []float64    // per bin regressor power
	gRe, gIm  []float32    // per bin step
	yhat      []float64
	ebuf      []float64

	// Suppressor.
	sEE, sDD, sYY []float64 // per band smoothed powers
	sDY           []float64 // per band smoothed Re<D, Y>
	mE, mY        []float64 // per band means for the leakage regression
	cov, vr       []float64
	beta          []float64
	useD          []bool // per band: the filter makes it worse, pass mic
	rPrev, gPrev  []float64
	gain          []float64
	ola           []float64
	noise         float64

	est *delayEstimator

	// Stats.
	pNear, pOut float64
	prevDPow    float64
	erle        float64
	dt          bool
	dtHold      int
}

// New returns a Canceller. An invalid cfg is replaced field by field with
// the defaults; call cfg.Validate first to be told.
func New(cfg Config) *Canceller {
	def := DefaultConfig()
	if cfg.MaxDelay < 0 || cfg.MaxDelay > 2e9 {
		cfg.MaxDelay = def.MaxDelay
	}
	if cfg.TailLength < 2e7 || cfg.TailLength > 1e9 {
		cfg.TailLength = def.TailLength
	}
	if cfg.LinearBandHz < 2000 || cfg.LinearBandHz > 24000 {
		cfg.LinearBandHz = def.LinearBandHz
	}
	if cfg.MinGainDB > 0 || cfg.MinGainDB < -100 {
		cfg.MinGainDB = def.MinGainDB
	}
	c := &Canceller{cfg: cfg, fft: newRealFFT(fftN)}
	c.nLin = int(cfg.LinearBandHz/(sampleRate/fftN)) + 1
	if c.nLin > nBins {
		c.nLin = nBins
	}
	c.parts = int(math.Ceil(cfg.TailLength.Seconds()*1000/frameMs)) + preFrames + slackFrames
	c.lmax = int(math.Ceil(cfg.MaxDelay.Seconds()*1000/frameMs)) + 3
	need := c.lmax + c.parts + 8
	c.ringLen = need // any length works: slots are taken modulo ringLen
	c.gMin = math.Pow(10, cfg.MinGainDB/20)

	c.farPrev = make([]float64, BlockSamples)
	c.xRe = make([]float32, c.ringLen*c.nLin)
	c.xIm = make([]float32, c.ringLen*c.nLin)
	c.farPow = make([]float32, c.ringLen)
	c.farBands = make([]float64, delayBands)
	c.wRe = make([]float32, c.parts*c.nLin)
	c.wIm = make([]float32, c.parts*c.nLin)
	c.peakVal = make([]float64, c.parts)
	c.peakIdx = make([]int, c.parts)
	c.wNorm = make([]float64, c.parts)
	c.hypErr = make([]float64, 2*maxHyp+1)
	c.gPow = make([]float64, c.nLin)
	c.xmax = make([]float64, c.nLin)
	c.prop = make([]float64, c.parts)
	c.snRe = make([]float32, c.parts*c.nLin)
	c.snIm = make([]float32, c.parts*c.nLin)
	c.tbuf = make([]float64, fftN)
	c.spec = make([]complex128, nBins)
	c.e0 = make([]complex128, nBins)
	c.d0 = make([]complex128, nBins)
	c.e0p = make([]complex128, nBins)
	c.d0p = make([]complex128, nBins)
	c.eh = make([]complex128, nBins)
	c.dh = make([]complex128, nBins)
	c.xnorm = make([]float64, c.nLin)
	c.gRe = make([]float32, c.nLin)
	c.gIm = make([]float32, c.nLin)
	c.yhat = make([]float64, BlockSamples)
	c.ebuf = make([]float64, BlockSamples)

	// Suppressor bands: log-spaced over the linear band.
	c.binBand = make([]int, c.nLin)
	c.bandEdge = make([]int, supBands+1)
	lo, hi := 2.0, float64(c.nLin)
	for b := 0; b <= supBands; b++ {
		c.bandEdge[b] = int(math.Round(lo * math.Pow(hi/lo, float64(b)/supBands)))
	}
	c.bandEdge[0] = 0
	c.bandEdge[supBands] = c.nLin
	for b := 0; b < supBands; b++ {
		for k := c.bandEdge[b]; k < c.bandEdge[b+1] && k < c.nLin; k++ {
			c.binBand[k] = b
		}
	}
	c.sEE = make([]float64, supBands)
	c.sDD = make([]float64, supBands)
	c.sYY = make([]float64, supBands)
	c.sDY = make([]float64, supBands)
	c.mE = make([]float64, supBands)
	c.mY = make([]float64, supBands)
	c.cov = make([]float64, supBands)
	c.vr = make([]float64, supBands)
	c.beta = make([]float64, supBands)
	c.kappa = make([]float64, supBands)
	c.useD = make([]bool, supBands)
	c.rPrev = make([]float64, nBins)
	c.gPrev = make([]float64, nBins)
	c.gain = make([]float64, nBins)
	c.ola = make([]float64, BlockSamples)
	c.est = newDelayEstimator(c.lmax, c.ringLen)
	c.Reset()
	return c
}

// Reset forgets the far-end history, the echo path and the delay.
func (c *Canceller) Reset() {
	c.farCount, c.nearCount = 0, 0
	clear(c.farPrev)
	clear(c.xRe)
	clear(c.xIm)
	clear(c.farPow)
	c.resetFilter()
	c.align, c.minA = 0, 0
	clear(c.e0p)
	clear(c.d0p)
	for b := range c.beta {
		c.sEE[b], c.sDD[b], c.sYY[b], c.sDY[b] = 0, 0, 0, 0
		c.mE[b], c.mY[b], c.cov[b], c.vr[b] = 0, 0, 0, 0
		c.beta[b] = 1
		c.kappa[b] = 1
		c.useD[b] = true
	}
	clear(c.rPrev)
	for k := range c.gPrev {
		c.gPrev[k] = 1
	}
	clear(c.ola)
	c.noise = 0
	c.est.reset()
	c.lastConf, c.echoSeen = 0, false
	for k := range c.gPow {
		c.gPow[k] = 1
	}
	c.pNear, c.pOut, c.prevDPow, c.erle = 0, 0, 0, 0
	c.dt, c.dtHold = false, 0
	c.micFloor, c.nearHeld, c.supHeld, c.nearHits = 0, 0, 0, 0
	c.driftRate, c.driftAcc, c.driftN = 0, 0, 0
}

func (c *Canceller) resetFilter() {
	clear(c.wRe)
	clear(c.wIm)
	clear(c.peakVal)
	clear(c.peakIdx)
	clear(c.wNorm)
	for p := range c.prop {
		c.prop[p] = 1
	}
	c.diverge = 0
	c.dtAdaptHold = 0
	c.adapted = false
	c.convFrames, c.badFrames = 0, 0
	c.estRef, c.jumpCnt = -1, 0
	c.misN, c.misE, c.mismatch, c.misFrames = 0, 0, false, 0
	clear(c.hypErr)
	c.hypN, c.hypD, c.hypDP = 0, 0, [2]float64{}
	c.erleLinN, c.erleLinD = 0, 0
	c.rr = 0
	c.snAge, c.driftAcc = -1, 0
	c.kappaN = 0
}

// Stats reports the current delay, ERLE and double-talk state.
func (c *Canceller) Stats() Stats {
	s := Stats{ERLEdB: c.erle, DoubleTalk: c.dt}
	if c.adapted {
		p, t := c.peak()
		s.DelayMs = float64(int(c.align+int64(p))*BlockSamples+t) / (sampleRate / 1000)
		s.DelayConfident = true
	} else {
		s.DelayMs = (float64(c.est.best) + c.est.frac) * frameMs
		s.DelayConfident = c.est.conf
	}
	return s
}

// peak returns the partition and tap of the largest filter coefficient.
func (c *Canceller) peak() (int, int) {
	bp := 0
	for p, v := range c.peakVal {
		if v > c.peakVal[bp] {
			bp = p
		}
	}
	return bp, c.peakIdx[bp]
}

func (c *Canceller) farAvail(i int64) bool {
	return i >= 0 && i < c.farCount && i > c.farCount-int64(c.ringLen)
}

// Render records the 480 samples just sent to the participant.
func (c *Canceller) Render(far []float32) {
	if len(far) != BlockSamples {
		panic("aec: Render needs 480 samples")
	}
	i := c.farCount
	slot := int(i % int64(c.ringLen))
	var pow float64
	copy(c.tbuf, c.farPrev)
	for n, v := range far {
		x := float64(v)
		if x != x || math.IsInf(x, 0) {
			x = 0
		}
		c.tbuf[BlockSamples+n] = x
		c.farPrev[n] = x
		pow += x * x
	}
	c.farPow[slot] = float32(pow / BlockSamples)
	c.fft.Coefficients(c.spec, c.tbuf)
	xr := c.xRe[slot*c.nLin:][:c.nLin]
	xi := c.xIm[slot*c.nLin:][:c.nLin]
	for k := range xr {
		xr[k] = float32(real(c.spec[k]))
		xi[k] = float32(imag(c.spec[k]))
	}
	hannInPlace(c.eh, c.spec) // eh is free scratch here
	c.est.bandLog(c.farBands, c.eh)
	c.est.pushFar(i, c.farBands)
	c.farCount++
}

// hannInPlace writes to dst the spectrum of the Hann-windowed (periodic)
// frame whose rectangular spectrum is x: a 3-tap convolution.
func hannInPlace(dst, x []complex128) {
	n := len(x)
	dst[0] = 0.5*x[0] - 0.5*complex(real(x[1]), 0)
	for k := 1; k < n-1; k++ {
		dst[k] = 0.5*x[k] - 0.25*(x[k-1]+x[k+1])
	}
	dst[n-1] = 0.5*x[n-1] - 0.5*complex(real(x[n-2]), 0)
}

// Process cancels the echo in near, in place. The output lags the input
// by LatencySamples.
func (c *Canceller) Process(near []float32) {
	if len(near) != BlockSamples {
		panic("aec: Process needs 480 samples")
	}
	j := c.nearCount
	c.nearCount++

	// Echo estimate: Y = sum_p W_p X_{j-A-p}, linear bins only.
	nl := c.nLin
	clear(c.spec)
	clear(c.xnorm)
	farTail := false
	for p := 0; p < c.parts; p++ {
		i := j - c.align - int64(p)
		if !c.farAvail(i) {
			continue
		}
		slot := int(i % int64(c.ringLen))
		if c.farPow[slot] > farActiveMS {
			farTail = true
		}
		xr := c.xRe[slot*nl:][:nl]
		xi := c.xIm[slot*nl:][:nl]
		wr := c.wRe[p*nl:][:nl]
		wi := c.wIm[p*nl:][:nl]
		sp := c.spec[:nl]
		xn := c.xnorm[:nl]
		pw := c.prop[p]
		for k := range xr {
			a, b := float64(xr[k]), float64(xi[k])
			u, v := float64(wr[k]), float64(wi[k])
			sp[k] += complex(u*a-v*b, u*b+v*a)
			// Proportionate NLMS normalises by x' G x.
			xn[k] += pw * (a*a + b*b)
		}
	}
	c.fft.Sequence(c.tbuf, c.spec)
	var pd, pe float64
	for n := 0; n < BlockSamples; n++ {
		d := float64(near[n])
		if d != d || math.IsInf(d, 0) {
			d = 0
		}
		y := c.tbuf[BlockSamples+n] * (1.0 / fftN)
		c.yhat[n] = y
		e := d - y
		c.ebuf[n] = e
		pd += d * d
		pe += e * e
	}
	c.misBlockE = pe
	if pe != pe || math.IsInf(pe, 0) {
		// Defensive: a poisoned filter is reset rather than propagated.
		c.resetFilter()
		for n := range c.ebuf {
			d := float64(near[n])
			if d != d || math.IsInf(d, 0) {
				d = 0
			}
			c.ebuf[n], c.yhat[n] = d, 0
		}
	}
	// A diverged or misaligned filter is frozen (mismatch) and realigned
	// or reset by track, not shrunk: shrinking loses a good path.
	// E0 = FFT([0, e]), D0 = FFT([0, d]).
	clear(c.tbuf[:BlockSamples])
	copy(c.tbuf[BlockSamples:], c.ebuf)
	c.fft.Coefficients(c.e0, c.tbuf)
	for n := 0; n < BlockSamples; n++ {
		c.tbuf[BlockSamples+n] = c.ebuf[n] + c.yhat[n]
	}
	c.fft.Coefficients(c.d0, c.tbuf)

	// Hann spectra of [prev, cur]: shift the previous block by N/2, i.e.
	// multiply by (-1)^k, add, then window in frequency.
	for k := 0; k < nBins; k++ {
		if k&1 == 1 {
			c.spec[k] = c.e0[k] - c.e0p[k]
		} else {
			c.spec[k] = c.e0[k] + c.e0p[k]
		}
	}
	hannInPlace(c.eh, c.spec)
	for k := 0; k < nBins; k++ {
		if k&1 == 1 {
			c.spec[k] = c.d0[k] - c.d0p[k]
		} else {
			c.spec[k] = c.d0[k] + c.d0p[k]
		}
	}
	hannInPlace(c.dh, c.spec)
	copy(c.e0p, c.e0)
	copy(c.d0p, c.d0)

	// A dropout (digital silence from a lost stretch of uplink) carries no
	// information about the echo path: learning from it would unlearn it.
	live := pd > 1e-10*BlockSamples
	c.updateBands(farTail && live)

	// Delay estimation on the mic signal.
	c.est.bandLog(c.farBands, c.dh)
	c.est.update(j, c.farCount, c.farBands, live && c.farRecent(j))

	c.adapt(j, farTail && live)
	c.track(j, farTail && live, c.linD, c.linE)
	c.drift()

	if c.adapted && c.mismatch && farTail && live {
		c.testShifts(j, near)
	} else {
		clear(c.hypErr)
		c.hypN, c.hypD, c.hypDP = 0, 0, [2]float64{}
	}
	c.suppress(near, farTail)
	c.prevDPow = pd
}

// farRecent reports whether any far frame in the searched lag range was
// active.
func (c *Canceller) farRecent(j int64) bool {
	for L := 0; L <= c.lmax; L += 1 {
		i := j - int64(L)
		if c.farAvail(i) && c.farPow[int(i%int64(c.ringLen))] > farActiveMS {
			return true
		}
	}
	return false
}

// updateBands refreshes the per-band powers and the leakage regression
// (speex-style: how much of the error power follows the echo estimate's
// power; near-end speech is uncorrelated with it, so this survives double
// talk).
func (c *Canceller) updateBands(farTail bool) {
	c.linD, c.linE = 0, 0
	c.detectNear(farTail)
	for b := 0; b < supBands; b++ {
		var ee, dd, yy, dy float64
		for k := c.bandEdge[b]; k < c.bandEdge[b+1]; k++ {
			e, d := c.eh[k], c.dh[k]
			y := d - e
			ee += real(e)*real(e) + imag(e)*imag(e)
			dd += real(d)*real(d) + imag(d)*imag(d)
			yy += real(y)*real(y) + imag(y)*imag(y)
			dy += real(d)*real(y) + imag(d)*imag(y)
		}
		const a = 0.3
		c.sEE[b] += a * (ee - c.sEE[b])
		c.sDD[b] += a * (dd - c.sDD[b])
		c.sYY[b] += a * (yy - c.sYY[b])
		c.sDY[b] += a * (dy - c.sDY[b])
		c.linD += dd
		c.linE += ee
		// Kappa learns only from blocks the filter is cancelling (6 dB,
		// smoothed): near-end speech the detector missed would otherwise
		// teach it to expect the near end.
		if farTail && c.adapted && c.nearHeld == 0 && c.erleLinN > 4*c.erleLinD && c.sYY[b] > 1e-9 {
			if b == 0 {
				c.kappaN++
			}
			c.kappa[b] += kappaStep * (c.sDD[b]/c.sYY[b] - c.kappa[b])
			c.kappa[b] = math.Max(0.1, math.Min(10, c.kappa[b]))
		}
		// In double talk the error is mostly the near end: the leakage
		// would climb on it and hide the double talk from the filter.
		if !farTail || c.nearHeld > 0 {
			continue
		}
		// Leakage: residual-to-estimate power ratio, tracked down fast and
		// up slowly so near-end bursts (double talk) barely move it.
		if yy < 1e-9 || ee < 1e-9 {
			continue
		}
		r := ee / yy
		if r < c.beta[b] {
			c.beta[b] += 0.2 * (r - c.beta[b])
		} else {
			c.beta[b] += 0.02 * (r - c.beta[b])
		}
		c.beta[b] = math.Max(0.001, math.Min(2, c.beta[b]))
	}
}

// detectNear flags double talk when this block's mic power exceeds the
// echo the filter predicts for it. It needs a converged filter but not a
// matched one: the error cannot tell near-end speech from a path that
// moved, the predicted echo power can.
func (c *Canceller) detectNear(farTail bool) {
	var dd, yy float64
	for b := 0; b < supBands; b++ {
		var d, y float64
		for k := c.bandEdge[b]; k < c.bandEdge[b+1]; k++ {
			dk := c.dh[k]
			yk := dk - c.eh[k]
			d += real(dk)*real(dk) + imag(dk)*imag(dk)
			y += real(yk)*real(yk) + imag(yk)*imag(yk)
		}
		dd += d
		yy += c.kappa[b] * y
	}
	if c.micFloor == 0 || dd < c.micFloor {
		c.micFloor = dd
	} else {
		c.micFloor *= 1.002
	}
	ex := dd - yy
	// Not from a mismatched filter (in single talk that is a moved path,
	// to be found again), nor from a young one, which under-predicts
	// until kappa has learnt its bias.
	if farTail && c.adapted && !c.mismatch && c.kappaN > kappaLearn && ex > nearRatio*yy && ex > nearNoise*c.micFloor {
		c.nearHeld = nearHold
		c.nearHits++
		if c.nearHits >= nearSupHits {
			c.supHeld = nearSupHold
		} else {
			c.supHeld = max(c.supHeld, nearHold)
		}
	} else {
		if c.nearHeld > 0 {
			c.nearHeld--
			if c.nearHeld == 0 {
				c.nearHits = 0
			}
		}
		if c.supHeld > 0 {
			c.supHeld--
		}
	}
}

// adapt runs the normalised frequency-domain update and the round-robin
// gradient constraint.
func (c *Canceller) adapt(j int64, farTail bool) {
	if !farTail {
		return
	}
	if !c.adapted && !c.est.conf {
		// No echo found yet: adapting now would only fit near-end noise.
		return
	}
	if c.adapted && c.mismatch {
		// The path moved away from the filter: keep the filter for the
		// realignment rather than unlearning it.
		return
	}
	nl := c.nLin
	var mean float64
	for _, v := range c.xnorm {
		mean += v
	}
	mean /= float64(nl)
	// Regularisation: relative to the mean far power across bins, and an
	// absolute floor near -47 dBFS of far level, so that a faint far
	// block (a fading tail, a pause) does not take a full step on the
	// near-end noise: that made the filter diverge now and then.
	delta := 0.01*mean + float64(c.parts)*fftN*2e-5
	// Double talk: the error is far louder than the residual echo the
	// leakage predicts. The optimal step alone still lets the near end
	// drag the filter off (linear ERLE 14 -> 9 dB during double talk in
	// TestDoubleTalk; 11 dB with this); slow down.
	dtScale := 1.0
	if c.adapted {
		var res, err float64
		for b := range supBands {
			res += c.beta[b] * c.sYY[b]
			err += c.sEE[b]
		}
		if err > dtRatio*res {
			c.dtAdaptHold = dtHold
		} else if c.dtAdaptHold > 0 {
			c.dtAdaptHold--
		}
		if c.dtAdaptHold > 0 {
			dtScale = dtStep
		}
		if c.nearHeld > 0 {
			// The filter must keep following the drifting path through a
			// long double talk; this detector misses little near end.
			dtScale = nearStep
		}
	}
	for k := 0; k < nl; k++ {
		b := c.binBand[k]
		var mu float64
		if c.adapted {
			// Optimal step: residual echo over error power.
			res := c.beta[b] * c.sYY[b]
			mu = muMax * math.Min(1, res/(c.sEE[b]+1e-10)) * dtScale
		} else {
			// Bootstrap: large step unless the error is much louder than
			// the echo could be (double talk).
			mu = muMax * math.Min(1, 0.5*c.sYY[b]/(c.sEE[b]+1e-10)+bootMu)
		}
		// Normalise by the bin's power, or by its neighbours' when they are
		// louder: the rectangular window leaks a strong harmonic's error
		// into the quiet bins beside it, which their own power would
		// amplify into a large step.
		nrm := c.xnorm[k]
		if k > 0 && k < nl-1 {
			nrm = math.Max(nrm, 0.5*nrm+0.25*(c.xnorm[k-1]+c.xnorm[k+1]))
		}
		// x2: the zero-padded error carries half the block.
		s := 2 * mu / (math.Max(nrm, delta) + 1e-9)
		c.gRe[k] = float32(s * real(c.e0[k]))
		c.gIm[k] = float32(s * imag(c.e0[k]))
	}
	// Proportionate weights (speex-style): partitions holding more of the
	// echo path adapt faster, which speeds up convergence on the direct
	// path and early reflections. They average to 1.
	var tot float64
	for _, v := range c.wNorm {
		tot += math.Sqrt(v)
	}
	floor := 0.3*tot/float64(c.parts) + 1e-9
	var ptot float64
	for p, v := range c.wNorm {
		c.prop[p] = math.Sqrt(v) + floor
		ptot += c.prop[p]
	}
	for p := range c.prop {
		c.prop[p] *= float64(c.parts) / ptot
	}
	for p := 0; p < c.parts; p++ {
		i := j - c.align - int64(p)
		if !c.farAvail(i) {
			continue
		}
		slot := int(i % int64(c.ringLen))
		xr := c.xRe[slot*nl:][:nl]
		xi := c.xIm[slot*nl:][:nl]
		wr := c.wRe[p*nl:][:nl]
		wi := c.wIm[p*nl:][:nl]
		gr, gi := c.gRe[:nl], c.gIm[:nl]
		pw := float32(c.prop[p])
		var en float32
		for k := range xr {
			a, b := xr[k], xi[k]
			u := wr[k] + pw*(a*gr[k]+b*gi[k])
			v := wi[k] + pw*(a*gi[k]-b*gr[k])
			wr[k], wi[k] = u, v
			en += u*u + v*v
		}
		c.wNorm[p] = float64(en)
	}
	if j%constrainEvery == 0 {
		c.constrain(c.rr)
		c.rr = (c.rr + 1) % c.parts
	}
}

// constrain makes partition p a 480-tap filter again and records its peak.
func (c *Canceller) constrain(p int) {
	nl := c.nLin
	wr := c.wRe[p*nl:][:nl]
	wi := c.wIm[p*nl:][:nl]
	clear(c.spec)
	for k := range wr {
		c.spec[k] = complex(float64(wr[k]), float64(wi[k]))
	}
	c.fft.Sequence(c.tbuf, c.spec)
	var pk float64
	idx := 0
	for t := 0; t < BlockSamples; t++ {
		v := c.tbuf[t] * (1.0 / fftN)
		c.tbuf[t] = v
		if a := math.Abs(v); a > pk {
			pk, idx = a, t
		}
	}
	clear(c.tbuf[BlockSamples:])
	c.peakVal[p], c.peakIdx[p] = pk, idx
	c.fft.Coefficients(c.spec, c.tbuf)
	for k := range wr {
		wr[k] = float32(real(c.spec[k]))
		wi[k] = float32(imag(c.spec[k]))
	}
}

// shift moves the filter window by d frames (positive: later lags),
// keeping the coefficients that still overlap.
func (c *Canceller) shift(d int64) {
	if d == 0 {
		return
	}
	nl := c.nLin
	P := int64(c.parts)
	if d >= P || -d >= P {
		c.align += d
		c.resetFilter()
		return
	}
	if d > 0 {
		// New partition p holds old p+d.
		copy(c.wRe, c.wRe[int(d)*nl:])
		copy(c.wIm, c.wIm[int(d)*nl:])
		clear(c.wRe[int(P-d)*nl:])
		clear(c.wIm[int(P-d)*nl:])
		copy(c.peakVal, c.peakVal[d:])
		copy(c.peakIdx, c.peakIdx[d:])
		clear(c.peakVal[P-d:])
		copy(c.wNorm, c.wNorm[d:])
		clear(c.wNorm[P-d:])
		copy(c.snRe, c.snRe[int(d)*nl:])
		copy(c.snIm, c.snIm[int(d)*nl:])
		clear(c.snRe[int(P-d)*nl:])
		clear(c.snIm[int(P-d)*nl:])
	} else {
		m := int(-d)
		copy(c.wRe[m*nl:], c.wRe[:int(P)*nl-m*nl])
		copy(c.wIm[m*nl:], c.wIm[:int(P)*nl-m*nl])
		clear(c.wRe[:m*nl])
		clear(c.wIm[:m*nl])
		copy(c.peakVal[m:], c.peakVal[:int(P)-m])
		copy(c.peakIdx[m:], c.peakIdx[:int(P)-m])
		clear(c.peakVal[:m])
		copy(c.wNorm[m:], c.wNorm[:int(P)-m])
		clear(c.wNorm[:m])
		copy(c.snRe[m*nl:], c.snRe[:int(P)*nl-m*nl])
		copy(c.snIm[m*nl:], c.snIm[:int(P)*nl-m*nl])
		clear(c.snRe[:m*nl])
		clear(c.snIm[:m*nl])
	}
	c.align += d
}

// track updates convergence state and moves the filter window to follow
// the delay.
func (c *Canceller) track(j int64, farTail bool, pd, pe float64) {
	// Smallest alignment whose newest partition is already rendered, over
	// the call pattern seen so far (the server's tick order needs 2).
	if lead := j - c.farCount + 1; lead > c.minA {
		c.minA = lead
	}
	minA := c.minA
	// In double talk the error is loud for another reason than a lost
	// path: the filter is neither declared mismatched nor reset nor moved.
	near := c.nearHeld > 0
	if farTail {
		const f = 0.3
		c.misN += f * (pd - c.misN)
		c.misE += f * (pe - c.misE)
		if c.adapted && c.misE > 0.9*c.misN && !near {
			c.mismatch = true
			c.misFrames++
		} else if c.misE < 0.5*c.misN {
			c.mismatch = false
			c.misFrames = 0
		}
		const a = 0.05
		c.erleLinN += a * (pd - c.erleLinN)
		c.erleLinD += a * (pe - c.erleLinD)
		ratio := c.erleLinN / (c.erleLinD + 1e-12)
		switch {
		case ratio > 4: // 6 dB of linear cancellation
			c.convFrames++
			c.badFrames = 0
			if c.adapted && !c.mismatch && c.convFrames > 20 && j%10 == 0 {
				c.updateCoupling()
			}
			if c.convFrames > 20 {
				c.adapted = true
			}
		case ratio < 1.4:
			// Double talk looks the same to this ratio: only a filter that
			// fails on far-end single talk has lost the path.
			if c.dtAdaptHold == 0 && !near {
				c.badFrames++
			}
			c.convFrames = 0
		default:
			c.badFrames = 0
		}
	}
	if c.adapted {
		// Drift: keep the direct path preFrames partitions into the filter,
		// one partition at a time and only from a clear peak.
		p, _ := c.peak()
		if c.peakVal[p] > 0 && (p == preFrames-1 || p == preFrames+1) && j%25 == 0 {
			target := max(c.align+int64(p)-preFrames, minA)
			c.shift(target - c.align)
		}
		// Jumps (a jitter buffer resyncs): the coarse estimator moves away
		// from where it stood while the filter was good; move the echo path
		// in the filter by the same amount, keeping its shape.
		// The coarse estimator follows the near end's envelope in double
		// talk: no realignment from it then.
		if c.est.conf && !near {
			if c.estRef < 0 || (c.convFrames > 20 && c.est.stable > 30) {
				if c.convFrames > 20 {
					c.estRef = int64(c.est.best)
				}
			}
			if c.estRef >= 0 {
				// Jumps within maxHyp are verified against the mic by
				// testShifts once the filter mismatches: moving blindly on a
				// flickering coarse estimate breaks a good filter.
				if d := int64(c.est.best) - c.estRef; d > maxHyp || d < -maxHyp || (c.mismatch && c.misFrames > 50 && d != 0) {
					c.jumpCnt++
					// Undetected near-end speech makes the coarse peak
					// wander by tens of frames: only a settled one is a jump.
					if c.jumpCnt >= 8 && c.est.stable >= jumpStable {
						c.realign(d)
						c.estRef = int64(c.est.best)
						c.jumpCnt = 0
					}
				} else {
					c.jumpCnt = 0
				}
			}
		}
		// Lost the path: fall back to the coarse estimator.
		if (c.badFrames > 150 || c.misFrames > 100) && c.est.conf && !near {
			c.resetFilter()
		}
		return
	}
	if c.est.conf {
		target := int64(c.est.best) - preFrames
		if target < minA {
			target = minA
		}
		if target != c.align {
			c.shift(target - c.align)
		}
	} else if c.align < minA {
		c.shift(minA - c.align)
	}
}

// jumpStable: blocks the coarse delay must have stood still (±1 frame)
// before the filter is moved by it.
const jumpStable = 30

const (
	driftEvery = 4  // blocks between filter rotations
	driftSpan  = 50 // blocks between drift measurements
	// The rate is the median of the last driftPts measurements; none is
	// used before driftMinPts.
	driftPts    = 9
	driftMinPts = 9
	// driftFloor: slower paths are left to adaptation. The measurement
	// wanders by up to ±60 ppm (median of driftPts) on a still path while
	// the filter converges.
	driftFloor = 70e-6 * BlockSamples
	// A drift is followed once driftSame of the driftPts rates agree in
	// sign, and held while driftHold do.
	driftSame    = 7
	driftHold    = 5
	driftMaxRate = 500e-6 * BlockSamples
)

// drift rotates the filter by the predicted path motion and, every
// driftSpan blocks, measures the motion against a snapshot of the filter:
// a path moving by D samples multiplies bin k by exp(-2πi k D / fftN), so
// the phase step between neighbouring bins of W·conj(snapshot) gives D.
// Only the partitions around the direct path are compared (the tail is
// mostly adaptation noise); one measurement is noisy, so the rate is a
// median over several, used only above a floor and when most agree.
// Adaptation alone lags a drifting path by far more than the 0.4 µs per
// kHz that 20 dB of cancellation allows.
func (c *Canceller) drift() {
	if !c.adapted {
		c.snAge = -1
		return
	}
	nl := c.nLin
	c.driftAcc += c.driftRate
	if c.snAge >= 0 && c.snAge%driftEvery == driftEvery-1 && c.driftAcc != 0 {
		c.rotate(c.driftAcc)
		c.driftAcc = 0
	}
	if c.nearHeld > 0 {
		c.snDT = true
	}
	if c.snAge >= 0 && c.snAge < driftSpan {
		c.snAge++
		return
	}
	// Until the rate rests on driftMinPts measurements, double talk is not
	// excluded: false alarms in far-end single talk would leave too few.
	// Once the rate rests on enough measurements, those spanning detected
	// near-end speech are left out: the near end drags the filter's phase
	// and overstated the drift by up to 2x in TestDoubleTalkDrifting.
	keep := !c.snDT || c.driftN < driftMinPts
	if c.snAge >= driftSpan && !c.mismatch && keep {
		pk, _ := c.peak()
		p0, p1 := max(pk-1, 0), min(pk+1, c.parts-1)
		var ar, ai, mag float64
		var pr, pi float64
		for k := 1; k < nl; k++ {
			var cr, ci float64
			for p := p0; p <= p1; p++ {
				u, v := float64(c.wRe[p*nl+k]), float64(c.wIm[p*nl+k])
				a, b := float64(c.snRe[p*nl+k]), float64(c.snIm[p*nl+k])
				cr += u*a + v*b
				ci += v*a - u*b
			}
			if k > 1 {
				// C_k conj(C_{k-1})
				ar += cr*pr + ci*pi
				ai += ci*pr - cr*pi
				mag += math.Hypot(cr, ci) * math.Hypot(pr, pi)
			}
			pr, pi = cr, ci
		}
		if mag > 0 && math.Hypot(ar, ai) > 0.5*mag {
			d := -math.Atan2(ai, ar) * fftN / (2 * math.Pi)
			c.driftRates[c.driftN%driftPts] = d / float64(c.snAge)
			c.driftN++
			c.driftFit()
		}
	}
	copy(c.snRe, c.wRe)
	copy(c.snIm, c.wIm)
	c.snAge, c.snDT = 1, false
}

// driftFit sets driftRate to the median of the last measured rates, or
// to 0 when that is within the noise floor: single measurements scatter by
// ±200 ppm on a converged filter, far more while it converges.
func (c *Canceller) driftFit() {
	n := min(c.driftN, driftPts)
	if n < driftMinPts {
		return
	}
	m := c.driftSort[:n]
	for i := range m {
		m[i] = c.driftRates[(c.driftN-n+i)%driftPts]
	}
	slices.Sort(m)
	rate := m[n/2]
	if n%2 == 0 {
		rate = 0.5 * (m[n/2-1] + m[n/2])
	}
	// A real drift pushes nearly every measurement the same way.
	same := 0
	for _, v := range m {
		if v*rate > 0 {
			same++
		}
	}
	need := driftSame
	if c.driftRate*rate > 0 {
		// Already following a drift in this direction: hold it.
		need = driftHold
	}
	if math.Abs(rate) < driftFloor || same < need {
		rate = 0
	}
	c.driftRate = math.Max(-driftMaxRate, math.Min(driftMaxRate, rate))
}

// rotate moves every partition of the filter d samples later.
func (c *Canceller) rotate(d float64) {
	nl := c.nLin
	sn, cs := math.Sincos(-2 * math.Pi * d / fftN)
	pr, pi := 1.0, 0.0
	fr, fi := c.gRe[:nl], c.gIm[:nl] // free scratch outside adapt
	for k := range fr {
		fr[k], fi[k] = float32(pr), float32(pi)
		pr, pi = pr*cs-pi*sn, pr*sn+pi*cs
	}
	for p := 0; p < c.parts; p++ {
		wr := c.wRe[p*nl:][:nl]
		wi := c.wIm[p*nl:][:nl]
		for k := range wr {
			u, v := wr[k], wi[k]
			wr[k] = u*fr[k] - v*fi[k]
			wi[k] = u*fi[k] + v*fr[k]
		}
	}
}

// maxHyp is the largest path jump, in frames, tested directly against the
// filter (jitter buffers step by 20 ms); larger jumps wait for the coarse
// estimator.
const maxHyp = 8

// testShifts runs while the filter is mismatched: it scores the filter
// moved by every shift in [-maxHyp, maxHyp] frames against the mic block
// and realigns to a shift that clearly cancels. To halve the cost, odd and
// even shifts are scored on alternate blocks, each relative to the mic
// power of the blocks it saw.
func (c *Canceller) testShifts(j int64, near []float32) {
	nl := c.nLin
	par := int(j & 1)
	var d2 float64
	for _, v := range near {
		d2 += float64(v) * float64(v)
	}
	c.hypD += d2
	c.hypDP[par] += d2
	for h := -maxHyp; h <= maxHyp; h++ {
		if h == 0 {
			c.hypErr[maxHyp] += c.misBlockE
			continue
		}
		if (h+maxHyp)&1 != par {
			continue
		}
		if c.align+int64(h) < c.minA {
			c.hypErr[h+maxHyp] = math.Inf(1)
			continue
		}
		clear(c.spec)
		for p := 0; p < c.parts; p++ {
			i := j - c.align - int64(h) - int64(p)
			if !c.farAvail(i) {
				continue
			}
			slot := int(i % int64(c.ringLen))
			xr := c.xRe[slot*nl:][:nl]
			xi := c.xIm[slot*nl:][:nl]
			wr := c.wRe[p*nl:][:nl]
			wi := c.wIm[p*nl:][:nl]
			sp := c.spec[:nl]
			for k := range xr {
				a, b := float64(xr[k]), float64(xi[k])
				u, v := float64(wr[k]), float64(wi[k])
				sp[k] += complex(u*a-v*b, u*b+v*a)
			}
		}
		c.fft.Sequence(c.tbuf, c.spec)
		var e2 float64
		for n := 0; n < BlockSamples; n++ {
			e := float64(near[n]) - c.tbuf[BlockSamples+n]*(1.0/fftN)
			e2 += e * e
		}
		c.hypErr[h+maxHyp] += e2
	}
	c.hypN++
	if c.hypN < 12 {
		return
	}
	// Normalise every score to the mic power of the blocks it covers.
	for h := range c.hypErr {
		if h == maxHyp {
			c.hypErr[h] /= c.hypD + 1e-20
		} else {
			c.hypErr[h] /= c.hypDP[h&1] + 1e-20
		}
	}
	best := maxHyp
	for h, v := range c.hypErr {
		if v < c.hypErr[best] {
			best = h
		}
	}
	// Only a shift that clearly cancels (the filter is 0-8 kHz, so the
	// mic's upper band stays in every score) and clearly beats the rest.
	second := math.Inf(1)
	for h, v := range c.hypErr {
		if (h < best-1 || h > best+1) && v < second {
			second = v
		}
	}
	if best != maxHyp && c.hypErr[best] < 0.3*c.hypErr[maxHyp] && c.hypErr[best] < 0.3 && c.hypErr[best] < 0.5*second {
		c.realign(int64(best - maxHyp))
		c.mismatch, c.misFrames = false, 0
		c.misE = c.misN * 0.5
		if c.estRef >= 0 {
			c.estRef += int64(best - maxHyp)
		}
	}
	clear(c.hypErr)
	c.hypN, c.hypD, c.hypDP = 0, 0, [2]float64{}
}

// realign moves the echo path modelled by the filter d frames later (d<0:
// earlier), keeping the coefficients, by moving the window.
func (c *Canceller) realign(d int64) {
	na := c.align + d
	if na >= c.minA {
		c.align = na
		return
	}
	c.snAge = -1
	// The window cannot start before minA: move the coefficients instead.
	m := int(c.minA - na)
	nl := c.nLin
	P := c.parts
	c.align = c.minA
	if m >= P {
		c.resetFilter()
		return
	}
	copy(c.wRe[m*nl:], c.wRe[:(P-m)*nl])
	copy(c.wIm[m*nl:], c.wIm[:(P-m)*nl])
	clear(c.wRe[:m*nl])
	clear(c.wIm[:m*nl])
	copy(c.peakVal[m:], c.peakVal[:P-m])
	copy(c.peakIdx[m:], c.peakIdx[:P-m])
	clear(c.peakVal[:m])
	copy(c.wNorm[m:], c.wNorm[:P-m])
	clear(c.wNorm[:m])
}

// robustOver scales the filter-free echo estimate.
const robustOver = 4.0

// farMax writes to xmax, per linear bin, the largest Hann-windowed far
// power over the frames around the echo path, so that suppression holds
// while the filter is not (or no longer) aligned with the path.
func (c *Canceller) farMax() {
	nl := c.nLin
	clear(c.xmax)
	c.farMaxAround(int64(c.est.best), 2)
	if c.lastConf != int64(c.est.best) {
		c.farMaxAround(c.lastConf, 2)
	}
	if c.adapted {
		p, _ := c.peak()
		c.farMaxAround(c.align+int64(p), maxHyp+1)
	}
	c.xmax[0] = c.xmax[1]
	c.xmax[nl-1] = c.xmax[nl-2]
}

func (c *Canceller) farMaxAround(center, w int64) {
	nl := c.nLin
	j := c.nearCount - 1
	for L := center - w; L <= center+w; L++ {
		i := j - L
		if !c.farAvail(i) {
			continue
		}
		slot := int(i % int64(c.ringLen))
		xr := c.xRe[slot*nl:][:nl]
		xi := c.xIm[slot*nl:][:nl]
		for k := 1; k < nl-1; k++ {
			hr := 0.5*float64(xr[k]) - 0.25*float64(xr[k-1]+xr[k+1])
			hi := 0.5*float64(xi[k]) - 0.25*float64(xi[k-1]+xi[k+1])
			if v := hr*hr + hi*hi; v > c.xmax[k] {
				c.xmax[k] = v
			}
		}
	}
}

// updateCoupling refreshes the per-bin power response of the filter.
func (c *Canceller) updateCoupling() {
	nl := c.nLin
	for k := 0; k < nl; k++ {
		var g float64
		for p := 0; p < c.parts; p++ {
			u, v := float64(c.wRe[p*nl+k]), float64(c.wIm[p*nl+k])
			g += u*u + v*v
		}
		c.gPow[k] = g
	}
}

// suppress applies the residual echo suppressor to the Hann spectrum of the
// error and overlap-adds the result into near.
func (c *Canceller) suppress(near []float32, farTail bool) {
	nl := c.nLin
	if c.est.conf {
		c.lastConf = int64(c.est.best)
	}
	if c.adapted {
		c.echoSeen = true
	}
	// Also this very block when the filter removes little of it: a
	// concealed packet or a path change must not leak for the blocks the
	// smoothed state takes to notice.
	// Echo is known to be there once the filter has cancelled some
	// (independent talkers give strong envelope correlations too, so the
	// coarse peak alone proves nothing): until then the mic passes
	// untouched.
	likely := c.echoSeen
	// An error loud against the mic means a lost path only in far-end
	// single talk: in double talk it is the near end.
	dt := c.dtAdaptHold > 0 || c.supHeld > 0
	unreliable := likely && (!c.adapted || c.mismatch || c.badFrames > 3 || (!dt && c.linE > 0.5*c.linD))
	if unreliable {
		c.farMax()
	}
	// Per band: where the filter adds power instead of removing it (no
	// echo, or diverged), pass the microphone signal.
	for b := 0; b < supBands; b++ {
		// Re<D,Y> over <Y,Y>: near 1 where Y is the echo, near 0 where it
		// is not, whatever the near end does.
		q := c.sDY[b] / (c.sYY[b] + 1e-20)
		if c.useD[b] {
			c.useD[b] = c.sEE[b] > 0.8*c.sDD[b] && q < 0.6
		} else {
			c.useD[b] = c.sEE[b] > 1.25*c.sDD[b] && q < 0.4
		}
	}
	// During double talk the leakage estimate is trusted more: the
	// over-estimation that buys single-talk ERLE eats the near end.
	over := overEst
	if dt {
		over = overEstDT
	}
	var zTot, rTot float64
	for k := 0; k < nBins; k++ {
		var z complex128
		var y2 float64
		if !likely || (k < nl && c.useD[c.binBand[k]]) {
			z = c.dh[k]
		} else {
			z = c.eh[k]
		}
		if k < nl {
			y := c.dh[k] - c.eh[k]
			y2 = real(y)*real(y) + imag(y)*imag(y)
		}
		c.spec[k] = z
		z2 := real(z)*real(z) + imag(z)*imag(z)
		g := 1.0
		if c.cfg.Suppression && k < nl && likely {
			b := c.binBand[k]
			r := over * c.beta[b] * y2
			if c.useD[b] {
				r = overEst * y2
			}
			if unreliable {
				r = math.Max(r, robustOver*c.gPow[k]*c.xmax[k])
			}
			if rp := 0.5 * c.rPrev[k]; rp > r {
				r = rp
			}
			c.rPrev[k] = r
			g = 1 - r/(z2+1e-12)
			rTot += r
		} else {
			c.rPrev[k] = 0
		}
		zTot += z2
		c.gain[k] = g
	}
	if c.cfg.Suppression && likely {
		// Upper band: no linear estimate; follow the top of the linear band.
		gUp := 1.0
		if dt {
			// Double talk: the mean, or the near end's upper band goes
			// with the quietest bin.
			var s float64
			for k := nl - nl/5; k < nl; k++ {
				s += math.Max(c.gMin, math.Min(1, c.gain[k]))
			}
			gUp = s / float64(nl/5)
		} else {
			for k := nl - nl/5; k < nl; k++ {
				gUp = math.Min(gUp, c.gain[k])
			}
		}
		for k := nl; k < nBins; k++ {
			c.gain[k] = gUp
		}
	}
	for k := 0; k < nBins; k++ {
		g := math.Max(c.gMin, math.Min(1, c.gain[k]))
		if g > c.gPrev[k] {
			g = c.gPrev[k] + 0.5*(g-c.gPrev[k])
		}
		c.gPrev[k] = g
		c.spec[k] *= complex(g, 0)
	}
	c.fft.Sequence(c.tbuf, c.spec)
	var po float64
	for n := 0; n < BlockSamples; n++ {
		v := c.ola[n] + c.tbuf[n]*(1.0/fftN)
		if v > 1 {
			v = 1
		} else if v < -1 {
			v = -1
		}
		near[n] = float32(v)
		po += v * v
		c.ola[n] = c.tbuf[BlockSamples+n] * (1.0 / fftN)
	}

	// Stats.
	if c.noise == 0 || zTot < c.noise {
		c.noise = zTot
	} else {
		c.noise *= 1.002
	}
	dtNow := farTail && zTot > 4*rTot+1e-9 && zTot > 10*c.noise && c.adapted
	if dtNow {
		c.dtHold = 10
	} else if c.dtHold > 0 {
		c.dtHold--
	}
	c.dt = c.dtHold > 0
	if farTail {
		const a = 0.1
		c.pNear += a * (c.prevDPow - c.pNear)
		c.pOut += a * (po - c.pOut)
		c.erle = 10 * math.Log10((c.pNear+1e-10)/(c.pOut+1e-10))
	}
}
