// See kernel.h. All arithmetic is float32 whatever the inputs' type.
#include "kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

// The code paths, chosen by the target the compiler is given (-march, cpu_ops.py):
// - TFPROT_AVX512: AVX-512 F, BW and VL (x86-64-v4 and later) — the attention's register-blocked
//   products, exp, and 16-lane conversions;
// - TFPROT_AMX: also AMX-TILE, AMX-BF16 and AVX512-BF16 (Sapphire Rapids and later), on Linux,
//   which hands the tile registers to a process that asks: bfloat16 attention products on tiles;
// - TFPROT_AVX2: AVX2 and FMA (x86-64-v3) — the same register-blocked attention on pairs of
//   8-lane registers, with fewer rows per block (16 vector registers instead of 32);
// - otherwise portable loops, vectorised by the compiler for the target (SSE2, NEON).
// No intrinsic is compiled outside its guard, so every target (ARM64 included) builds.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define TFPROT_AVX512 1
#endif
#if defined(TFPROT_AVX512) && defined(__AMX_TILE__) && defined(__AMX_BF16__) && \
    defined(__AVX512BF16__) && defined(__linux__)
#define TFPROT_AMX 1
#endif
#if !defined(TFPROT_AVX512) && defined(__AVX2__) && defined(__FMA__)
#define TFPROT_AVX2 1
#endif
// The attention's register-blocked products: 16-float vectors, one zmm register (AVX-512) or two
// ymm registers (AVX2).
#if defined(TFPROT_AVX512) || defined(TFPROT_AVX2)
#define TFPROT_BLOCKED 1
#include <immintrin.h>
#endif
#ifdef TFPROT_AMX
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tfprot {
namespace {

// One head's padded float32 keys and values (see Workspace).
struct HeadView {
  int64_t depth, kp, dp;
  const float *kt, *vt, *kr, *vr, *mask;
};

// Scratch rows of scores per block (the most rows a block takes).
constexpr int64_t kRowsMax = 8;

// exp(x) for x <= 0 (scores minus their row's maximum, −x²/2), 0 below about −87.3: from
// −88 down, n = −127 and 2^n's bits are those of 0 (float32's normals end at 2^−126). No branch
// and n = round(x·log2(e)) by truncating x·log2(e) − 1/2, a conversion every target
// vectorises, so loops calling it vectorise (AVX2, SSE2, NEON).
inline float exp_nonpositive(float x) {
  const float clamped = std::max(x, -88.0f);
  const float n =
      static_cast<float>(static_cast<int32_t>(clamped * 1.44269504088896341f - 0.5f));
  const float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

// scores[j] = mask[j] + sum_d q[d] · kt[d][j]
inline void row_scores(const float* q, const float* kt, const float* mask, int64_t depth,
                       int64_t keys, float* scores) {
  std::memcpy(scores, mask, keys * sizeof(float));
  for (int64_t d = 0; d < depth; ++d) {
    const float qd = q[d];
    const float* k = kt + d * keys;
#pragma omp simd
    for (int64_t j = 0; j < keys; ++j) scores[j] += qd * k[j];
  }
}

inline float row_max(const float* scores, int64_t keys) {
  float best = -INFINITY;
#pragma omp simd reduction(max : best)
  for (int64_t j = 0; j < keys; ++j) best = std::max(best, scores[j]);
  return best;
}

// scores[j] ← exp(scores[j] - shift); returns their sum.
inline float exp_shifted(float* scores, int64_t keys, float shift) {
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < keys; ++j) {
    const float e = exp_nonpositive(scores[j] - shift);
    scores[j] = e;
    total += e;
  }
  return total;
}

inline float dot(const float* a, const float* b, int64_t count) {
  float total = 0.0f;
#pragma omp simd reduction(+ : total)
  for (int64_t j = 0; j < count; ++j) total += a[j] * b[j];
  return total;
}

// out[j] += factor · row[j]
inline void axpy(float factor, const float* row, int64_t count, float* out) {
#pragma omp simd
  for (int64_t j = 0; j < count; ++j) out[j] += factor * row[j];
}

#ifdef TFPROT_BLOCKED
// e^f = sum f^i / i! for i = 6 down to 0 (Horner), f in [-ln2/2, ln2/2]: the vector exps' 2^f.
constexpr int kExpTaylorTerms = 7;
constexpr float kExpTaylor[kExpTaylorTerms] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6,
                                               0.5f,       1.0f,       1.0f};
#endif

#ifdef TFPROT_AVX512

// A mask of the first `count` of 16 lanes (all 16 from 16 up).
inline __mmask16 first16(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << count) - 1);
}

// exp(x) for x <= 0 (scores minus their row's maximum) as 2^n · 2^f, f in [-1/2, 1/2]: a
// degree-6 Taylor polynomial for 2^f (relative error below 2e-7) and scalef for 2^n, which gives
// 0 for very negative n. x below -1e30 (-inf included) counts as -1e30.
inline __m512 exp512_nonpositive(__m512 x) {
  const __m512 t = _mm512_mul_ps(_mm512_max_ps(x, _mm512_set1_ps(-1e30f)),
                                 _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.6931471805599453f));
  __m512 p = _mm512_set1_ps(kExpTaylor[0]);
  for (int i = 1; i < kExpTaylorTerms; ++i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExpTaylor[i]));
  return _mm512_scalef_ps(p, n);
}

#endif  // TFPROT_AVX512

#ifdef TFPROT_BLOCKED

