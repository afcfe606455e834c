package mixer

import (
	"encoding/binary"
	"math"

	"github.com/openmcu/mcu/media"
)

// Fixed-point resampling: weights sum to 1<<weightBits; the vertical pass
// keeps 8 fractional bits in a uint16 row, the horizontal pass rounds back
// to bytes. With non-negative weights nothing can overflow or need clamping.
const (
	weightBits = 14
	weightOne  = 1 << weightBits
	midShift   = weightBits - 8 // vertical pass: 0..255<<8
	outShift   = weightBits + 8 // horizontal pass: back to 0..255
)

// axisTable maps each output index of one axis to a run of taps source
// indices starting at start[i], weighted by w[i*taps : (i+1)*taps].
type axisTable struct {
	start []int32
	w     []int16
	taps  int
	// run means one tap per output on consecutive source indices: a copy;
	// half means exact 2:1, each output the mean of two source pixels.
	run, half bool
	fw        []float64 // build scratch
}

// areaAbove is the downscale ratio beyond which the table averages areas.
// Up to 2:1 bilinear reads every source pixel anyway (at exactly 2:1 it is
// the 2x2 box), takes only two taps and aliases little.
const areaAbove = 2

// build fills the table for n outputs reading the source window
// [win0, win0+winLen) of a srcLen-long axis. Upscales and mild downscales
// interpolate bilinearly; larger downscales average the covered area (a box
// filter with exact fractional coverage), which does not alias like bilinear.
func (a *axisTable) build(n, srcLen int, win0, winLen float64) {
	r := winLen / float64(n)
	bilinear := r <= areaAbove
	span := func(i int) (lo, hi int, c float64) {
		if bilinear {
			c = win0 + (float64(i)+0.5)*r - 0.5
			c = math.Min(math.Max(c, 0), float64(srcLen-1))
			lo = int(c)
			hi = lo
			if c-float64(lo) > 1e-9 {
				hi = lo + 1
			}
			return lo, hi, c
		}
		a0 := math.Max(win0+float64(i)*r, 0)
		b0 := math.Min(a0+r, float64(srcLen))
		// Ignore slivers of a pixel that would only cost a tap.
		lo = int(a0 + 1e-6)
		hi = int(math.Ceil(b0-1e-6)) - 1
		return lo, max(lo, min(hi, srcLen-1)), a0
	}
	taps := 1
	for i := 0; i < n; i++ {
		lo, hi, _ := span(i)
		taps = max(taps, hi-lo+1)
	}
	a.taps = taps
	a.start = grow(a.start, n)
	a.w = grow(a.w, n*taps)
	clear(a.w)
	a.fw = grow(a.fw, taps)
	for i := 0; i < n; i++ {
		lo, hi, c := span(i)
		fw := a.fw[:hi-lo+1]
		if bilinear {
			f := c - float64(lo)
			fw[0] = 1 - f
			if hi > lo {
				fw[1] = f
			}
		} else {
			b0 := math.Min(c+r, float64(srcLen))
			for p := lo; p <= hi; p++ {
				fw[p-lo] = math.Min(b0, float64(p+1)) - math.Max(c, float64(p))
			}
		}
		st := min(lo, srcLen-taps)
		a.start[i] = int32(st)
		quantize(a.w[i*taps+lo-st:i*taps+lo-st+len(fw)], fw)
	}
	a.run, a.half = taps == 1, taps == 2
	for i := 0; i < n; i++ {
		a.run = a.run && a.start[i] == a.start[0]+int32(i)
		a.half = a.half && a.start[i] == a.start[0]+int32(2*i) && a.w[2*i] == weightOne/2 && a.w[2*i+1] == weightOne/2
	}
}

