// See kernel.h. All arithmetic is float32; the polynomial exp is Cephes' expf (relative error
// below 2e-7), written so that it vectorises.
#include "kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace tfprot {
namespace {

// exp(x) for x <= 0 (scores minus their row's maximum), 0 below -87 (float32's smallest normal).
inline float exp_nonpositive(float x) {
  const float clamped = std::max(x, -87.0f);
  const float n = std::floor(clamped * 1.44269504088896341f + 0.5f);
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
  return x < -87.0f ? 0.0f : y * scale;
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

#ifdef __AVX512F__

inline __m512 exp512_nonpositive(__m512 x) {
  const __m512 clamped = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(
      _mm512_fmadd_ps(clamped, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
      _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), clamped);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __m512 result = _mm512_mul_ps(y, _mm512_castsi512_ps(bits));
  const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  return _mm512_mask_mov_ps(result, under, _mm512_setzero_ps());
}

// out[r, j] = bias[j] + sum_d rows[r, d] · columns[d, j] for R rows (stride dp), j < kp.
template <int R>
inline void row_products(const float* rows, int64_t dp, const float* columns, int64_t depth,
                         int64_t kp, const float* bias, float* out) {
  int64_t j = 0;
  for (; j + 32 <= kp; j += 32) {
    __m512 a[R], b[R];
    for (int r = 0; r < R; ++r) {
      a[r] = bias ? _mm512_loadu_ps(bias + j) : _mm512_setzero_ps();
      b[r] = bias ? _mm512_loadu_ps(bias + j + 16) : _mm512_setzero_ps();
    }
    for (int64_t d = 0; d < depth; ++d) {
      const __m512 c0 = _mm512_loadu_ps(columns + d * kp + j);
      const __m512 c1 = _mm512_loadu_ps(columns + d * kp + j + 16);
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(rows[r * dp + d]);
        a[r] = _mm512_fmadd_ps(x, c0, a[r]);
        b[r] = _mm512_fmadd_ps(x, c1, b[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(out + r * kp + j, a[r]);
      _mm512_storeu_ps(out + r * kp + j + 16, b[r]);
    }
  }
  for (; j < kp; j += 16) {
    __m512 a[R];
    for (int r = 0; r < R; ++r) a[r] = bias ? _mm512_loadu_ps(bias + j) : _mm512_setzero_ps();
    for (int64_t d = 0; d < depth; ++d) {
      const __m512 c0 = _mm512_loadu_ps(columns + d * kp + j);
      for (int r = 0; r < R; ++r) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(rows[r * dp + d]), c0, a[r]);
    }
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(out + r * kp + j, a[r]);
  }
}

// out[r, :] = sum_j weights[r, j] · table[j, :] for R rows; table is [kp, 16·DC].
template <int R, int DC>
inline void weighted_rows(const float* weights, int64_t kp, const float* table, float* out) {
  constexpr int Split = R * DC < 8 ? 2 : 1;
  __m512 acc[Split][R][DC];
  for (int s = 0; s < Split; ++s)
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < DC; ++c) acc[s][r][c] = _mm512_setzero_ps();
  for (int64_t j = 0; j < kp; j += Split) {
    for (int s = 0; s < Split; ++s) {
      __m512 t[DC];
      for (int c = 0; c < DC; ++c) t[c] = _mm512_loadu_ps(table + (j + s) * DC * 16 + c * 16);
      for (int r = 0; r < R; ++r) {
        const __m512 w = _mm512_set1_ps(weights[r * kp + j + s]);
        for (int c = 0; c < DC; ++c) acc[s][r][c] = _mm512_fmadd_ps(w, t[c], acc[s][r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < DC; ++c) {
      __m512 total = acc[0][r][c];
      for (int s = 1; s < Split; ++s) total = _mm512_add_ps(total, acc[s][r][c]);
      _mm512_storeu_ps(out + r * DC * 16 + c * 16, total);
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
  __m512 q[R][DC], o[R][DC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < DC; ++c) {
      q[r][c] = _mm512_loadu_ps(queries + r * DC * 16 + c * 16);
      o[r][c] = _mm512_loadu_ps(d_out + r * DC * 16 + c * 16);
    }
  for (int64_t j = 0; j < kp; ++j) {
    for (int c = 0; c < DC; ++c) {
      __m512 k_sum, v_sum;
      if constexpr (R == 1) {
        k_sum = _mm512_mul_ps(_mm512_set1_ps(d_scores[j]), q[0][c]);
        v_sum = _mm512_mul_ps(_mm512_set1_ps(probabilities[j]), o[0][c]);
      } else {
        __m512 k_pair[R / 2], v_pair[R / 2];
        for (int r = 0; r < R; r += 2) {
          k_pair[r / 2] = _mm512_fmadd_ps(
              _mm512_set1_ps(d_scores[(r + 1) * kp + j]), q[r + 1][c],
              _mm512_mul_ps(_mm512_set1_ps(d_scores[r * kp + j]), q[r][c]));
          v_pair[r / 2] = _mm512_fmadd_ps(
              _mm512_set1_ps(probabilities[(r + 1) * kp + j]), o[r + 1][c],
              _mm512_mul_ps(_mm512_set1_ps(probabilities[r * kp + j]), o[r][c]));
        }
        for (int width = R / 2; width > 1; width /= 2)
          for (int p = 0; p < width / 2; ++p) {
            k_pair[p] = _mm512_add_ps(k_pair[2 * p], k_pair[2 * p + 1]);
            v_pair[p] = _mm512_add_ps(v_pair[2 * p], v_pair[2 * p + 1]);
          }
        k_sum = k_pair[0];
        v_sum = v_pair[0];
      }
      float* k_row = keys + j * DC * 16 + c * 16;
      float* v_row = values + j * DC * 16 + c * 16;
      _mm512_storeu_ps(k_row, _mm512_add_ps(_mm512_loadu_ps(k_row), k_sum));
      _mm512_storeu_ps(v_row, _mm512_add_ps(_mm512_loadu_ps(v_row), v_sum));
    }
  }
}

inline float reduce_max(const float* v, int64_t n) {
  __m512 best = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 16) best = _mm512_max_ps(best, _mm512_loadu_ps(v + j));
  return _mm512_reduce_max_ps(best);
}

// v ← exp(v − shift); returns the sum.
inline float exp_in_place(float* v, int64_t n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 total = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __m512 e = exp512_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(v + j), s));
    _mm512_storeu_ps(v + j, e);
    total = _mm512_add_ps(total, e);
  }
  return _mm512_reduce_add_ps(total);
}

// Forward pass of R query rows of one head: out [R, dp] (normalised), lse [R].
template <int R, int DC>
inline void forward_rows(const HeadBuffers& head, const float* queries, float* scores, float* out,
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
inline void backward_rows(const HeadBuffers& head, const float* queries, const float* d_out,
                          const float* delta, const float* lse, float* probabilities,
                          float* d_scores, float* d_queries, float* d_keys, float* d_values) {
  const int64_t kp = head.kp;
  row_products<R>(queries, head.dp, head.kt, head.depth, kp, head.mask, probabilities);
  for (int r = 0; r < R; ++r) exp_in_place(probabilities + r * kp, kp, lse[r]);
  row_products<R>(d_out, head.dp, head.vt, head.depth, kp, nullptr, d_scores);
  for (int r = 0; r < R; ++r) {
    const __m512 dr = _mm512_set1_ps(delta[r]);
    for (int64_t j = 0; j < kp; j += 16) {
      const __m512 p = _mm512_loadu_ps(probabilities + r * kp + j);
      const __m512 g = _mm512_loadu_ps(d_scores + r * kp + j);
      _mm512_storeu_ps(d_scores + r * kp + j, _mm512_mul_ps(p, _mm512_sub_ps(g, dr)));
    }
  }
  weighted_rows<R, DC>(d_scores, kp, head.kr, d_queries);
  accumulate_keys_values<R, DC>(d_scores, probabilities, kp, queries, d_out, d_keys, d_values);
}

// Rows per block: more rows reuse each loaded key more often, within the 32 vector registers.
template <int DC>
constexpr int kRows = DC == 1 ? 8 : 4;

template <int DC>
void forward_head(const HeadBuffers& head, const float* queries, int64_t count, float* scores,
                  float* out, float* lse) {
  const int64_t dp = head.dp;
  constexpr int R = kRows<DC>;
  int64_t i = 0;
  for (; i + R <= count; i += R)
    forward_rows<R, DC>(head, queries + i * dp, scores, out + i * dp, lse + i);
  for (; i < count; ++i) forward_rows<1, DC>(head, queries + i * dp, scores, out + i * dp, lse + i);
}

template <int DC>
void backward_head(const HeadBuffers& head, const float* queries, const float* d_out,
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

#endif  // __AVX512F__

// Portable path (any CPU, any depth): one query row at a time, loops the compiler vectorises.
void forward_row_portable(const HeadBuffers& head, const float* query, float* scores, float* out,
                          float* lse) {
  const int64_t kp = head.kp, depth = head.depth;
  row_scores(query, head.kt, head.mask, depth, kp, scores);
  const float shift = row_max(scores, kp);
  const float total = exp_shifted(scores, kp, shift);
  for (int64_t d = 0; d < head.dp; ++d) out[d] = 0.0f;
  for (int64_t j = 0; j < kp; ++j) axpy(scores[j] / total, head.vr + j * head.dp, depth, out);
  *lse = shift + std::log(total);
}

void backward_row_portable(const HeadBuffers& head, const float* query, const float* d_out, float delta,
                           float lse, float* probabilities, float* d_scores, float* d_query,
                           float* d_keys, float* d_values) {
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

}  // namespace

void attention_forward_head(const HeadBuffers& head, const float* queries, int64_t count,
                            float* scores, float* out, float* lse) {
#ifdef __AVX512F__
  if (dispatch_depth(head.dp, [&](auto dc) {
        forward_head<decltype(dc)::value>(head, queries, count, scores, out, lse);
      }))
    return;
#endif
  for (int64_t i = 0; i < count; ++i)
    forward_row_portable(head, queries + i * head.dp, scores, out + i * head.dp, lse + i);
}

void attention_backward_head(const HeadBuffers& head, const float* queries, const float* d_out,
                             const float* delta, const float* lse, int64_t count,
                             float* probabilities, float* d_scores, float* d_queries,
                             float* d_keys, float* d_values) {
#ifdef __AVX512F__
  if (dispatch_depth(head.dp, [&](auto dc) {
        backward_head<decltype(dc)::value>(head, queries, d_out, delta, lse, count, probabilities,
                                           d_scores, d_queries, d_keys, d_values);
      }))
    return;
#endif
  const int64_t dp = head.dp;
  for (int64_t i = 0; i < count; ++i)
    backward_row_portable(head, queries + i * dp, d_out + i * dp, delta[i], lse[i], probabilities,
                          d_scores, d_queries + i * dp, d_keys, d_values);
}

}  // namespace tfprot

extern "C" const char* tfprot_attention_kernel_isa() {
#ifdef __AVX512F__
  return "avx512";
#else
  return "portable";
#endif
}