// 16 floats, and the few operations the blocked attention needs on them.
#ifdef TFPROT_AVX512
using vec = __m512;
// Vector registers per 16-float vector: blocks take fewer rows where it is 2.
constexpr int kRegistersPerVec = 1;
inline vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline void vstore(float* p, vec v) { _mm512_storeu_ps(p, v); }
inline vec vset1(float x) { return _mm512_set1_ps(x); }
inline vec vzero() { return _mm512_setzero_ps(); }
inline vec vfmadd(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
inline vec vmul(vec a, vec b) { return _mm512_mul_ps(a, b); }
inline vec vadd(vec a, vec b) { return _mm512_add_ps(a, b); }
inline vec vsub(vec a, vec b) { return _mm512_sub_ps(a, b); }
inline vec vmax(vec a, vec b) { return _mm512_max_ps(a, b); }
inline float vreduce_max(vec v) { return _mm512_reduce_max_ps(v); }
inline float vreduce_add(vec v) { return _mm512_reduce_add_ps(v); }
inline vec vexp_nonpositive(vec x) { return exp512_nonpositive(x); }
#else
struct vec {
  __m256 lo, hi;
};
constexpr int kRegistersPerVec = 2;
inline vec vload(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
inline void vstore(float* p, vec v) {
  _mm256_storeu_ps(p, v.lo);
  _mm256_storeu_ps(p + 8, v.hi);
}
inline vec vset1(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
inline vec vzero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
inline vec vfmadd(vec a, vec b, vec c) {
  return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
inline vec vmul(vec a, vec b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
inline vec vadd(vec a, vec b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
inline vec vsub(vec a, vec b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline vec vmax(vec a, vec b) { return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
inline float reduce8_max(__m256 v) {
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
}
inline float reduce8_add(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}
inline float vreduce_max(vec v) { return reduce8_max(_mm256_max_ps(v.lo, v.hi)); }
inline float vreduce_add(vec v) { return reduce8_add(_mm256_add_ps(v.lo, v.hi)); }
// exp(x) for x <= 0 as exp512_nonpositive computes it, with 2^n from the exponent bits: t is
// clamped at −127, whose bits give 0 (float32's normals end at 2^−126).
inline __m256 exp256_nonpositive(__m256 x) {
  const __m256 t = _mm256_max_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                 _mm256_set1_ps(-127.0f));
  const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_mul_ps(_mm256_sub_ps(t, n), _mm256_set1_ps(0.6931471805599453f));
  __m256 p = _mm256_set1_ps(kExpTaylor[0]);
  for (int i = 1; i < kExpTaylorTerms; ++i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExpTaylor[i]));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}
inline vec vexp_nonpositive(vec x) { return {exp256_nonpositive(x.lo), exp256_nonpositive(x.hi)}; }
#endif

// out[r, j] = bias[j] + sum_d rows[r, d] · columns[d, j] for R rows (stride dp), j < kp.
template <int R>
inline void row_products(const float* rows, int64_t dp, const float* columns, int64_t depth,
                         int64_t kp, const float* bias, float* out) {
  int64_t j = 0;
  for (; j + 32 <= kp; j += 32) {
    vec a[R], b[R];
    for (int r = 0; r < R; ++r) {
      a[r] = bias ? vload(bias + j) : vzero();
      b[r] = bias ? vload(bias + j + 16) : vzero();
    }
    for (int64_t d = 0; d < depth; ++d) {
      const vec c0 = vload(columns + d * kp + j);
      const vec c1 = vload(columns + d * kp + j + 16);
      for (int r = 0; r < R; ++r) {
        const vec x = vset1(rows[r * dp + d]);
        a[r] = vfmadd(x, c0, a[r]);
        b[r] = vfmadd(x, c1, b[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      vstore(out + r * kp + j, a[r]);
      vstore(out + r * kp + j + 16, b[r]);
    }
  }
  for (; j < kp; j += 16) {
    vec a[R];
    for (int r = 0; r < R; ++r) a[r] = bias ? vload(bias + j) : vzero();
    for (int64_t d = 0; d < depth; ++d) {
      const vec c0 = vload(columns + d * kp + j);
      for (int r = 0; r < R; ++r) a[r] = vfmadd(vset1(rows[r * dp + d]), c0, a[r]);
    }
    for (int r = 0; r < R; ++r) vstore(out + r * kp + j, a[r]);
  }
}

// out[r, :] = sum_j weights[r, j] · table[j, :] for R rows; table is [kp, 16·DC].
template <int R, int DC>
inline void weighted_rows(const float* weights, int64_t kp, const float* table, float* out) {
  constexpr int Split = R * DC * kRegistersPerVec < 8 ? 2 : 1;
  vec acc[Split][R][DC];
  for (int s = 0; s < Split; ++s)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < DC; ++c) acc[s][r][c] = vzero();
  for (int64_t j = 0; j < kp; j += Split) {
    for (int s = 0; s < Split; ++s) {
      vec t[DC];
      for (int c = 0; c < DC; ++c) t[c] = vload(table + (j + s) * DC * 16 + c * 16);
      for (int r = 0; r < R; ++r) {
        const vec w = vset1(weights[r * kp + j + s]);
        for (int c = 0; c < DC; ++c) acc[s][r][c] = vfmadd(w, t[c], acc[s][r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < DC; ++c) {
      vec total = acc[0][r][c];
      for (int s = 1; s < Split; ++s) total = vadd(total, acc[s][r][c]);
      vstore(out + r * DC * 16 + c * 16, total);
    }
}

// keys[j, :] += sum_r d_scores[r, j] · queries[r, :] and values[j, :] += sum_r
// probabilities[r, j] · d_out[r, :], for R rows (stride 16·DC): one pass over j for both, the
// rows' terms summed pairwise (short dependency chains).
template <int R, int DC>
inline void accumulate_keys_values(const float* d_scores, const float* probabilities, int64_t kp,
                                   const float* queries, const float* d_out, float* keys,
                                   float* values) {
  static_assert(R % 2 == 0 || R == 1, "pairs of rows");
  vec q[R][DC], o[R][DC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < DC; ++c) {
      q[r][c] = vload(queries + r * DC * 16 + c * 16);
      o[r][c] = vload(d_out + r * DC * 16 + c * 16);
    }
  for (int64_t j = 0; j < kp; ++j) {
    for (int c = 0; c < DC; ++c) {
      vec k_sum, v_sum;
      if constexpr (R == 1) {
        k_sum = vmul(vset1(d_scores[j]), q[0][c]);
        v_sum = vmul(vset1(probabilities[j]), o[0][c]);
      } else {
        vec k_pair[R / 2], v_pair[R / 2];
        for (int r = 0; r < R; r += 2) {
          k_pair[r / 2] = vfmadd(
              vset1(d_scores[(r + 1) * kp + j]), q[r + 1][c],
              vmul(vset1(d_scores[r * kp + j]), q[r][c]));
          v_pair[r / 2] = vfmadd(
              vset1(probabilities[(r + 1) * kp + j]), o[r + 1][c],
              vmul(vset1(probabilities[r * kp + j]), o[r][c]));
        }
        for (int width = R / 2; width > 1; width /= 2)
          for (int p = 0; p < width / 2; ++p) {
            k_pair[p] = vadd(k_pair[2 * p], k_pair[2 * p + 1]);
            v_pair[p] = vadd(v_pair[2 * p], v_pair[2 * p + 1]);
          }
        k_sum = k_pair[0];
        v_sum = v_pair[0];
      }
      float* k_row = keys + j * DC * 16 + c * 16;
      float* v_row = values + j * DC * 16 + c * 16;
      vstore(k_row, vadd(vload(k_row), k_sum));
      vstore(v_row, vadd(vload(v_row), v_sum));
    }
  }
}

inline float reduce_max(const float* v, int64_t n) {
  vec best = vset1(-INFINITY);
  for (int64_t j = 0; j < n; j += 16) best = vmax(best, vload(v + j));
  return vreduce_max(best);
}

// v ← exp(v − shift); returns the sum.
inline float exp_in_place(float* v, int64_t n, float shift) {
  const vec s = vset1(shift);
  vec total = vzero();
  for (int64_t j = 0; j < n; j += 16) {
    const vec e = vexp_nonpositive(vsub(vload(v + j), s));
    vstore(v + j, e);
    total = vadd(total, e);
  }
  return vreduce_add(total);
}

// Forward pass of R query rows of one head: out [R, dp] (normalised), lse [R].
template <int R, int DC>
inline void forward_rows(const HeadView& head, const float* queries, float* scores, float* out,
                         float* lse) {
  const int64_t kp = head.kp;
  row_products<R>(queries, head.dp, head.kt, head.depth, kp, head.mask, scores);
  float inverse[R];
  for (int r = 0; r < R; ++r) {
    const float shift = reduce_max(scores + r * kp, kp);
    const float total = exp_in_place(scores + r * kp, kp, shift);
    inverse[r] = 1.0f / total;
    lse[r] = shift + std::log(total);
  }
  weighted_rows<R, DC>(scores, kp, head.vr, out);
  for (int r = 0; r < R; ++r)
    for (int64_t d = 0; d < head.dp; ++d) out[r * head.dp + d] *= inverse[r];
}

// Backward pass of R query rows of one head: d_queries [R, dp]; accumulates d_keys, d_values
// ([kp, dp] rows).
template <int R, int DC>
inline void backward_rows(const HeadView& head, const float* queries, const float* d_out,
                          const float* delta, const float* lse, float* probabilities,
                          float* d_scores, float* d_queries, float* d_keys, float* d_values) {
  const int64_t kp = head.kp;
  row_products<R>(queries, head.dp, head.kt, head.depth, kp, head.mask, probabilities);
  for (int r = 0; r < R; ++r) exp_in_place(probabilities + r * kp, kp, lse[r]);
  row_products<R>(d_out, head.dp, head.vt, head.depth, kp, nullptr, d_scores);
  for (int r = 0; r < R; ++r) {
    const vec dr = vset1(delta[r]);
    for (int64_t j = 0; j < kp; j += 16) {
      const vec p = vload(probabilities + r * kp + j);
      const vec g = vload(d_scores + r * kp + j);
      vstore(d_scores + r * kp + j, vmul(p, vsub(g, dr)));
    }
  }
  weighted_rows<R, DC>(d_scores, kp, head.kr, d_queries);
  accumulate_keys_values<R, DC>(d_scores, probabilities, kp, queries, d_out, d_keys, d_values);
}

// Rows per block: more rows reuse each loaded key more often, within the vector registers (32 zmm
// or 16 ymm).
template <int DC>
constexpr int kRows = (DC == 1 ? 8 : 4) / kRegistersPerVec;

template <int DC>
void forward_head(const HeadView& head, const float* queries, int64_t count, float* scores,
                  float* out, float* lse) {
  const int64_t dp = head.dp;
  constexpr int R = kRows<DC>;
  int64_t i = 0;
  for (; i + R <= count; i += R)
    forward_rows<R, DC>(head, queries + i * dp, scores, out + i * dp, lse + i);
  for (; i < count; ++i) forward_rows<1, DC>(head, queries + i * dp, scores, out + i * dp, lse + i);
}

template <int DC>
void backward_head(const HeadView& head, const float* queries, const float* d_out,
                   const float* delta, const float* lse, int64_t count, float* probabilities,
                   float* d_scores, float* d_queries, float* d_keys, float* d_values) {
  const int64_t dp = head.dp;
  constexpr int R = kRows<DC>;
  int64_t i = 0;
  for (; i + R <= count; i += R)
    backward_rows<R, DC>(head, queries + i * dp, d_out + i * dp, delta + i, lse + i,
                         probabilities, d_scores, d_queries + i * dp, d_keys, d_values);
  for (; i < count; ++i)
    backward_rows<1, DC>(head, queries + i * dp, d_out + i * dp, delta + i, lse + i,
                         probabilities, d_scores, d_queries + i * dp, d_keys, d_values);
}

template <typename F>
bool dispatch_depth(int64_t dp, F&& call) {
  switch (dp / 16) {
    case 1: call(std::integral_constant<int, 1>()); return true;
    case 2: call(std::integral_constant<int, 2>()); return true;
    case 3: call(std::integral_constant<int, 3>()); return true;
    case 4: call(std::integral_constant<int, 4>()); return true;
    default: return false;
  }
}

#endif  // TFPROT_BLOCKED

// Portable path (any CPU, any depth): one query row at a time, loops the compiler vectorises.
void forward_row_portable(const HeadView& head, const float* query, float* scores, float* out,
                          float* lse) {
  const int64_t kp = head.kp, depth = head.depth;
  row_scores(query, head.kt, head.mask, depth, kp, scores);
  const float shift = row_max(scores, kp);
  const float total = exp_shifted(scores, kp, shift);
  for (int64_t d = 0; d < head.dp; ++d) out[d] = 0.0f;
  for (int64_t j = 0; j < kp; ++j) axpy(scores[j] / total, head.vr + j * head.dp, depth, out);
  *lse = shift + std::log(total);
}

void backward_row_portable(const HeadView& head, const float* query, const float* d_out,
                           float delta, float lse, float* probabilities, float* d_scores,
                           float* d_query, float* d_keys, float* d_values) {
  const int64_t kp = head.kp, depth = head.depth, dp = head.dp;
  row_scores(query, head.kt, head.mask, depth, kp, probabilities);
  exp_shifted(probabilities, kp, lse);
  std::fill(d_scores, d_scores + kp, 0.0f);
  for (int64_t d = 0; d < depth; ++d) axpy(d_out[d], head.vt + d * kp, kp, d_scores);
  for (int64_t j = 0; j < kp; ++j) d_scores[j] = probabilities[j] * (d_scores[j] - delta);
  for (int64_t d = 0; d < dp; ++d) d_query[d] = 0.0f;
  for (int64_t j = 0; j < kp; ++j) {
    axpy(d_scores[j], head.kr + j * dp, depth, d_query);
    axpy(d_scores[j], query, depth, d_keys + j * dp);
    axpy(probabilities[j], d_out, depth, d_values + j * dp);
  }
}

// Storage types: float, or bfloat16 as its 16 bits.
inline float to_float(float x) { return x; }
inline float to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float x;
  std::memcpy(&x, &wide, sizeof(x));
  return x;
}
inline void store(float x, float* out) { *out = x; }
inline void store(float x, uint16_t* out) {  // round to nearest even, as Eigen's bfloat16 does
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    *out = static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN stays NaN
    return;
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);
  *out = static_cast<uint16_t>(bits >> 16);
}

inline int64_t round_up(int64_t n, int64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

template <typename S>
void store_rows(const float* rows, int64_t count, int64_t depth, int64_t stride, S* out) {
  for (int64_t i = 0; i < count; ++i)
    for (int64_t d = 0; d < depth; ++d) store(rows[i * stride + d], out + i * depth + d);
}

#ifdef TFPROT_AMX
// Linux hands AMX's tile registers to a process that asks (TensorFlow's oneDNN asks too).
bool amx_permitted() {
  static const bool permitted = [] {
    constexpr long kRequestPermission = 0x1023;  // ARCH_REQ_XCOMP_PERM
    constexpr long kTileData = 18;               // XFEATURE_XTILEDATA
    return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
  }();
  return permitted;
}

struct TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// All eight tiles 16 rows of 64 bytes: 16 × 16 float32, or 16 × 32 bfloat16 (pairs).
void configure_tiles() {
  TileConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  _tile_loadconfig(&config);
}

// [rows, depth] bfloat16 → pairs along the depth, [dp / 2, kp] (transposed): B tiles for
// products over the depth.
void pairs_along_depth(const uint16_t* in, int64_t rows, int64_t depth, int64_t kp,
                       uint32_t* out) {
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t p = 0; p < (depth + 1) / 2; ++p) {
      const uint32_t low = in[j * depth + 2 * p];
      const uint32_t high = 2 * p + 1 < depth ? in[j * depth + 2 * p + 1] : 0u;
      out[p * kp + j] = low | (high << 16);
    }
}

// [rows, depth] bfloat16 → pairs along the rows, [rows / 2, dn]: B tiles for products over the
// rows (keys).
void pairs_along_rows(const uint16_t* in, int64_t rows, int64_t depth, int64_t dn,
                      uint32_t* out) {
  for (int64_t j = 0; j < rows; j += 2)
    for (int64_t d = 0; d < depth; d += 16) {
      const __mmask16 take = first16(depth - d);
      const __m512i low = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(take, in + j * depth + d));
      const __m512i high = j + 1 < rows
          ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(take, in + (j + 1) * depth + d))
          : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(out + (j / 2) * dn + d, take,
                               _mm512_or_si512(low, _mm512_slli_epi32(high, 16)));
    }
}

// out[16 or 32, kp] = rows[16 or 32, dp] · pairsᵀ over the depth (pairs [dp / 2, kp]); `two`:
// 32 rows. Accumulators 0, 1 (rows 0-15, keys jb and jb + 16) and 2, 3 (rows 16-31).
void tile_products_over_depth(const uint16_t* rows, int64_t dp, const uint32_t* pairs,
                              int64_t kp, bool two, float* out) {
  for (int64_t jb = 0; jb < kp; jb += 32) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t ks = 0; ks < dp; ks += 32) {
      _tile_loadd(4, rows + ks, dp * 2);
      _tile_loadd(6, pairs + (ks / 2) * kp + jb, kp * 4);
      _tile_loadd(7, pairs + (ks / 2) * kp + jb + 16, kp * 4);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      if (two) {
        _tile_loadd(5, rows + 16 * dp + ks, dp * 2);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
    _tile_stored(0, out + jb, kp * 4);
    _tile_stored(1, out + jb + 16, kp * 4);
    if (two) {
      _tile_stored(2, out + 16 * kp + jb, kp * 4);
      _tile_stored(3, out + 16 * kp + jb + 16, kp * 4);
    }
  }
}

// weights[16 or 32, kp] (bfloat16 rows) · table over the keys (pairs [kp / 2, dn]) as two halves:
// sums[r] over even steps of 32 keys, sums[32 + r] over odd ones (add them); `two`: 32 rows.
// Accumulators 0, 2 (rows 0-15, 16-31) for even steps, 1, 3 for odd.
void tile_products_over_keys(const uint16_t* weights, int64_t kp, const uint32_t* pairs,
                             int64_t dn, bool two, float* sums) {
  for (int64_t db = 0; db < dn; db += 16) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t ks = 0; ks < kp; ks += 64) {
      _tile_loadd(6, pairs + (ks / 2) * dn + db, dn * 4);
      _tile_loadd(4, weights + ks, kp * 2);
      _tile_dpbf16ps(0, 4, 6);
      if (two) {
        _tile_loadd(5, weights + 16 * kp + ks, kp * 2);
        _tile_dpbf16ps(2, 5, 6);
      }
      if (ks + 32 < kp) {
        _tile_loadd(7, pairs + (ks / 2 + 16) * dn + db, dn * 4);
        _tile_loadd(4, weights + ks + 32, kp * 2);
        _tile_dpbf16ps(1, 4, 7);
        if (two) {
          _tile_loadd(5, weights + 16 * kp + ks + 32, kp * 2);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
    }
    _tile_stored(0, sums + db, dn * 4);
    _tile_stored(1, sums + 32 * dn + db, dn * 4);
    if (two) {
      _tile_stored(2, sums + 16 * dn + db, dn * 4);
      _tile_stored(3, sums + 48 * dn + db, dn * 4);
    }
  }
}
#endif  // TFPROT_AMX


}  // namespace

#ifdef TFPROT_AMX
// The forward pass of bfloat16 inputs on AMX tiles: scores = Q·Kᵀ and out = P·V as bfloat16 tile
// products with float32 sums (P rounded to bfloat16 first, as TensorFlow's bfloat16 matmul
// takes it), the softmax in float32 with AVX-512. 32 query rows at a time.
struct AmxForward {
  int64_t queries, keys, depth, lq, kp, dp, dn;
  Aligned<uint16_t> q_rows;           // [lq, dp]: queries, zero-padded
  Aligned<uint32_t> k_pairs;          // [dp / 2, kp]: keys as pairs along the depth
  Aligned<uint32_t> v_pairs;          // [kp / 2, dn]: values as pairs along the keys
  Aligned<uint16_t> probabilities;    // [32, kp]
  Aligned<float> scores, mask, sums;  // [32, kp], [kp], [64, dn]

  AmxForward(int64_t queries, int64_t keys, int64_t depth)
      : queries(queries), keys(keys), depth(depth), lq(round_up(queries, 16)),
        kp(round_up(keys, 32)), dp(round_up(depth, 32)), dn(round_up(depth, 16)),
        q_rows(lq * dp, 0), k_pairs(dp / 2 * kp, 0u), v_pairs(kp / 2 * dn, 0u),
        probabilities(32 * kp, 0), scores(32 * kp, 0.0f), mask(kp, -1e30f), sums(64 * dn, 0.0f) {}

  void load(const uint16_t* query, const uint16_t* key, const uint16_t* value, const float* m) {
    for (int64_t i = 0; i < queries; ++i)
      std::memcpy(q_rows.data() + i * dp, query + i * depth, depth * sizeof(uint16_t));
    pairs_along_depth(key, keys, depth, kp, k_pairs.data());
    pairs_along_rows(value, keys, depth, dn, v_pairs.data());
    std::memcpy(mask.data(), m, keys * sizeof(float));
  }

  void run(const uint16_t* query, const uint16_t* key, const uint16_t* value, const float* m,
           uint16_t* out, float* lse) {
    load(query, key, value, m);
    configure_tiles();
    for (int64_t ib = 0; ib < lq; ib += 32) {
      const bool two = ib + 16 < lq;  // a second block of 16 rows
      tile_products_over_depth(q_rows.data() + ib * dp, dp, k_pairs.data(), kp, two, scores.data());
      const int64_t rows = two ? 32 : 16;
      float inverse[32];
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = scores.data() + r * kp;
        __m512 best = _mm512_set1_ps(-INFINITY);
        for (int64_t j = 0; j < kp; j += 16)
          best = _mm512_max_ps(best, _mm512_add_ps(_mm512_loadu_ps(row + j), _mm512_loadu_ps(mask.data() + j)));
        const float shift = _mm512_reduce_max_ps(best);
        const __m512 s = _mm512_set1_ps(shift);
        __m512 total = _mm512_setzero_ps();
        for (int64_t j = 0; j < kp; j += 16) {
          const __m512 x = _mm512_add_ps(_mm512_loadu_ps(row + j), _mm512_loadu_ps(mask.data() + j));
          const __m512 e = exp512_nonpositive(_mm512_sub_ps(x, s));
          total = _mm512_add_ps(total, e);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(probabilities.data() + r * kp + j),
                              (__m256i)_mm512_cvtneps_pbh(e));
        }
        const float sum = _mm512_reduce_add_ps(total);
        inverse[r] = 1.0f / sum;
        if (ib + r < queries) lse[ib + r] = shift + std::log(sum);
      }
      tile_products_over_keys(probabilities.data(), kp, v_pairs.data(), dn, two, sums.data());
      for (int64_t r = 0; r < rows && ib + r < queries; ++r) {
        const __m512 scale = _mm512_set1_ps(inverse[r]);
        for (int64_t d = 0; d < depth; d += 16) {
          const __m512 even = _mm512_loadu_ps(sums.data() + r * dn + d);
          const __m512 odd = _mm512_loadu_ps(sums.data() + (32 + r) * dn + d);
          const __m256i packed = (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_add_ps(even, odd), scale));
          _mm256_mask_storeu_epi16(out + (ib + r) * depth + d, first16(depth - d), packed);
        }
      }
    }
    _tile_release();
  }
};
#endif  // TFPROT_AMX

#ifdef TFPROT_AMX
// The gradient of bfloat16 inputs on AMX tiles, 32 query rows at a time: scores and dP = dO·Vᵀ as
// tile products over the depth, P and dS = P ∘ (dP − rowsum(dO ∘ O)) in float32 with AVX-512
// (rounded to bfloat16 for the products that take them, as TensorFlow's bfloat16 matmuls do),
// dQ = dS·K over the keys, and dKᵀ += Qᵀ·dS, dVᵀ += dOᵀ·P over the block's queries, accumulated
// in float32 tiles across blocks.
struct AmxBackward {
  int64_t queries, keys, depth, lq, kp, dp, dn;
  Aligned<uint16_t> q_rows, d_out_rows;        // [lq, dp]
  Aligned<uint32_t> k_pairs, v_pairs;          // [dp / 2, kp]: pairs along the depth
  Aligned<uint32_t> k_key_pairs;               // [kp / 2, dn]: keys as pairs along the keys
  Aligned<uint16_t> q_columns, d_out_columns;  // [dn, lq]: transposed
  Aligned<float> mask, lse, delta;             // [kp], [lq], [lq]
  Aligned<float> scores, d_scores;             // [32, kp]
  Aligned<uint16_t> d_score_rows;              // [32, kp]
  Aligned<uint32_t> p_pairs, ds_pairs;         // [16, kp]: pairs along the queries
  Aligned<float> d_query_sums;                 // [64, dn]
  Aligned<float> d_keys_t, d_values_t;         // [dn, kp]

  AmxBackward(int64_t queries, int64_t keys, int64_t depth)
      : queries(queries), keys(keys), depth(depth), lq(round_up(queries, 32)),
        kp(round_up(keys, 32)), dp(round_up(depth, 32)), dn(round_up(depth, 16)),
        q_rows(lq * dp, 0), d_out_rows(lq * dp, 0), k_pairs(dp / 2 * kp, 0u),
        v_pairs(dp / 2 * kp, 0u), k_key_pairs(kp / 2 * dn, 0u), q_columns(dn * lq, 0),
        d_out_columns(dn * lq, 0), mask(kp, -1e30f), lse(lq, 1e30f), delta(lq, 0.0f),
        scores(32 * kp, 0.0f), d_scores(32 * kp, 0.0f), d_score_rows(32 * kp, 0),
        p_pairs(16 * kp, 0u), ds_pairs(16 * kp, 0u), d_query_sums(64 * dn, 0.0f),
        d_keys_t(dn * kp, 0.0f), d_values_t(dn * kp, 0.0f) {}

  void load(const uint16_t* query, const uint16_t* key, const uint16_t* value, const float* m,
            const uint16_t* out, const float* l, const uint16_t* d_out) {
    for (int64_t i = 0; i < queries; ++i) {
      std::memcpy(q_rows.data() + i * dp, query + i * depth, depth * sizeof(uint16_t));
      std::memcpy(d_out_rows.data() + i * dp, d_out + i * depth, depth * sizeof(uint16_t));
      float total = 0.0f;  // rowsum(dO ∘ O), as FlashAttention computes it
      for (int64_t d = 0; d < depth; ++d) {
        q_columns[d * lq + i] = query[i * depth + d];
        d_out_columns[d * lq + i] = d_out[i * depth + d];
        total += to_float(d_out[i * depth + d]) * to_float(out[i * depth + d]);
      }
      delta[i] = total;
      lse[i] = l[i];
    }
    pairs_along_depth(key, keys, depth, kp, k_pairs.data());
    pairs_along_depth(value, keys, depth, kp, v_pairs.data());
    pairs_along_rows(key, keys, depth, dn, k_key_pairs.data());
    std::memcpy(mask.data(), m, keys * sizeof(float));
    std::fill(d_keys_t.begin(), d_keys_t.end(), 0.0f);
    std::fill(d_values_t.begin(), d_values_t.end(), 0.0f);
  }

  static __m512i interleave(__m512 even, __m512 odd) {  // bfloat16 pairs (even low, odd high)
    const __m512i low = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(even));
    const __m512i high = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(odd));
    return _mm512_or_si512(low, _mm512_slli_epi32(high, 16));
  }

  void run(const uint16_t* query, const uint16_t* key, const uint16_t* value, const float* m,
           const uint16_t* out, const float* l, const uint16_t* d_out, uint16_t* d_query,
           uint16_t* d_key, uint16_t* d_value) {
    load(query, key, value, m, out, l, d_out);
    configure_tiles();
    for (int64_t ib = 0; ib < lq; ib += 32) {
      tile_products_over_depth(q_rows.data() + ib * dp, dp, k_pairs.data(), kp, true, scores.data());
      tile_products_over_depth(d_out_rows.data() + ib * dp, dp, v_pairs.data(), kp, true, d_scores.data());
      // P and dS, two rows at a time (pairs along the queries for dKᵀ and dVᵀ).
      for (int64_t r = 0; r < 32; r += 2) {
        const __m512 lse0 = _mm512_set1_ps(lse[ib + r]), lse1 = _mm512_set1_ps(lse[ib + r + 1]);
        const __m512 delta0 = _mm512_set1_ps(delta[ib + r]);
        const __m512 delta1 = _mm512_set1_ps(delta[ib + r + 1]);
        for (int64_t j = 0; j < kp; j += 16) {
          const __m512 mk = _mm512_loadu_ps(mask.data() + j);
          const __m512 p0 = exp512_nonpositive(
              _mm512_sub_ps(_mm512_add_ps(_mm512_loadu_ps(scores.data() + r * kp + j), mk), lse0));
          const __m512 p1 = exp512_nonpositive(_mm512_sub_ps(
              _mm512_add_ps(_mm512_loadu_ps(scores.data() + (r + 1) * kp + j), mk), lse1));
          const __m512 ds0 = _mm512_mul_ps(
              p0, _mm512_sub_ps(_mm512_loadu_ps(d_scores.data() + r * kp + j), delta0));
          const __m512 ds1 = _mm512_mul_ps(
              p1, _mm512_sub_ps(_mm512_loadu_ps(d_scores.data() + (r + 1) * kp + j), delta1));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d_score_rows.data() + r * kp + j),
                              (__m256i)_mm512_cvtneps_pbh(ds0));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(d_score_rows.data() + (r + 1) * kp + j),
                              (__m256i)_mm512_cvtneps_pbh(ds1));
          _mm512_storeu_si512(p_pairs.data() + (r / 2) * kp + j, interleave(p0, p1));
          _mm512_storeu_si512(ds_pairs.data() + (r / 2) * kp + j, interleave(ds0, ds1));
        }
      }
      // dQ = dS · K
      tile_products_over_keys(d_score_rows.data(), kp, k_key_pairs.data(), dn, true, d_query_sums.data());
      for (int64_t r = 0; r < 32 && ib + r < queries; ++r)
        for (int64_t d = 0; d < depth; d += 16) {
          const __m512 total = _mm512_add_ps(_mm512_loadu_ps(d_query_sums.data() + r * dn + d),
                                             _mm512_loadu_ps(d_query_sums.data() + (32 + r) * dn + d));
          _mm256_mask_storeu_epi16(d_query + (ib + r) * depth + d, first16(depth - d),
                                   (__m256i)_mm512_cvtneps_pbh(total));
        }
      // dKᵀ += Qᵀ · dS and dVᵀ += dOᵀ · P over this block's 32 queries.
      for (int64_t db = 0; db < dn; db += 16) {
        _tile_loadd(4, q_columns.data() + db * lq + ib, lq * 2);
        _tile_loadd(5, d_out_columns.data() + db * lq + ib, lq * 2);
        for (int64_t jb = 0; jb < kp; jb += 32) {
          float* keys_t = d_keys_t.data() + db * kp + jb;
          float* values_t = d_values_t.data() + db * kp + jb;
          _tile_loadd(0, keys_t, kp * 4);
          _tile_loadd(1, keys_t + 16, kp * 4);
          _tile_loadd(2, values_t, kp * 4);
          _tile_loadd(3, values_t + 16, kp * 4);
          _tile_loadd(6, ds_pairs.data() + jb, kp * 4);
          _tile_loadd(7, ds_pairs.data() + jb + 16, kp * 4);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          _tile_loadd(6, p_pairs.data() + jb, kp * 4);
          _tile_loadd(7, p_pairs.data() + jb + 16, kp * 4);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
          _tile_stored(0, keys_t, kp * 4);
          _tile_stored(1, keys_t + 16, kp * 4);
          _tile_stored(2, values_t, kp * 4);
          _tile_stored(3, values_t + 16, kp * 4);
        }
      }
    }
    _tile_release();
    for (int64_t j = 0; j < keys; ++j)
      for (int64_t d = 0; d < depth; ++d) {
        store(d_keys_t[d * kp + j], d_key + j * depth + d);
        store(d_values_t[d * kp + j], d_value + j * depth + d);
      }
  }
};
#else
// Never made without AMX; defined (empty) so that Workspace's unique_ptr members are complete
// types, which their destructor needs, in every build.
struct AmxForward {};
struct AmxBackward {};
#endif  // TFPROT_AMX

