package aec

import "math"

// delayEstimator finds the coarse bulk delay, in 10 ms frames, by
// correlating mean-removed log band envelopes of the near-end against the
// far-end history at every candidate lag. Reverberation smears the echo's
// envelope but leaves onsets aligned with the direct path, so the peak sits
// at (or one frame after) the direct path; the adaptive filter refines it.
type delayEstimator struct {
	lmax     int
	ringLen  int
	lo, hi   []int     // band bin ranges [lo, hi)
	farU     []float32 // ringLen*nb, far envelopes, mean removed
	farMean  []float64
	nearMean []float64
	nearU    []float64
	corr     []float64 // per lag
	fvar     []float64 // per lag
	nvar     float64
	updates  int

	best    int     // lag with the highest normalised correlation
	rho     float64 // its normalised correlation
	frac    float64 // parabolic refinement in frames, in [-0.5, 0.5]
	conf    bool
	stable  int
	lastArg int
}

const (
	delayBands     = 24
	delaySmooth    = 0.04 // ~250 ms memory at 100 frames/s
	delayMeanTrack = 0.01
	delayRhoMin    = 0.30
	delayMargin    = 0.08
	delayStable    = 8
)

func newDelayEstimator(lmax, ringLen int) *delayEstimator {
	d := &delayEstimator{
		lmax:     lmax,
		ringLen:  ringLen,
		lo:       make([]int, delayBands),
		hi:       make([]int, delayBands),
		farU:     make([]float32, ringLen*delayBands),
		farMean:  make([]float64, delayBands),
		nearMean: make([]float64, delayBands),
		nearU:    make([]float64, delayBands),
		corr:     make([]float64, lmax+1),
		fvar:     make([]float64, lmax+1),
	}
	// Log-spaced bands from 250 Hz to 6 kHz (bins of 50 Hz).
	const kLo, kHi = 5.0, 120.0
	prev := int(kLo)
	for b := 0; b < delayBands; b++ {
		e := int(math.Round(kLo * math.Pow(kHi/kLo, float64(b+1)/delayBands)))
		if e <= prev {
			e = prev + 1
		}
		d.lo[b], d.hi[b] = prev, e
		prev = e
	}
	return d
}

func (d *delayEstimator) reset() {
	clear(d.farU)
	clear(d.farMean)
	clear(d.nearMean)
	clear(d.nearU)
	clear(d.corr)
	clear(d.fvar)
	d.nvar = 0
	d.updates = 0
	d.best, d.rho, d.frac, d.conf, d.stable, d.lastArg = 0, 0, 0, false, 0, -1
}

// bandLog writes the log band energies of the Hann-windowed spectrum h.
func (d *delayEstimator) bandLog(dst []float64, h []complex128) {
	for b := range dst {
		var s float64
		for _, z := range h[d.lo[b]:d.hi[b]] {
			s += real(z)*real(z) + imag(z)*imag(z)
		}
		// Floor near -70 dBFS so silence is a constant, not -Inf.
		dst[b] = math.Log(s + 4e-5*float64(d.hi[b]-d.lo[b]))
	}
}

// pushFar stores the envelope of far frame i (bands already in v).
func (d *delayEstimator) pushFar(i int64, v []float64) {
	u := d.farU[int(i%int64(d.ringLen))*delayBands:][:delayBands]
	a := max(delayMeanTrack, 1/float64(i+1)) // warm start: exact mean at first
	for b := range v {
		d.farMean[b] += a * (v[b] - d.farMean[b])
		u[b] = float32(v[b] - d.farMean[b])
	}
}

// update correlates near frame j (bands in v) with the far history.
// farCount frames have been rendered; farRecent tells whether any far frame
// in the searched range carried signal (otherwise nothing is learnt).
func (d *delayEstimator) update(j, farCount int64, v []float64, farRecent bool) {
	am := max(delayMeanTrack, 1/float64(j+1))
	for b := range v {
		d.nearMean[b] += am * (v[b] - d.nearMean[b])
		d.nearU[b] = v[b] - d.nearMean[b]
	}
	if !farRecent {
		return
	}
	var nv float64
	for _, x := range d.nearU {
		nv += x * x
	}
	const a = delaySmooth
	d.nvar += a * (nv - d.nvar)
	nu := d.nearU[:delayBands]
	for L := 0; L <= d.lmax; L++ {
		i := j - int64(L)
		if i < 0 || i >= farCount || i <= farCount-int64(d.ringLen) {
			continue
		}
		u := d.farU[int(i%int64(d.ringLen))*delayBands:][:delayBands]
		var c, fv float64
		for b, x := range nu {
			f := float64(u[b])
			c += x * f
			fv += f * f
		}
		d.corr[L] += a * (c - d.corr[L])
		d.fvar[L] += a * (fv - d.fvar[L])
	}
	d.updates++
	d.decide()
}

func (d *delayEstimator) rhoAt(L int) float64 {
	den := d.nvar * d.fvar[L]
	if den <= 1e-12 {
		return 0
	}
	return d.corr[L] / math.Sqrt(den)
}

func (d *delayEstimator) decide() {
	best, bestR := 0, math.Inf(-1)
	for L := 0; L <= d.lmax; L++ {
		if r := d.rhoAt(L); r > bestR {
			best, bestR = L, r
		}
	}
	second := math.Inf(-1)
	for L := 0; L <= d.lmax; L++ {
		if L >= best-3 && L <= best+3 {
			continue
		}
		if r := d.rhoAt(L); r > second {
			second = r
		}
	}
	if best == d.lastArg || best == d.lastArg+1 || best == d.lastArg-1 {
		d.stable++
	} else {
		d.stable = 0
	}
	d.lastArg = best
	d.best, d.rho = best, bestR
	d.frac = 0
	if best > 0 && best < d.lmax {
		r0, r1, r2 := d.rhoAt(best-1), bestR, d.rhoAt(best+1)
		if den := r0 - 2*r1 + r2; den < 0 {
			d.frac = math.Max(-0.5, math.Min(0.5, 0.5*(r0-r2)/den))
		}
	}
	d.conf = d.updates > 20 && bestR > delayRhoMin && bestR-second > delayMargin && d.stable >= delayStable
}
