// The arithmetic of tfprot's CPU ops on raw float32 or bfloat16 buffers: attention one (batch,
// head) pair at a time (Workspace), GELU, layer normalisation, and the QKV heads with the rotary
// embedding. The *_op.cc files are TensorFlow's side (tensors, threads). Compiled on its own for
// the CPU's target (-march=native by default; TensorFlow's headers are not, see cpu_ops.py):
// AVX-512 and AMX where the target has them, otherwise portable loops (kernel.cc's opening).
#ifndef TFPROT_MODELS_OPS_KERNEL_H_
#define TFPROT_MODELS_OPS_KERNEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace tfprot {

enum class Element { kFloat32, kBfloat16 };  // bfloat16: the raw 16-bit patterns

// The Element of an op's type attribute T (float or bfloat16).
template <typename T>
constexpr Element element_of() {
  return std::is_same_v<T, float> ? Element::kFloat32 : Element::kBfloat16;
}

// A std::vector whose storage starts on a cache line (64 bytes), so that loads and stores of 16
// floats at multiples of 16 never straddle two lines (malloc aligns to 16 bytes only: measured
// on a 2-core Xeon without AMX, the float32 attention ran 1.02-1.24x faster aligned, head sizes
// 16-64, and its gradient 1.15-1.23x).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t count) {
    return static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* pointer, std::size_t) { ::operator delete(pointer, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};
template <typename T>
using Aligned = std::vector<T, CacheLineAllocator<T>>;

struct AmxForward;   // kernel.cc: the forward pass on AMX tiles (bfloat16)
struct AmxBackward;  // kernel.cc: the gradient on AMX tiles (bfloat16)

// Scratch for one thread, reused head after head (same shape). Keys and values are held in
// float32, padded: keys to `kp` (a multiple of 16; padded keys score -inf, their keys and values
// are 0) and the depth to `dp` (a multiple of 16, zeros).
class Workspace {
 public:
  Workspace(Element element, int64_t queries, int64_t keys, int64_t depth);
  ~Workspace();

  // out = softmax(query·keyᵀ + mask)·value ([queries, depth], the inputs' type); lse [queries]:
  // each row's log-sum-exp (float32). mask: [keys] float32, added to every row's scores.
  void forward(const void* query, const void* key, const void* value, const float* mask,
               void* out, float* lse);

  // The gradient for query, key and value, given the forward pass's out and lse and the output's
  // gradient d_out (all [rows, depth] in the inputs' type).
  void backward(const void* query, const void* key, const void* value, const float* mask,
                const void* out, const float* lse, const void* d_out, void* d_query, void* d_key,
                void* d_value);

 private:
  template <typename S>
  void load_keys_values(const S* key, const S* value, const float* mask, bool backward);
  template <typename S>
  const float* load_rows(const S* in, Aligned<float>& rows);
  template <typename S>
  float* output_rows(S* out, Aligned<float>& rows);
  template <typename S>
  void forward_typed(const S* query, const S* key, const S* value, const float* mask, S* out,
                     float* lse);
  template <typename S>
  void backward_typed(const S* query, const S* key, const S* value, const float* mask,
                      const S* out, const float* lse, const S* d_out, S* d_query, S* d_key,
                      S* d_value);

  Element element_;
  int64_t queries_, keys_, depth_, kp_, dp_;
  // Whether the inputs' rows already are float32 rows of stride dp (float32, the depth a multiple
  // of 16): then queries, outputs and their gradients are read and written in place, not copied.
  bool in_place_;
  Aligned<float> kt_, vt_;  // [depth, kp]: keys and values transposed
  Aligned<float> kr_, vr_;  // [kp, dp]: keys and values as rows
  Aligned<float> mask_;     // [kp]
  Aligned<float> rows_, d_out_, out_, delta_, d_rows_;  // [queries, dp] / [queries]
  Aligned<float> scores_, d_scores_;                    // [rows per block, kp]
  Aligned<float> d_keys_, d_values_;                    // [kp, dp]
  std::unique_ptr<AmxForward> amx_;  // bfloat16 forward passes, where the CPU has AMX
  std::unique_ptr<AmxBackward> amx_backward_;  // and their gradients
};

// ESM's exact GELU, y = x·Φ(x), and its gradient dx = dy·(Φ(x) + x·φ(x)), element-wise over
// `count` values (float32 arithmetic; Φ to 1.5e-7).
void gelu_forward(Element element, const void* x, void* y, int64_t count);
void gelu_backward(Element element, const void* x, const void* dy, void* dx, int64_t count);

// Layer normalisation over the last axis (`width`) of `rows` rows, as Keras computes it in float32
// (two-pass variance): y = (x − mean)·rstd·gamma + beta, rstd = 1/sqrt(var + epsilon).
void layer_norm_forward(Element element, const void* x, const float* gamma, const float* beta,
                        float epsilon, int64_t rows, int64_t width, void* y, float* mean,
                        float* rstd);
// Its gradient: writes dx; adds the rows' terms to d_gamma and d_beta ([width]).
void layer_norm_backward(Element element, const void* x, const float* gamma, const float* mean,
                         const float* rstd, const void* dy, int64_t rows, int64_t width, void* dx,
                         float* d_gamma, float* d_beta);

// The fused QKV projection's rows [batch, length, 3 × heads × depth] and the heads
// [batch, heads, length, depth].
struct HeadsLayout {
  int64_t batch, length, heads, depth;
};

// Rows begin..end (of batch × length) → query and key heads rotated by their rotary position
// embedding (cos, sin [length, depth] float32), value heads copied.
void split_heads(Element element, const HeadsLayout& layout, const void* qkv, const float* cos,
                 const float* sin, int64_t begin, int64_t end, void* query, void* key,
                 void* value);
// The gradient: head gradients → rows of d_qkv, the rotation inverted.
void merge_head_gradients(Element element, const HeadsLayout& layout, const void* d_query,
                          const void* d_key, const void* d_value, const float* cos,
                          const float* sin, int64_t begin, int64_t end, void* d_qkv);

}  // namespace tfprot

// The code path this build takes: "amx-bf16" (AVX-512 and bfloat16 attention products on AMX
// tiles), "avx512", "avx2" (the portable loops vectorised for AVX2) or "portable", then any note
// after a space (read by cpu_ops.py through ctypes).
extern "C" const char* tfprot_cpu_ops_code_path();

#endif  // TFPROT_MODELS_OPS_KERNEL_H_