Workspace::Workspace(Element element, int64_t queries, int64_t keys, int64_t depth)
    : element_(element),
      queries_(queries),
      keys_(keys),
      depth_(depth),
      kp_(round_up(keys, 16)),
      dp_(round_up(depth, 16)),
      in_place_(element == Element::kFloat32 && depth == dp_),
      kt_(depth * kp_, 0.0f),
      vr_(kp_ * dp_, 0.0f),
      mask_(kp_, -INFINITY),
      rows_(in_place_ ? 0 : queries * dp_, 0.0f),
      out_(in_place_ ? 0 : queries * dp_, 0.0f),
      scores_(kRowsMax * kp_, 0.0f) {
#ifdef TFPROT_AMX
  if (element == Element::kBfloat16 && depth <= 64 && amx_permitted())
    amx_ = std::make_unique<AmxForward>(queries, keys, depth);
#endif
}

Workspace::~Workspace() = default;

template <typename S>
void Workspace::load_keys_values(const S* key, const S* value, const float* mask, bool backward) {
  const int64_t kp = kp_, dp = dp_, depth = depth_;
  for (int64_t j = 0; j < keys_; ++j)
    for (int64_t d = 0; d < depth; ++d) {
      kt_[d * kp + j] = to_float(key[j * depth + d]);
      if (backward) vt_[d * kp + j] = to_float(value[j * depth + d]);
    }
  // Rows: the values (and, for the gradient, the keys); padded keys stay zero rows.
  if (std::is_same_v<S, float> && in_place_) {
    std::memcpy(vr_.data(), value, keys_ * depth * sizeof(float));
    if (backward) std::memcpy(kr_.data(), key, keys_ * depth * sizeof(float));
  } else {
    for (int64_t j = 0; j < keys_; ++j)
      for (int64_t d = 0; d < depth; ++d) {
        vr_[j * dp + d] = to_float(value[j * depth + d]);
        if (backward) kr_[j * dp + d] = to_float(key[j * depth + d]);
      }
  }
  std::memcpy(mask_.data(), mask, keys_ * sizeof(float));
}