// quantize turns weights into fixed point summing exactly to weightOne.
func quantize(dst []int16, fw []float64) {
	var sum float64
	for _, v := range fw {
		sum += v
	}
	total, big := 0, 0
	for k, v := range fw {
		q := int(math.Round(v / sum * weightOne))
		dst[k] = int16(q)
		total += q
		if q > int(dst[big]) {
			big = k
		}
	}
	dst[big] += int16(weightOne - total)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// MaxSourceWidth bounds an input picture's width; wider frames show a
// placeholder. A fixed bound lets the row buffer be an array, so the inner
// loops need no bounds checks.
const MaxSourceWidth = 8192

// scratch holds the resampler's row buffers, shared by all tiles.
type scratch struct {
	row [MaxSourceWidth + 2]uint16
	acc [MaxSourceWidth]int32
}

// pairTap is a two-tap horizontal filter: row[s]*w + row[s+1]*(one-w),
// with s relative to the first column read.
type pairTap struct {
	s uint32
	w int32
}

// planeScaler resamples one plane.
type planeScaler struct {
	x, y     axisTable
	cx0, cx1 int       // source columns the horizontal pass reads
	pairs    []pairTap // the x table packed, when it has two taps
}

func (p *planeScaler) build(dw, dh, sw, sh int, wx, ww, wy, wh float64) {
	p.x.build(dw, sw, wx, ww)
	p.y.build(dh, sh, wy, wh)
	p.cx0 = int(p.x.start[0])
	p.cx1 = int(p.x.start[dw-1]) + p.x.taps
	p.pairs = p.pairs[:0]
	if p.x.taps == 2 {
		p.pairs = grow(p.pairs, dw)
		for i := range p.pairs {
			p.pairs[i] = pairTap{s: uint32(int(p.x.start[i]) - p.cx0), w: int32(p.x.w[2*i])}
		}
	}
}

// identity tells whether each output row is a straight copy of a source row.
func (p *planeScaler) identity() bool { return p.x.run && p.y.taps == 1 }

// scale writes the dw x dh picture at dst[off:] with the given stride,
// reading src.
func (p *planeScaler) scale(dst []byte, off, dstride int, src []byte, sstride int, sc *scratch) {
	dw, dh := len(p.x.start), len(p.y.start)
	if p.identity() {
		x0 := p.cx0
		for j := 0; j < dh; j++ {
			r := int(p.y.start[j]) * sstride
			copy(dst[off+j*dstride:off+j*dstride+dw], src[r+x0:r+x0+dw])
		}
		return
	}
	if p.x.half && p.y.half {
		halve(dst, off, dstride, dw, dh, src[p.cx0:], sstride, int(p.y.start[0]))
		return
	}
	n := p.cx1 - p.cx0
	tmp := sc.row[:n]
	for j := 0; j < dh; j++ {
		base := int(p.y.start[j])*sstride + p.cx0
		verticalPass(tmp, sc.acc[:n], src, base, sstride, p.y.w[j*p.y.taps:(j+1)*p.y.taps])
		d := dst[off+j*dstride : off+j*dstride+dw]
		if p.x.taps == 2 {
			horizontalPair(d, &sc.row, p.pairs)
		} else {
			horizontalPass(d, tmp, p.x.start, p.x.w, p.x.taps, p.cx0)
		}
	}
}

// halve writes the 2x2 box average of src rows y0.. into the dw x dh
// picture at dst[off:]: the exact 2:1 case. It averages eight pixels at a
// time in 16-bit lanes of a uint64 (SWAR), rounding like the scalar tail.
func halve(dst []byte, off, dstride, dw, dh int, src []byte, sstride, y0 int) {
	for j := 0; j < dh; j++ {
		r0 := src[(y0+2*j)*sstride : (y0+2*j)*sstride+2*dw]
		r1 := src[(y0+2*j+1)*sstride : (y0+2*j+1)*sstride+2*dw]
		d := dst[off+j*dstride : off+j*dstride+dw]
		i := 0
		for ; i+8 <= len(d); i += 8 {
			lo := mean4x2(binary.LittleEndian.Uint64(r0[2*i:]), binary.LittleEndian.Uint64(r1[2*i:]))
			hi := mean4x2(binary.LittleEndian.Uint64(r0[2*i+8:]), binary.LittleEndian.Uint64(r1[2*i+8:]))
			binary.LittleEndian.PutUint64(d[i:], uint64(lo)|uint64(hi)<<32)
		}
		for ; i < len(d); i++ {
			d[i] = byte((uint(r0[2*i]) + uint(r0[2*i+1]) + uint(r1[2*i]) + uint(r1[2*i+1]) + 2) >> 2)
		}
	}
}

// mean4x2 averages the four horizontal pixel pairs of a (one row) and b
// (the row below) into four bytes.
func mean4x2(a, b uint64) uint32 {
	const m = 0x00FF00FF00FF00FF
	s := ((a&m + (a>>8)&m + b&m + (b>>8)&m + 0x0002000200020002) >> 2) & m
	x := s | s>>8 // bytes a,b,b,c,c,d,d,0: pick 0,1 and 4,5
	return uint32(x&0xFFFF) | uint32(x>>16)&0xFFFF0000
}

// verticalPass blends len(w) source rows, starting at src[base] and stride
// apart, into tmp with 8 extra bits of precision.
func verticalPass(tmp []uint16, acc []int32, src []byte, base, stride int, w []int16) {
	n := len(tmp)
	switch len(w) {
	case 1:
		s := src[base : base+n]
		s = s[:len(tmp)]
		for i := range tmp {
			tmp[i] = uint16(s[i]) << 8
		}
	case 2:
		s0 := src[base : base+n]
		s1 := src[base+stride : base+stride+n]
		s0, s1 = s0[:len(tmp)], s1[:len(tmp)]
		// Eight pixels at a time in 16-bit lanes of a uint64 (SWAR). With
		// the weights cut to 8 bits (1/256 pixel, invisible) a lane holds
		// 255*256 without carrying into the next, and the sum is exactly the
		// 8-fractional-bit value the horizontal pass expects.
		const m = 0x00FF00FF00FF00FF
		w0 := uint64((int(w[0]) + 1<<(midShift-1)) >> midShift)
		w1 := 256 - w0
		i := 0
		for ; i+8 <= len(tmp); i += 8 {
			a := binary.LittleEndian.Uint64(s0[i:])
			b := binary.LittleEndian.Uint64(s1[i:])
			e := (a&m)*w0 + (b&m)*w1
			o := (a>>8&m)*w0 + (b>>8&m)*w1
			t := tmp[i : i+8 : i+8]
			t[0], t[1], t[2], t[3] = uint16(e), uint16(o), uint16(e>>16), uint16(o>>16)
			t[4], t[5], t[6], t[7] = uint16(e>>32), uint16(o>>32), uint16(e>>48), uint16(o>>48)
		}
		for ; i < len(tmp); i++ {
			tmp[i] = uint16(uint64(s0[i])*w0 + uint64(s1[i])*w1)
		}
	case 3:
		s0 := src[base : base+n]
		s1 := src[base+stride : base+stride+n]
		s2 := src[base+2*stride : base+2*stride+n]
		s0, s1, s2 = s0[:len(tmp)], s1[:len(tmp)], s2[:len(tmp)]
		w0, w1, w2 := int32(w[0]), int32(w[1]), int32(w[2])
		for i := range tmp {
			tmp[i] = uint16((int32(s0[i])*w0 + int32(s1[i])*w1 + int32(s2[i])*w2 + 1<<(midShift-1)) >> midShift)
		}
	case 4:
		s0 := src[base : base+n]
		s1 := src[base+stride : base+stride+n]
		s2 := src[base+2*stride : base+2*stride+n]
		s3 := src[base+3*stride : base+3*stride+n]
		s0, s1, s2, s3 = s0[:len(tmp)], s1[:len(tmp)], s2[:len(tmp)], s3[:len(tmp)]
		w0, w1, w2, w3 := int32(w[0]), int32(w[1]), int32(w[2]), int32(w[3])
		for i := range tmp {
			tmp[i] = uint16((int32(s0[i])*w0 + int32(s1[i])*w1 + int32(s2[i])*w2 + int32(s3[i])*w3 + 1<<(midShift-1)) >> midShift)
		}
	default:
		acc = acc[:n]
		for i := range acc {
			acc[i] = 1 << (midShift - 1)
		}
		for k, wk := range w {
			if wk == 0 {
				continue
			}
			s := src[base+k*stride : base+k*stride+n]
			s = s[:len(acc)]
			w32 := int32(wk)
			for i := range acc {
				acc[i] += int32(s[i]) * w32
			}
		}
		tmp = tmp[:len(acc)]
		for i, v := range acc {
			tmp[i] = uint16(v >> midShift)
		}
	}
}

// horizontalPair is horizontalPass for two taps, the common case.
func horizontalPair(dst []byte, row *[MaxSourceWidth + 2]uint16, taps []pairTap) {
	const round = 1 << (outShift - 1)
	taps = taps[:len(dst)]
	for i, t := range taps {
		s := int(t.s & (MaxSourceWidth - 1))
		a, b := int32(row[s]), int32(row[s+1])
		dst[i] = byte(((a-b)*t.w + b<<weightBits + round) >> outShift)
	}
}

// horizontalPass resamples tmp (which starts at source column x0) into dst.
func horizontalPass(dst []byte, tmp []uint16, start []int32, w []int16, taps, x0 int) {
	start = start[:len(dst)]
	const round = 1 << (outShift - 1)
	switch taps {
	case 1:
		for i := range dst {
			dst[i] = byte((uint32(tmp[int(start[i])-x0]) + 1<<7) >> 8)
		}
	case 3:
		w = w[:3*len(dst)]
		for i := range dst {
			s := int(start[i]) - x0
			t := tmp[s : s+3]
			ww := w[3*i : 3*i+3]
			dst[i] = byte((int32(t[0])*int32(ww[0]) + int32(t[1])*int32(ww[1]) + int32(t[2])*int32(ww[2]) + round) >> outShift)
		}
	case 4:
		w = w[:4*len(dst)]
		for i := range dst {
			s := int(start[i]) - x0
			t := tmp[s : s+4]
			ww := w[4*i : 4*i+4]
			dst[i] = byte((int32(t[0])*int32(ww[0]) + int32(t[1])*int32(ww[1]) + int32(t[2])*int32(ww[2]) + int32(t[3])*int32(ww[3]) + round) >> outShift)
		}
	default:
		for i := range dst {
			s := int(start[i]) - x0
			t := tmp[s : s+taps]
			ww := w[taps*i : taps*i+taps]
			var v int32 = round
			for k, wk := range ww {
				v += int32(t[k]) * int32(wk)
			}
			dst[i] = byte(v >> outShift)
		}
	}
}

// scaleKey is everything the scaling tables depend on; tile position is not,
// so tiles of equal size share tables.
type scaleKey struct {
	sw, sh, tw, th int
	fit            FitMode
}

// tileScaler draws a source of one size into a tile of one size.
type tileScaler struct {
	key  scaleKey
	used uint64 // compose count of the last use, for recycling
	// Picture rectangle inside the tile (luma, even).
	dx, dy, dw, dh int
	luma, chroma   planeScaler
}

func (s *tileScaler) build(k scaleKey) {
	s.key = k
	sw, sh := float64(k.sw), float64(k.sh)
	tw, th := float64(k.tw), float64(k.th)
	wx, wy, ww, wh := 0.0, 0.0, sw, sh
	if k.fit == FitCrop {
		f := math.Max(tw/sw, th/sh)
		ww, wh = math.Min(tw/f, sw), math.Min(th/f, sh)
		wx, wy = (sw-ww)/2, (sh-wh)/2
		s.dx, s.dy, s.dw, s.dh = 0, 0, k.tw, k.th
	} else {
		f := math.Min(tw/sw, th/sh)
		s.dw = min(max(even(int(math.Round(sw*f))), 2), k.tw)
		s.dh = min(max(even(int(math.Round(sh*f))), 2), k.th)
		s.dx, s.dy = even((k.tw-s.dw)/2), even((k.th-s.dh)/2)
	}
	s.luma.build(s.dw, s.dh, k.sw, k.sh, wx, ww, wy, wh)
	s.chroma.build(s.dw/2, s.dh/2, (k.sw+1)/2, (k.sh+1)/2, wx/2, ww/2, wy/2, wh/2)
}

// draw scales src into the tile at (tx, ty) of dst, painting any letterbox
// bars with bg.
func (s *tileScaler) draw(dst *media.VideoFrame, tx, ty int, src *media.VideoFrame, bg [3]byte, sc *scratch) {
	if s.dw < s.key.tw || s.dh < s.key.th {
		// Bars are painted, not left from the canvas fill, so a tile on top
		// of another one hides it completely.
		fillBars(dst, tx, ty, s.key.tw, s.key.th, s.dx, s.dy, s.dw, s.dh, bg)
	}
	x, y := tx+s.dx, ty+s.dy
	s.luma.scale(dst.Y, y*dst.StrideY+x, dst.StrideY, src.Y, src.StrideY, sc)
	coff := (y/2)*dst.StrideC + x/2
	s.chroma.scale(dst.U, coff, dst.StrideC, src.U, src.StrideC, sc)
	s.chroma.scale(dst.V, coff, dst.StrideC, src.V, src.StrideC, sc)
}

// fillBars paints the tile area around the picture rectangle.
func fillBars(dst *media.VideoFrame, tx, ty, tw, th, dx, dy, dw, dh int, bg [3]byte) {
	fillRect(dst, tx, ty, tw, dy, bg)                // top
	fillRect(dst, tx, ty+dy+dh, tw, th-dy-dh, bg)    // bottom
	fillRect(dst, tx, ty+dy, dx, dh, bg)             // left
	fillRect(dst, tx+dx+dw, ty+dy, tw-dx-dw, dh, bg) // right
}

// fillRect paints an even-aligned rectangle of dst one YUV colour.
func fillRect(dst *media.VideoFrame, x, y, w, h int, c [3]byte) {
	if w <= 0 || h <= 0 {
		return
	}
	for r := y; r < y+h; r++ {
		fillRow(dst.Y[r*dst.StrideY+x:r*dst.StrideY+x+w], c[0])
	}
	cx, cw := x/2, w/2
	for r := y / 2; r < (y+h)/2; r++ {
		fillRow(dst.U[r*dst.StrideC+cx:r*dst.StrideC+cx+cw], c[1])
		fillRow(dst.V[r*dst.StrideC+cx:r*dst.StrideC+cx+cw], c[2])
	}
}

// fillRow sets every byte of row to c; doubling copies run at memmove
// speed where a byte loop would not.
func fillRow(row []byte, c byte) {
	if len(row) == 0 {
		return
	}
	row[0] = c
	for n := 1; n < len(row); n *= 2 {
		copy(row[n:], row[:n])
	}
}
