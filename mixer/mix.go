package mixer

// AddRamped adds src to dst with a gain that moves linearly from g0 to g1
// across the frame, so gain and mute changes never step (no zipper noise).
func AddRamped(dst, src []float32, g0, g1 float32) {
	src = src[:len(dst)]
	if g0 == g1 {
		if g0 == 0 {
			return
		}
		for i, s := range src {
			dst[i] += s * g0
		}
		return
	}
	step := (g1 - g0) / float32(len(dst))
	g := g0
	for i, s := range src {
		g += step
		dst[i] += s * g
	}
}

// ScaleRamped writes src times a gain ramp from g0 to g1 into dst.
func ScaleRamped(dst, src []float32, g0, g1 float32) {
	src = src[:len(dst)]
	step := (g1 - g0) / float32(len(dst))
	g := g0
	for i, s := range src {
		g += step
		dst[i] = s * g
	}
}

// Subtract writes a - b into dst.
func Subtract(dst, a, b []float32) {
	a = a[:len(dst)]
	b = b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] - b[i]
	}
}