// Rows ([queries, depth]) as float32 rows of stride dp: the input itself where it is that
// already (in_place_), otherwise converted and padded into `rows`.
template <typename S>
const float* Workspace::load_rows(const S* in, Aligned<float>& rows) {
  if constexpr (std::is_same_v<S, float>)
    if (in_place_) return in;
  const int64_t dp = dp_, depth = depth_;
  for (int64_t i = 0; i < queries_; ++i)
    for (int64_t d = 0; d < depth; ++d) rows[i * dp + d] = to_float(in[i * depth + d]);
  return rows.data();
}

// Where float32 output rows of stride dp are written: the output itself where it is that
// (in_place_), otherwise `rows`, which store_rows then converts and unpads.
template <typename S>
float* Workspace::output_rows(S* out, Aligned<float>& rows) {
  if constexpr (std::is_same_v<S, float>)
    if (in_place_) return out;
  return rows.data();
}

template <typename S>
void Workspace::forward_typed(const S* query, const S* key, const S* value, const float* mask,
                              S* out, float* lse) {
#ifdef TFPROT_AMX
  if constexpr (std::is_same_v<S, uint16_t>) {
    if (amx_) {
      amx_->run(query, key, value, mask, out, lse);
      return;
    }
  }
#endif
  load_keys_values(key, value, mask, false);
  const float* queries = load_rows(query, rows_);
  float* results = output_rows(out, out_);
  const HeadView head{depth_, kp_, dp_, kt_.data(), nullptr, nullptr, vr_.data(), mask_.data()};
  bool done = false;
#ifdef TFPROT_BLOCKED
  done = dispatch_depth(dp_, [&](auto dc) {
    forward_head<decltype(dc)::value>(head, queries, queries_, scores_.data(), results, lse);
  });
#endif
  if (!done)
    for (int64_t i = 0; i < queries_; ++i)
      forward_row_portable(head, queries + i * dp_, scores_.data(), results + i * dp_, lse + i);
  if (!in_place_) store_rows(results, queries_, depth_, dp_, out);
}

