//go:build baselines

// C interface to the C++ WebRTC AudioProcessing module (wapm.cc).
#ifndef DSPQUALITY_WAPM_H
#define DSPQUALITY_WAPM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wapm wapm;

// wapm_new creates a 48 kHz mono APM with the chosen components enabled:
// AEC (high suppression; extended filter if extended != 0), NS (high) and
// AGC (adaptive digital with the given target and compression gain, limiter
// on). It returns NULL on failure.
wapm* wapm_new(int aec, int extended, int ns, int agc, int agc_target_dbfs, int agc_comp_db);
// wapm_reverse feeds one 10 ms far-end frame (480 floats in [-1, 1]).
int wapm_reverse(wapm* w, const float* far);
// wapm_process processes one 10 ms near-end frame in place, telling the
// APM the render-to-capture delay in ms.
int wapm_process(wapm* w, float* near, int delay_ms);
void wapm_free(wapm* w);

#ifdef __cplusplus
}
#endif

#endif
