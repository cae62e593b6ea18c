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
#include <type_traits>
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
      Workspace workspace(element_of<T>(), Q, K, D);
      for (int64_t unit = begin; unit < end; ++unit)
        workspace.forward(q_all + unit * Q * D, k_all + unit * K * D, v_all + unit * K * D,
                          mask_all + unit / dims.heads * K, out_all + unit * Q * D,
                          lse_all + unit * Q);
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
      Workspace workspace(element_of<T>(), Q, K, D);
      for (int64_t unit = begin; unit < end; ++unit)
        workspace.backward(q_all + unit * Q * D, k_all + unit * K * D, v_all + unit * K * D,
                           mask_all + unit / dims.heads * K, out_all + unit * Q * D,
                           lse_all + unit * Q, dout_all + unit * Q * D, dq_all + unit * Q * D,
                           dk_all + unit * K * D, dv_all + unit * K * D);
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