template <typename S>
void Workspace::backward_typed(const S* query, const S* key, const S* value, const float* mask,
                               const S* out, const float* lse, const S* d_out, S* d_query,
                               S* d_key, S* d_value) {
#ifdef TFPROT_AMX
  if constexpr (std::is_same_v<S, uint16_t>) {
    if (amx_) {
      if (!amx_backward_) amx_backward_ = std::make_unique<AmxBackward>(queries_, keys_, depth_);
      amx_backward_->run(query, key, value, mask, out, lse, d_out, d_query, d_key, d_value);
      return;
    }
  }
#endif
  if (vt_.empty()) {  // first backward pass with this workspace
    vt_.assign(depth_ * kp_, 0.0f);
    kr_.assign(kp_ * dp_, 0.0f);
    if (!in_place_) {
      d_out_.assign(queries_ * dp_, 0.0f);
      d_rows_.assign(queries_ * dp_, 0.0f);
    }
    delta_.assign(queries_, 0.0f);
    d_scores_.assign(kRowsMax * kp_, 0.0f);
    d_keys_.assign(kp_ * dp_, 0.0f);
    d_values_.assign(kp_ * dp_, 0.0f);
  }
  load_keys_values(key, value, mask, true);
  const float* queries = load_rows(query, rows_);
  const float* d_outs = load_rows(d_out, d_out_);
  const float* outs = load_rows(out, out_);
  float* d_queries = output_rows(d_query, d_rows_);
  // rowsum(dP ∘ P) = rowsum(dO ∘ O), as FlashAttention computes it.
  for (int64_t i = 0; i < queries_; ++i) delta_[i] = dot(d_outs + i * dp_, outs + i * dp_, dp_);
  std::fill(d_keys_.begin(), d_keys_.end(), 0.0f);
  std::fill(d_values_.begin(), d_values_.end(), 0.0f);
  const HeadView head{depth_, kp_, dp_, kt_.data(), vt_.data(), kr_.data(), vr_.data(),
                      mask_.data()};
  bool done = false;
#ifdef TFPROT_BLOCKED
  done = dispatch_depth(dp_, [&](auto dc) {
    backward_head<decltype(dc)::value>(head, queries, d_outs, delta_.data(), lse, queries_,
                                       scores_.data(), d_scores_.data(), d_queries,
                                       d_keys_.data(), d_values_.data());
  });
#endif
  if (!done)
    for (int64_t i = 0; i < queries_; ++i)
      backward_row_portable(head, queries + i * dp_, d_outs + i * dp_, delta_[i], lse[i],
                            scores_.data(), d_scores_.data(), d_queries + i * dp_,
                            d_keys_.data(), d_values_.data());
  if (!in_place_) store_rows(d_queries, queries_, depth_, dp_, d_query);
  store_rows(d_keys_.data(), keys_, depth_, dp_, d_key);
  store_rows(d_values_.data(), keys_, depth_, dp_, d_value);
}

