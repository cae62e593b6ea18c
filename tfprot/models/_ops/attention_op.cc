// Fused CPU attention for tfprot: softmax(query·keyᵀ + mask)·value and its gradient, one head at
// a time, without writing the [queries × keys] scores to memory.
//
// TensorFlow computes attention as four or more kernels (BatchMatMul, mask add, Softmax,
// BatchMatMul), each a full pass over the [batch, heads, queries, keys] scores in memory; at ESM-2
// sizes on a CPU (head size 16-64) those passes, not the multiply-adds, are the time. Here each
// (batch, head) pair is one unit of work on TensorFlow's intra-op thread pool: its keys and values
// are converted to float32 once, and every query row's scores live in a small buffer that stays in
// the L1 cache. The forward pass also returns each row's log-sum-exp, from which the gradient
// recomputes the probabilities (as FlashAttention does) instead of keeping them.
//
// This file is TensorFlow's side (inputs, threads, outputs); the arithmetic is in kernel.cc.
//
// The mask is [batch, keys] (transformers' extended mask [batch, 1, 1, keys], reshaped): added to
// every query row's scores.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "kernel.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace tfprot {
namespace {

using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;

inline float dot(const float* a, const float* b, int64_t count) {
  float total = 0.0f;
  for (int64_t j = 0; j < count; ++j) total += a[j] * b[j];
  return total;
}

struct Dims {
  int64_t batch, heads, queries, keys, depth;
};

Dims dims_of(OpKernelContext* context) {
  const Tensor& query = context->input(0);
  const Tensor& key = context->input(1);
  return {query.dim_size(0), query.dim_size(1), query.dim_size(2), key.dim_size(2),
          query.dim_size(3)};
}

void check_inputs(OpKernelContext* context) {
  const Tensor& query = context->input(0);
  const Tensor& key = context->input(1);
  const Tensor& value = context->input(2);
  const Tensor& mask = context->input(3);
  OP_REQUIRES(context, query.dims() == 4 && key.dims() == 4 && value.dims() == 4,
              absl::InvalidArgumentError("query, key and value must be [batch, heads, length, depth]"));
  OP_REQUIRES(context, key.shape() == value.shape(),
              absl::InvalidArgumentError("key and value must have the same shape"));
  OP_REQUIRES(context,
              query.dim_size(0) == key.dim_size(0) && query.dim_size(1) == key.dim_size(1) &&
                  query.dim_size(3) == key.dim_size(3),
              absl::InvalidArgumentError("query and key differ in batch, heads or depth"));
  OP_REQUIRES(context,
              mask.dims() == 2 && mask.dim_size(0) == key.dim_size(0) &&
                  mask.dim_size(1) == key.dim_size(2),
              absl::InvalidArgumentError("mask must be [batch, keys]"));
  OP_REQUIRES(context, key.dim_size(2) > 0, absl::InvalidArgumentError("no keys"));
}

void parallel_heads(OpKernelContext* context, const Dims& dims,
                    const std::function<void(int64_t, int64_t)>& work) {
  auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t cost = dims.queries * dims.keys * dims.depth * 8;
  pool->ParallelFor(dims.batch * dims.heads, cost, work);
}

inline int64_t round_up(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// One head's inputs in float32, padded: keys to a multiple of 16 (`kp`: padded keys score -inf,
// their values and keys are 0) and the depth to a multiple of 16 (`dp`).
struct Head {
  int64_t keys, depth, kp, dp;
  std::vector<float> kt, vt;      // [depth, kp]: keys and values transposed
  std::vector<float> kr, vr;      // [kp, dp]: keys and values as rows
  std::vector<float> mask;        // [kp]

  Head(int64_t keys, int64_t depth)
      : keys(keys), depth(depth), kp(round_up(keys, 16)), dp(round_up(depth, 16)),
        kt(depth * kp, 0.0f), vt(depth * kp, 0.0f), kr(kp * dp, 0.0f), vr(kp * dp, 0.0f),
        mask(kp, -INFINITY) {}

  HeadBuffers view() const {
    return {keys, depth, kp, dp, kt.data(), vt.data(), kr.data(), vr.data(), mask.data()};
  }

  template <typename T>
  void load(const T* key, const T* value, const float* mask_row, bool transposed_values) {
    for (int64_t j = 0; j < keys; ++j)
      for (int64_t d = 0; d < depth; ++d) {
        const float k = static_cast<float>(key[j * depth + d]);
        const float v = static_cast<float>(value[j * depth + d]);
        kt[d * kp + j] = k;
        kr[j * dp + d] = k;
        vr[j * dp + d] = v;
        if (transposed_values) vt[d * kp + j] = v;
      }
    std::memcpy(mask.data(), mask_row, keys * sizeof(float));
  }
};

// Rows of queries (or output gradients) in float32, padded to `dp` with zeros.
template <typename T>
inline void load_rows(const T* in, int64_t rows, int64_t depth, int64_t dp, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < dp; ++d) out[r * dp + d] = d < depth ? static_cast<float>(in[r * depth + d]) : 0.0f;
}

template <typename T>
class AttentionOp : public OpKernel {
 public:
  explicit AttentionOp(OpKernelConstruction* construction) : OpKernel(construction) {}

