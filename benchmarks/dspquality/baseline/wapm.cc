//go:build baselines

#include "wapm.h"

#include <webrtc/modules/audio_processing/include/audio_processing.h>

struct wapm {
  webrtc::AudioProcessing* apm;
  webrtc::StreamConfig cfg;
  float scratch[480];
};

extern "C" wapm* wapm_new(int aec, int extended, int ns, int agc, int agc_target_dbfs, int agc_comp_db) {
  webrtc::Config config;
  config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(extended != 0));
  config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(false));
  // The experimental AGC drives an analog mic level; we want pure digital.
  config.Set<webrtc::ExperimentalAgc>(new webrtc::ExperimentalAgc(false));
  webrtc::AudioProcessing* apm = webrtc::AudioProcessing::Create(config);
  if (apm == nullptr) return nullptr;
  webrtc::ProcessingConfig pc = {{webrtc::StreamConfig(48000, 1), webrtc::StreamConfig(48000, 1),
                                  webrtc::StreamConfig(48000, 1), webrtc::StreamConfig(48000, 1)}};
  if (apm->Initialize(pc) != 0) {
    delete apm;
    return nullptr;
  }
  apm->high_pass_filter()->Enable(false);
  if (aec) {
    apm->echo_cancellation()->enable_drift_compensation(false);
    apm->echo_cancellation()->set_suppression_level(webrtc::EchoCancellation::kHighSuppression);
    apm->echo_cancellation()->Enable(true);
  }
  if (ns) {
    apm->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
    apm->noise_suppression()->Enable(true);
  }
  if (agc) {
    apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
    apm->gain_control()->set_target_level_dbfs(agc_target_dbfs);
    apm->gain_control()->set_compression_gain_db(agc_comp_db);
    apm->gain_control()->enable_limiter(true);
    apm->gain_control()->Enable(true);
  }
  wapm* w = new wapm;
  w->apm = apm;
  w->cfg = webrtc::StreamConfig(48000, 1);
  return w;
}

extern "C" int wapm_reverse(wapm* w, const float* far) {
  const float* src[1] = {far};
  float* dst[1] = {w->scratch};
  return w->apm->ProcessReverseStream(src, w->cfg, w->cfg, dst);
}

extern "C" int wapm_process(wapm* w, float* near, int delay_ms) {
  if (w->apm->echo_cancellation()->is_enabled()) {
    w->apm->set_stream_delay_ms(delay_ms);
  }
  const float* src[1] = {near};
  float* dst[1] = {near};
  return w->apm->ProcessStream(src, w->cfg, w->cfg, dst);
}

extern "C" void wapm_free(wapm* w) {
  if (w == nullptr) return;
  delete w->apm;
  delete w;
}