void Workspace::forward(const void* query, const void* key, const void* value, const float* mask,
                        void* out, float* lse) {
  if (element_ == Element::kFloat32)
    forward_typed(static_cast<const float*>(query), static_cast<const float*>(key),
                  static_cast<const float*>(value), mask, static_cast<float*>(out), lse);
  else
    forward_typed(static_cast<const uint16_t*>(query), static_cast<const uint16_t*>(key),
                  static_cast<const uint16_t*>(value), mask, static_cast<uint16_t*>(out), lse);
}

void Workspace::backward(const void* query, const void* key, const void* value, const float* mask,
                         const void* out, const float* lse, const void* d_out, void* d_query,
                         void* d_key, void* d_value) {
  if (element_ == Element::kFloat32)
    backward_typed(static_cast<const float*>(query), static_cast<const float*>(key),
                   static_cast<const float*>(value), mask, static_cast<const float*>(out), lse,
                   static_cast<const float*>(d_out), static_cast<float*>(d_query),
                   static_cast<float*>(d_key), static_cast<float*>(d_value));
  else
    backward_typed(static_cast<const uint16_t*>(query), static_cast<const uint16_t*>(key),
                   static_cast<const uint16_t*>(value), mask, static_cast<const uint16_t*>(out),
                   lse, static_cast<const uint16_t*>(d_out), static_cast<uint16_t*>(d_query),
                   static_cast<uint16_t*>(d_key), static_cast<uint16_t*>(d_value));
}