  void Compute(OpKernelContext* context) override {
    check_inputs(context);
    if (!context->status().ok()) return;
    const Dims dims = dims_of(context);
    const Tensor& query = context->input(0);
    Tensor* output = nullptr;
    Tensor* logsumexp = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, query.shape(), &output));
    OP_REQUIRES_OK(context,
                   context->allocate_output(
                       1, TensorShape({dims.batch, dims.heads, dims.queries}), &logsumexp));
    const T* q_all = query.flat<T>().data();
    const T* k_all = context->input(1).flat<T>().data();
    const T* v_all = context->input(2).flat<T>().data();
    const float* mask_all = context->input(3).flat<float>().data();
    T* out_all = output->flat<T>().data();
    float* lse_all = logsumexp->flat<float>().data();
    const int64_t Q = dims.queries, K = dims.keys, D = dims.depth;

    parallel_heads(context, dims, [&](int64_t begin, int64_t end) {
      Head head(K, D);
      const int64_t dp = head.dp;
      std::vector<float> queries(Q * dp), out(Q * dp), scores(kScratchRows * head.kp);
      for (int64_t unit = begin; unit < end; ++unit) {
        head.load(k_all + unit * K * D, v_all + unit * K * D, mask_all + unit / dims.heads * K,
                  false);
        load_rows(q_all + unit * Q * D, Q, D, dp, queries.data());
        float* lse = lse_all + unit * Q;
        attention_forward_head(head.view(), queries.data(), Q, scores.data(), out.data(), lse);
        T* out_head = out_all + unit * Q * D;
        for (int64_t i = 0; i < Q; ++i)
          for (int64_t d = 0; d < D; ++d) out_head[i * D + d] = static_cast<T>(out[i * dp + d]);
      }
    });
  }
};

template <typename T>
class AttentionGradOp : public OpKernel {
 public:
  explicit AttentionGradOp(OpKernelConstruction* construction) : OpKernel(construction) {}

