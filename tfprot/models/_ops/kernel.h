// The arithmetic of tfprot's fused CPU attention, on float32 buffers of one (batch, head) pair;
// attention_op.cc converts TensorFlow's tensors to and from these buffers. Compiled on its own with
// -march=native (TensorFlow's headers are not, see fused_attention.py), and vectorised with AVX-512
// where the CPU has it, otherwise portable loops.
#ifndef TFPROT_MODELS_OPS_KERNEL_H_
#define TFPROT_MODELS_OPS_KERNEL_H_

#include <cstdint>

namespace tfprot {

// One head's keys and values in float32, padded: keys to `kp` (a multiple of 16: padded keys have
// mask -inf and zero keys and values) and the depth to `dp` (a multiple of 16, zeros).
struct HeadBuffers {
  int64_t keys, depth, kp, dp;
  const float* kt;    // [depth, kp]: keys transposed
  const float* vt;    // [depth, kp]: values transposed (backward pass only)
  const float* kr;    // [kp, dp]: keys as rows
  const float* vr;    // [kp, dp]: values as rows
  const float* mask;  // [kp]: added to every query's scores
};

// Rows of scratch (each `kp` floats) the kernels below need in `scores`, `probabilities`,
// `d_scores`.
constexpr int64_t kScratchRows = 8;

// out[i] = softmax(queries[i]·keysᵀ + mask)·values, lse[i] its log-sum-exp, for `count` query rows
// (queries and out: [count, dp]).
void attention_forward_head(const HeadBuffers& head, const float* queries, int64_t count,
                            float* scores, float* out, float* lse);

// The gradient for `count` query rows: writes d_queries [count, dp], adds to d_keys and d_values
// ([kp, dp]). delta[i] = rowsum(d_out[i] ∘ out[i]).
void attention_backward_head(const HeadBuffers& head, const float* queries, const float* d_out,
                             const float* delta, const float* lse, int64_t count,
                             float* probabilities, float* d_scores, float* d_queries,
                             float* d_keys, float* d_values);

}  // namespace tfprot

// "avx512" or "portable": the code path this build takes for depths up to 64 (read by
// fused_attention.py through ctypes).
extern "C" const char* tfprot_attention_kernel_isa();

#endif  // TFPROT_MODELS_OPS_KERNEL_H_