// -- GELU --------------------------------------------------------------------------------------

namespace {

// Φ(x) (the normal CDF) and φ(x) (its density) from one exp: Φ(x) = erfc(-x/√2)/2 with
// Abramowitz and Stegun's 7.1.26 for erfc(|z|) (absolute error below 1.5e-7, relative accuracy in
// the tails), φ(x) = exp(-x²/2)/√(2π).
inline void normal_cdf_density(float x, float& cdf, float& density) {
  const float z = std::fabs(x) * 0.7071067811865476f;
  const float t = 1.0f / (1.0f + 0.3275911f * z);
  const float poly =
      t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
  const float gauss = exp_nonpositive(-0.5f * x * x);
  const float tail = 0.5f * poly * gauss;  // Φ(-|x|)
  cdf = x < 0.0f ? tail : 1.0f - tail;
  density = gauss * 0.3989422804014327f;
}

#ifdef TFPROT_AVX512
inline void normal_cdf_density(__m512 x, __m512& cdf, __m512& density) {
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.7071067811865476f));
  const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                                 _mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 poly = _mm512_set1_ps(1.061405429f);
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-1.453152027f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
  poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
  poly = _mm512_mul_ps(poly, t);
  const __m512 gauss = exp512_nonpositive(_mm512_mul_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(-0.5f)));
  const __m512 tail = _mm512_mul_ps(_mm512_mul_ps(poly, gauss), _mm512_set1_ps(0.5f));
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  cdf = _mm512_mask_mov_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), tail), negative, tail);
  density = _mm512_mul_ps(gauss, _mm512_set1_ps(0.3989422804014327f));
}

inline __m512 load16(const float* in, __mmask16 take) { return _mm512_maskz_loadu_ps(take, in); }
inline __m512 load16(const uint16_t* in, __mmask16 take) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(take, in)), 16));
}
inline void store16(__m512 x, float* out, __mmask16 take) { _mm512_mask_storeu_ps(out, take, x); }
inline void store16(__m512 x, uint16_t* out, __mmask16 take) {  // round to nearest even
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512i result = _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(bits, _mm512_set1_epi32(0x400000)));
  _mm256_mask_storeu_epi16(out, take, _mm512_cvtepi32_epi16(_mm512_srli_epi32(result, 16)));
}
#endif  // TFPROT_AVX512

template <typename S>
void gelu_forward_typed(const S* x, S* y, int64_t count) {
  int64_t i = 0;
#ifdef TFPROT_AVX512
  for (; i < count; i += 16) {
    const __mmask16 take = first16(count - i);
    const __m512 v = load16(x + i, take);
    __m512 cdf, density;
    normal_cdf_density(v, cdf, density);
    store16(_mm512_mul_ps(v, cdf), y + i, take);
  }
#endif
#pragma omp simd
  for (int64_t j = i; j < count; ++j) {
    const float v = to_float(x[j]);
    float cdf, density;
    normal_cdf_density(v, cdf, density);
    store(v * cdf, y + j);
  }
}

template <typename S>
void gelu_backward_typed(const S* x, const S* dy, S* dx, int64_t count) {
  int64_t i = 0;
#ifdef TFPROT_AVX512
  for (; i < count; i += 16) {
    const __mmask16 take = first16(count - i);
    const __m512 v = load16(x + i, take);
    __m512 cdf, density;
    normal_cdf_density(v, cdf, density);
    store16(_mm512_mul_ps(load16(dy + i, take), _mm512_fmadd_ps(v, density, cdf)), dx + i, take);
  }
#endif
#pragma omp simd
  for (int64_t j = i; j < count; ++j) {
    const float v = to_float(x[j]);
    float cdf, density;
    normal_cdf_density(v, cdf, density);
    store(to_float(dy[j]) * (cdf + v * density), dx + j);
  }
}

}  // namespace

void gelu_forward(Element element, const void* x, void* y, int64_t count) {
  if (element == Element::kFloat32)
    gelu_forward_typed(static_cast<const float*>(x), static_cast<float*>(y), count);
  else
    gelu_forward_typed(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y), count);
}

void gelu_backward(Element element, const void* x, const void* dy, void* dx, int64_t count) {
  if (element == Element::kFloat32)
    gelu_backward_typed(static_cast<const float*>(x), static_cast<const float*>(dy),
                        static_cast<float*>(dx), count);
  else
    gelu_backward_typed(static_cast<const uint16_t*>(x), static_cast<const uint16_t*>(dy),
                        static_cast<uint16_t*>(dx), count);
}

// -- Layer normalisation -------------------------------------------------------------------------

namespace {

template <typename S>
void layer_norm_forward_typed(const S* x, const float* gamma, const float* beta, float epsilon,
                              int64_t rows, int64_t width, S* y, float* mean, float* rstd) {
  std::vector<float> row(width);
  for (int64_t r = 0; r < rows; ++r) {
    const S* in = x + r * width;
    S* out = y + r * width;
    for (int64_t j = 0; j < width; ++j) row[j] = to_float(in[j]);
    float total = 0.0f;
#pragma omp simd reduction(+ : total)
    for (int64_t j = 0; j < width; ++j) total += row[j];
    const float average = total / width;
    float squares = 0.0f;  // two passes, as tf.nn.moments
#pragma omp simd reduction(+ : squares)
    for (int64_t j = 0; j < width; ++j) squares += (row[j] - average) * (row[j] - average);
    const float inverse = 1.0f / std::sqrt(squares / width + epsilon);
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) row[j] = (row[j] - average) * inverse * gamma[j] + beta[j];
    int64_t j = 0;
#ifdef TFPROT_AVX512
    for (; j < width; j += 16) {
      const __mmask16 take = first16(width - j);
      store16(_mm512_maskz_loadu_ps(take, row.data() + j), out + j, take);
    }
#endif
    for (; j < width; ++j) store(row[j], out + j);
    mean[r] = average;
    rstd[r] = inverse;
  }
}

// Adds this block's rows to d_gamma and d_beta.
template <typename S>
void layer_norm_backward_typed(const S* x, const float* gamma, const float* mean,
                               const float* rstd, const S* dy, int64_t rows, int64_t width, S* dx,
                               float* d_gamma, float* d_beta) {
  std::vector<float> normed(width), g(width), grad(width);
  for (int64_t r = 0; r < rows; ++r) {
    const S* in = x + r * width;
    const S* d_in = dy + r * width;
    for (int64_t j = 0; j < width; ++j) {
      normed[j] = (to_float(in[j]) - mean[r]) * rstd[r];
      grad[j] = to_float(d_in[j]);
    }
    float g_total = 0.0f, gx_total = 0.0f;
#pragma omp simd reduction(+ : g_total, gx_total)
    for (int64_t j = 0; j < width; ++j) {
      g[j] = grad[j] * gamma[j];
      g_total += g[j];
      gx_total += g[j] * normed[j];
      d_gamma[j] += grad[j] * normed[j];
      d_beta[j] += grad[j];
    }
    const float a = g_total / width, b = gx_total / width, inverse = rstd[r];
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) g[j] = inverse * (g[j] - a - normed[j] * b);
    S* out = dx + r * width;
    int64_t j = 0;
#ifdef TFPROT_AVX512
    for (; j < width; j += 16) {
      const __mmask16 take = first16(width - j);
      store16(_mm512_maskz_loadu_ps(take, g.data() + j), out + j, take);
    }
#endif
    for (; j < width; ++j) store(g[j], out + j);
  }
}

}  // namespace