  void Compute(OpKernelContext* context) override {
    check_inputs(context);
    if (!context->status().ok()) return;
    const Dims dims = dims_of(context);
    const Tensor& query = context->input(0);
    const Tensor& key = context->input(1);
    Tensor *d_query = nullptr, *d_key = nullptr, *d_value = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, query.shape(), &d_query));
    OP_REQUIRES_OK(context, context->allocate_output(1, key.shape(), &d_key));
    OP_REQUIRES_OK(context, context->allocate_output(2, key.shape(), &d_value));
    const T* q_all = query.flat<T>().data();
    const T* k_all = key.flat<T>().data();
    const T* v_all = context->input(2).flat<T>().data();
    const float* mask_all = context->input(3).flat<float>().data();
    const T* out_all = context->input(4).flat<T>().data();
    const float* lse_all = context->input(5).flat<float>().data();
    const T* dout_all = context->input(6).flat<T>().data();
    T* dq_all = d_query->flat<T>().data();
    T* dk_all = d_key->flat<T>().data();
    T* dv_all = d_value->flat<T>().data();
    const int64_t Q = dims.queries, K = dims.keys, D = dims.depth;

    parallel_heads(context, dims, [&](int64_t begin, int64_t end) {
      Head head(K, D);
      const int64_t dp = head.dp, kp = head.kp;
      std::vector<float> queries(Q * dp), d_out(Q * dp), out(Q * dp), delta(Q), d_queries(Q * dp);
      std::vector<float> probabilities(kScratchRows * kp), d_scores(kScratchRows * kp), d_keys(kp * dp), d_values(kp * dp);
      for (int64_t unit = begin; unit < end; ++unit) {
        head.load(k_all + unit * K * D, v_all + unit * K * D, mask_all + unit / dims.heads * K,
                  true);
        load_rows(q_all + unit * Q * D, Q, D, dp, queries.data());
        load_rows(dout_all + unit * Q * D, Q, D, dp, d_out.data());
        load_rows(out_all + unit * Q * D, Q, D, dp, out.data());
        // rowsum(dP ∘ P) = rowsum(dO ∘ O), as FlashAttention computes it.
        for (int64_t i = 0; i < Q; ++i) delta[i] = dot(d_out.data() + i * dp, out.data() + i * dp, dp);
        std::fill(d_keys.begin(), d_keys.end(), 0.0f);
        std::fill(d_values.begin(), d_values.end(), 0.0f);
        const float* lse = lse_all + unit * Q;
        attention_backward_head(head.view(), queries.data(), d_out.data(), delta.data(), lse, Q,
                                probabilities.data(), d_scores.data(), d_queries.data(),
                                d_keys.data(), d_values.data());
        T* dq = dq_all + unit * Q * D;
        for (int64_t i = 0; i < Q; ++i)
          for (int64_t d = 0; d < D; ++d) dq[i * D + d] = static_cast<T>(d_queries[i * dp + d]);
        T* dk = dk_all + unit * K * D;
        T* dv = dv_all + unit * K * D;
        for (int64_t j = 0; j < K; ++j)
          for (int64_t d = 0; d < D; ++d) {
            dk[j * D + d] = static_cast<T>(d_keys[j * dp + d]);
            dv[j * D + d] = static_cast<T>(d_values[j * dp + d]);
          }
      }
    });
  }
};

}  // namespace
}  // namespace tfprot

REGISTER_OP("TfprotAttention")
    .Attr("T: {float, bfloat16}")
    .Input("query: T")
    .Input("key: T")
    .Input("value: T")
    .Input("mask: float")
    .Output("context: T")
    .Output("logsumexp: float")
    .SetShapeFn([](tfprot::InferenceContext* c) {
      tfprot::ShapeHandle query;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &query));
      tfprot::ShapeHandle rows;
      TF_RETURN_IF_ERROR(c->Subshape(query, 0, 3, &rows));
      c->set_output(0, query);
      c->set_output(1, rows);
      return absl::OkStatus();
    });

REGISTER_OP("TfprotAttentionGrad")
    .Attr("T: {float, bfloat16}")
    .Input("query: T")
    .Input("key: T")
    .Input("value: T")
    .Input("mask: float")
    .Input("context: T")
    .Input("logsumexp: float")
    .Input("d_context: T")
    .Output("d_query: T")
    .Output("d_key: T")
    .Output("d_value: T")
    .SetShapeFn([](tfprot::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(1));
      c->set_output(2, c->input(2));
      return absl::OkStatus();
    });

#define TFPROT_REGISTER(T)                                                                \
  REGISTER_KERNEL_BUILDER(                                                                \
      Name("TfprotAttention").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),      \
      tfprot::AttentionOp<T>);                                                            \
  REGISTER_KERNEL_BUILDER(                                                                \
      Name("TfprotAttentionGrad").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),  \
      tfprot::AttentionGradOp<T>);

TFPROT_REGISTER(float)
TFPROT_REGISTER(tensorflow::bfloat16)
