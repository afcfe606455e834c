package aec

import "math"

// realFFT is a real FFT of fixed even length n with gonum's conventions
// (Coefficients: n/2+1 bins; Sequence: unnormalised, returns n times the
// signal). It packs the signal into a complex FFT of n/2 points, done by a
// mixed-radix Stockham FFT with precomputed twiddles: gonum's fftpack spends
// most of its time in index arithmetic, and this canceller runs about six
// transforms per block.
type realFFT struct {
	n, m   int          // real length, complex length m = n/2
	wr     []complex128 // exp(-2πik/n), k <= m
	stages []fftStage
	a, b   []complex128 // m points of work
}

// fftStage is one radix-r pass of a Stockham FFT over length l = r*q.
type fftStage struct {
	r, q   int
	tw     []complex128 // q*r forward twiddles exp(-2πi p t / l)
	dft    []complex128 // r*r forward DFT matrix
	twI    []complex128 // conjugates, for the inverse
	dftI   []complex128
	stride int // s: product of the radices before this stage
}

func newRealFFT(n int) *realFFT {
	m := n / 2
	f := &realFFT{n: n, m: m, wr: make([]complex128, m+1), a: make([]complex128, m), b: make([]complex128, m)}
	for k := range f.wr {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		f.wr[k] = complex(c, s)
	}
	l, s := m, 1
	for l > 1 {
		r := 0
		for _, p := range []int{4, 2, 3, 5} {
			if l%p == 0 {
				r = p
				break
			}
		}
		if r == 0 {
			r = l // any other prime: a plain DFT
		}
		q := l / r
		st := fftStage{r: r, q: q, stride: s,
			tw: make([]complex128, q*r), twI: make([]complex128, q*r),
			dft: make([]complex128, r*r), dftI: make([]complex128, r*r)}
		for p := 0; p < q; p++ {
			for t := 0; t < r; t++ {
				sn, cs := math.Sincos(-2 * math.Pi * float64(p*t) / float64(l))
				st.tw[p*r+t] = complex(cs, sn)
				st.twI[p*r+t] = complex(cs, -sn)
			}
		}
		for j := 0; j < r; j++ {
			for t := 0; t < r; t++ {
				sn, cs := math.Sincos(-2 * math.Pi * float64((j*t)%r) / float64(r))
				st.dft[j*r+t] = complex(cs, sn)
				st.dftI[j*r+t] = complex(cs, -sn)
			}
		}
		f.stages = append(f.stages, st)
		l, s = q, s*r
	}
	return f
}