void layer_norm_forward(Element element, const void* x, const float* gamma, const float* beta,
                        float epsilon, int64_t rows, int64_t width, void* y, float* mean,
                        float* rstd) {
  if (element == Element::kFloat32)
    layer_norm_forward_typed(static_cast<const float*>(x), gamma, beta, epsilon, rows, width,
                             static_cast<float*>(y), mean, rstd);
  else
    layer_norm_forward_typed(static_cast<const uint16_t*>(x), gamma, beta, epsilon, rows, width,
                             static_cast<uint16_t*>(y), mean, rstd);
}

void layer_norm_backward(Element element, const void* x, const float* gamma, const float* mean,
                         const float* rstd, const void* dy, int64_t rows, int64_t width, void* dx,
                         float* d_gamma, float* d_beta) {
  if (element == Element::kFloat32)
    layer_norm_backward_typed(static_cast<const float*>(x), gamma, mean, rstd,
                              static_cast<const float*>(dy), rows, width, static_cast<float*>(dx),
                              d_gamma, d_beta);
  else
    layer_norm_backward_typed(static_cast<const uint16_t*>(x), gamma, mean, rstd,
                              static_cast<const uint16_t*>(dy), rows, width,
                              static_cast<uint16_t*>(dx), d_gamma, d_beta);
}

// -- Query, key and value heads (rotary) -------------------------------------------------------

namespace {

// One head's y = x·cos + rotate_half(x)·sin with rotate_half(x) = [−x₂, x₁] (forward), or its
// transpose (the gradient: y₁ = x₁·cos₁ + x₂·sin₂, y₂ = x₂·cos₂ − x₁·sin₁), read from `in` and
// written to `out` in the storage type, float32 arithmetic. Straight from input to output: a
// float32 scratch row written with masked stores and read back narrower (or the reverse) stalls
// on every head, since such loads cannot take their data from the pending stores (measured:
// 2.2 GB/s through the scratch row, float32, one thread of a Xeon without AMX).
template <typename S>
inline void rotate_head(const S* in, const float* c, const float* s, int64_t half,
                        bool transpose, S* out) {
#ifdef TFPROT_AVX512
  for (int64_t d = 0; d < half; d += 16) {
    const __mmask16 take = first16(half - d);
    const __m512 x1 = load16(in + d, take), x2 = load16(in + half + d, take);
    const __m512 c1 = load16(c + d, take), c2 = load16(c + half + d, take);
    const __m512 s1 = load16(s + d, take), s2 = load16(s + half + d, take);
    __m512 y1, y2;
    if (!transpose) {
      y1 = _mm512_sub_ps(_mm512_mul_ps(x1, c1), _mm512_mul_ps(x2, s1));
      y2 = _mm512_add_ps(_mm512_mul_ps(x2, c2), _mm512_mul_ps(x1, s2));
    } else {
      y1 = _mm512_add_ps(_mm512_mul_ps(x1, c1), _mm512_mul_ps(x2, s2));
      y2 = _mm512_sub_ps(_mm512_mul_ps(x2, c2), _mm512_mul_ps(x1, s1));
    }
    store16(y1, out + d, take);
    store16(y2, out + half + d, take);
  }
#else
  if (!transpose) {
#pragma omp simd
    for (int64_t d = 0; d < half; ++d) {
      const float x1 = to_float(in[d]), x2 = to_float(in[d + half]);
      store(x1 * c[d] - x2 * s[d], out + d);
      store(x2 * c[d + half] + x1 * s[d + half], out + d + half);
    }
  } else {
#pragma omp simd
    for (int64_t d = 0; d < half; ++d) {
      const float x1 = to_float(in[d]), x2 = to_float(in[d + half]);
      store(x1 * c[d] + x2 * s[d + half], out + d);
      store(x2 * c[d + half] - x1 * s[d], out + d + half);
    }
  }
#endif
}

// Rows begin..end (b, l) of the QKV projection: their query and key heads rotated
// (rotate_head), values copied. Head by head, so that each output is written in order (a few
// streams through memory instead of three per head).
template <typename S>
void split_heads_typed(const HeadsLayout& layout, const S* qkv, const float* cos,
                       const float* sin, int64_t begin, int64_t end, S* query, S* key, S* value) {
  const int64_t heads = layout.heads, depth = layout.depth, length = layout.length;
  const int64_t width = heads * depth, half = depth / 2;
  for (int64_t first = begin; first < end;) {
    const int64_t b = first / length, last = std::min(end, (b + 1) * length);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t row = first; row < last; ++row) {
        const int64_t l = row % length, at = ((b * heads + h) * length + l) * depth;
        const S* in = qkv + row * 3 * width + h * depth;
        rotate_head(in, cos + l * depth, sin + l * depth, half, false, query + at);
        rotate_head(in + width, cos + l * depth, sin + l * depth, half, false, key + at);
        std::copy(in + 2 * width, in + 2 * width + depth, value + at);
      }
    first = last;
  }
}

// The gradient: head gradients → rows of d_qkv, the rotation transposed.
template <typename S>
void merge_head_gradients_typed(const HeadsLayout& layout, const S* d_query, const S* d_key,
                                const S* d_value, const float* cos, const float* sin,
                                int64_t begin, int64_t end, S* d_qkv) {
  const int64_t heads = layout.heads, depth = layout.depth, length = layout.length;
  const int64_t width = heads * depth, half = depth / 2;
  for (int64_t first = begin; first < end;) {
    const int64_t b = first / length, last = std::min(end, (b + 1) * length);
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t row = first; row < last; ++row) {
        const int64_t l = row % length, at = ((b * heads + h) * length + l) * depth;
        S* out = d_qkv + row * 3 * width + h * depth;
        rotate_head(d_query + at, cos + l * depth, sin + l * depth, half, true, out);
        rotate_head(d_key + at, cos + l * depth, sin + l * depth, half, true, out + width);
        std::copy(d_value + at, d_value + at + depth, out + 2 * width);
      }
    first = last;
  }
}

}  // namespace

void split_heads(Element element, const HeadsLayout& layout, const void* qkv, const float* cos,
                 const float* sin, int64_t begin, int64_t end, void* query, void* key,
                 void* value) {
  if (element == Element::kFloat32)
    split_heads_typed(layout, static_cast<const float*>(qkv), cos, sin, begin, end,
                      static_cast<float*>(query), static_cast<float*>(key),
                      static_cast<float*>(value));
  else
    split_heads_typed(layout, static_cast<const uint16_t*>(qkv), cos, sin, begin, end,
                      static_cast<uint16_t*>(query), static_cast<uint16_t*>(key),
                      static_cast<uint16_t*>(value));
}

void merge_head_gradients(Element element, const HeadsLayout& layout, const void* d_query,
                          const void* d_key, const void* d_value, const float* cos,
                          const float* sin, int64_t begin, int64_t end, void* d_qkv) {
  if (element == Element::kFloat32)
    merge_head_gradients_typed(layout, static_cast<const float*>(d_query),
                               static_cast<const float*>(d_key),
                               static_cast<const float*>(d_value), cos, sin, begin, end,
                               static_cast<float*>(d_qkv));
  else
    merge_head_gradients_typed(layout, static_cast<const uint16_t*>(d_query),
                               static_cast<const uint16_t*>(d_key),
                               static_cast<const uint16_t*>(d_value), cos, sin, begin, end,
                               static_cast<uint16_t*>(d_qkv));
}

}  // namespace tfprot

extern "C" const char* tfprot_cpu_ops_code_path() {
#if defined(TFPROT_AMX)
  return tfprot::amx_permitted() ? "amx-bf16"
                                 : "avx512 (AMX compiled in; Linux refused the tile registers)";
#elif defined(TFPROT_AVX512)
  return "avx512";
#elif defined(TFPROT_AVX2)
  return "avx2";
#else
  return "portable";
#endif
}
