package record

// parameterSets returns the SPS and PPS NAL units of an annex-B access unit,
// each with a 4-byte start code, or nil when it has none.
func parameterSets(au []byte) []byte {
	var out []byte
	var sps, pps bool
	forEachNAL(au, func(nal []byte) {
		if len(nal) == 0 {
			return
		}
		switch nal[0] & 0x1f {
		case 7:
			sps = true
		case 8:
			pps = true
		default:
			return
		}
		out = append(out, 0, 0, 0, 1)
		out = append(out, nal...)
	})
	if !sps || !pps {
		return nil
	}
	return out
}

// forEachNAL calls f with each NAL unit (without start code) of an annex-B
// stream.
func forEachNAL(b []byte, f func([]byte)) {
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				if end > start && b[end-1] == 0 {
					end--
				}
				f(b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		f(b[start:])
	}
}