// run transforms f.a (forward: sign -1) and returns the buffer holding the
// result.
func (f *realFFT) run(inverse bool) []complex128 {
	x, y := f.a, f.b
	for i := range f.stages {
		st := &f.stages[i]
		r, q, s := st.r, st.q, st.stride
		tw, dft, sg := st.tw, st.dft, 1.0
		if inverse {
			tw, dft, sg = st.twI, st.dftI, -1.0
		}
		qs := q * s
		switch r {
		case 2:
			for p := 0; p < q; p++ {
				w1 := tw[p*2+1]
				x0, x1 := x[p*s:][:s], x[p*s+qs:][:s]
				y0, y1 := y[2*p*s:][:s], y[2*p*s+s:][:s]
				for k := range x0 {
					a0, a1 := x0[k], x1[k]
					y0[k] = a0 + a1
					y1[k] = (a0 - a1) * w1
				}
			}
		case 4:
			for p := 0; p < q; p++ {
				w1, w2, w3 := tw[p*4+1], tw[p*4+2], tw[p*4+3]
				x0, x1, x2, x3 := x[p*s:][:s], x[p*s+qs:][:s], x[p*s+2*qs:][:s], x[p*s+3*qs:][:s]
				y0 := y[4*p*s:][:s]
				y1 := y[4*p*s+s:][:s]
				y2 := y[4*p*s+2*s:][:s]
				y3 := y[4*p*s+3*s:][:s]
				for k := range x0 {
					a0, a1, a2, a3 := x0[k], x1[k], x2[k], x3[k]
					s02, d02 := a0+a2, a0-a2
					s13, d13 := a1+a3, a1-a3
					// -i*d13 forward, +i*d13 inverse.
					jd := complex(sg*imag(d13), -sg*real(d13))
					y0[k] = s02 + s13
					y1[k] = (d02 + jd) * w1
					y2[k] = (s02 - s13) * w2
					y3[k] = (d02 - jd) * w3
				}
			}
		case 3:
			// sin(2π/3), signed for the direction.
			sn := sg * math.Sqrt(3) / 2
			for p := 0; p < q; p++ {
				w1, w2 := tw[p*3+1], tw[p*3+2]
				x0, x1, x2 := x[p*s:][:s], x[p*s+qs:][:s], x[p*s+2*qs:][:s]
				y0 := y[3*p*s:][:s]
				y1 := y[3*p*s+s:][:s]
				y2 := y[3*p*s+2*s:][:s]
				for k := range x0 {
					a0, a1, a2 := x0[k], x1[k], x2[k]
					t := a1 + a2
					mm := a0 - 0.5*t
					d := a1 - a2
					jd := complex(sn*imag(d), -sn*real(d)) // -i sin(2π/3) d
					y0[k] = a0 + t
					y1[k] = (mm + jd) * w1
					y2[k] = (mm - jd) * w2
				}
			}
		case 5:
			c1, c2 := math.Cos(2*math.Pi/5), math.Cos(4*math.Pi/5)
			s1, s2 := sg*math.Sin(2*math.Pi/5), sg*math.Sin(4*math.Pi/5)
			for p := 0; p < q; p++ {
				w1, w2, w3, w4 := tw[p*5+1], tw[p*5+2], tw[p*5+3], tw[p*5+4]
				x0, x1, x2, x3, x4 := x[p*s:][:s], x[p*s+qs:][:s], x[p*s+2*qs:][:s], x[p*s+3*qs:][:s], x[p*s+4*qs:][:s]
				y0 := y[5*p*s:][:s]
				y1 := y[5*p*s+s:][:s]
				y2 := y[5*p*s+2*s:][:s]
				y3 := y[5*p*s+3*s:][:s]
				y4 := y[5*p*s+4*s:][:s]
				for k := range x0 {
					a0 := x0[k]
					p1, d1 := x1[k]+x4[k], x1[k]-x4[k]
					p2, d2 := x2[k]+x3[k], x2[k]-x3[k]
					r1 := a0 + complex(c1, 0)*p1 + complex(c2, 0)*p2
					r2 := a0 + complex(c2, 0)*p1 + complex(c1, 0)*p2
					// -i (s1 d1 + s2 d2) and -i (s2 d1 - s1 d2)
					u1 := complex(s1*imag(d1)+s2*imag(d2), -(s1*real(d1) + s2*real(d2)))
					u2 := complex(s2*imag(d1)-s1*imag(d2), -(s2*real(d1) - s1*real(d2)))
					y0[k] = a0 + p1 + p2
					y1[k] = (r1 + u1) * w1
					y4[k] = (r1 - u1) * w4
					y2[k] = (r2 + u2) * w2
					y3[k] = (r2 - u2) * w3
				}
			}
		default:
			var in [8]complex128
			for p := 0; p < q; p++ {
				for k := 0; k < s; k++ {
					for j := 0; j < r; j++ {
						in[j] = x[p*s+j*qs+k]
					}
					for t := 0; t < r; t++ {
						var c complex128
						for j := 0; j < r; j++ {
							c += in[j] * dft[j*r+t]
						}
						y[(r*p+t)*s+k] = c * tw[p*r+t]
					}
				}
			}
		}
		x, y = y, x
	}
	return x
}

// Coefficients writes the n/2+1 bins of the real sequence seq to dst.
func (f *realFFT) Coefficients(dst []complex128, seq []float64) {
	m := f.m
	seq, dst = seq[:2*m], dst[:m+1]
	for i := range f.a {
		f.a[i] = complex(seq[2*i], seq[2*i+1])
	}
	z := f.run(false)[:m]
	for k := 0; k <= m; k++ {
		zk, zc := z[0], z[0]
		if k > 0 && k < m {
			zk, zc = z[k], z[m-k]
		}
		zc = complex(real(zc), -imag(zc))
		e := 0.5 * (zk + zc)
		d := zk - zc // 2i * odd spectrum
		o := complex(0.5*imag(d), -0.5*real(d))
		dst[k] = e + f.wr[k]*o
	}
	dst[0] = complex(real(dst[0]), 0)
	dst[m] = complex(real(dst[m]), 0)
}

// Sequence writes to dst n times the real sequence whose bins are coeff
// (the imaginary parts of the DC and Nyquist bins are ignored).
func (f *realFFT) Sequence(dst []float64, coeff []complex128) {
	m := f.m
	dst, coeff = dst[:2*m], coeff[:m+1]
	for k := 0; k < m; k++ {
		xk, xc := coeff[k], coeff[m-k]
		if k == 0 {
			xk, xc = complex(real(xk), 0), complex(real(xc), 0)
		}
		xc = complex(real(xc), -imag(xc))
		d := (xk - xc) * complex(real(f.wr[k]), -imag(f.wr[k]))
		f.a[k] = (xk + xc) + complex(-imag(d), real(d))
	}
	z := f.run(true)[:m]
	for i, v := range z {
		dst[2*i], dst[2*i+1] = real(v), imag(v)
	}
}
