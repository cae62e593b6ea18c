// Query, key and value heads for tfprot on CPUs: the fused QKV projection's rows [batch, length,
// 3 × heads × depth] → query, key, value [batch, heads, length, depth], the query and key rotated
// by their rotary position embedding (in float32), and the gradient back. One pass through memory
// each way, where TensorFlow takes a split, a reshape, the rotation's slices, negation, concat and
// products, and two transposes (and as many again for the gradient).

#include <algorithm>
#include <type_traits>

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

template <typename T>
class HeadsOp : public OpKernel {
 public:
  explicit HeadsOp(OpKernelConstruction* construction) : OpKernel(construction) {
    OP_REQUIRES_OK(construction, construction->GetAttr("heads", &heads_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& qkv = context->input(0);
    const Tensor& cos = context->input(1);
    const Tensor& sin = context->input(2);
    OP_REQUIRES(context, qkv.dims() == 3 && qkv.dim_size(2) % (3 * heads_) == 0,
                absl::InvalidArgumentError("qkv must be [batch, length, 3 × heads × depth]"));
    const int64_t batch = qkv.dim_size(0), length = qkv.dim_size(1);
    const int64_t depth = qkv.dim_size(2) / (3 * heads_);
    OP_REQUIRES(context, depth % 2 == 0 && cos.dims() == 2 && cos.dim_size(0) == length &&
                             cos.dim_size(1) == depth && sin.shape() == cos.shape(),
                absl::InvalidArgumentError("cos and sin must be [length, depth], depth even"));
    const TensorShape shape({batch, heads_, length, depth});
    Tensor *query = nullptr, *key = nullptr, *value = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, shape, &query));
    OP_REQUIRES_OK(context, context->allocate_output(1, shape, &key));
    OP_REQUIRES_OK(context, context->allocate_output(2, shape, &value));
    const HeadsLayout layout{batch, length, heads_, depth};
    auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
    pool->ParallelFor(batch * length, 3 * heads_ * depth * 6, [&](int64_t begin, int64_t end) {
      split_heads(element_of<T>(), layout, qkv.flat<T>().data(), cos.flat<float>().data(),
                  sin.flat<float>().data(), begin, end, query->flat<T>().data(),
                  key->flat<T>().data(), value->flat<T>().data());
    });
  }

 private:
  int heads_;
};

template <typename T>
class HeadsGradOp : public OpKernel {
 public:
  explicit HeadsGradOp(OpKernelConstruction* construction) : OpKernel(construction) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& d_query = context->input(0);
    const Tensor& d_key = context->input(1);
    const Tensor& d_value = context->input(2);
    const Tensor& cos = context->input(3);
    const Tensor& sin = context->input(4);
    OP_REQUIRES(context, d_query.dims() == 4 && d_key.shape() == d_query.shape() &&
                             d_value.shape() == d_query.shape(),
                absl::InvalidArgumentError("gradients must be [batch, heads, length, depth]"));
    const int64_t batch = d_query.dim_size(0), heads = d_query.dim_size(1);
    const int64_t length = d_query.dim_size(2), depth = d_query.dim_size(3);
    OP_REQUIRES(context, cos.dims() == 2 && cos.dim_size(0) == length &&
                             cos.dim_size(1) == depth && sin.shape() == cos.shape(),
                absl::InvalidArgumentError("cos and sin must be [length, depth]"));
    Tensor* d_qkv = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(
                                0, TensorShape({batch, length, 3 * heads * depth}), &d_qkv));
    const HeadsLayout layout{batch, length, heads, depth};
    auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
    pool->ParallelFor(batch * length, 3 * heads * depth * 6, [&](int64_t begin, int64_t end) {
      merge_head_gradients(element_of<T>(), layout, d_query.flat<T>().data(),
                           d_key.flat<T>().data(), d_value.flat<T>().data(),
                           cos.flat<float>().data(), sin.flat<float>().data(), begin, end,
                           d_qkv->flat<T>().data());
    });
  }
};

}  // namespace
}  // namespace tfprot

REGISTER_OP("TfprotHeads")
    .Attr("T: {float, bfloat16}")
    .Attr("heads: int >= 1")
    .Input("qkv: T")
    .Input("cos: float")
    .Input("sin: float")
    .Output("query: T")
    .Output("key: T")
    .Output("value: T")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      int heads = 0;
      TF_RETURN_IF_ERROR(c->GetAttr("heads", &heads));
      tensorflow::shape_inference::ShapeHandle qkv;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 3, &qkv));
      tensorflow::shape_inference::DimensionHandle depth;
      TF_RETURN_IF_ERROR(c->Divide(c->Dim(qkv, 2), 3 * heads, true, &depth));
      auto shape = c->MakeShape({c->Dim(qkv, 0), c->MakeDim(heads), c->Dim(qkv, 1), depth});
      c->set_output(0, shape);
      c->set_output(1, shape);
      c->set_output(2, shape);
      return absl::OkStatus();
    });

REGISTER_OP("TfprotHeadsGrad")
    .Attr("T: {float, bfloat16}")
    .Input("d_query: T")
    .Input("d_key: T")
    .Input("d_value: T")
    .Input("cos: float")
    .Input("sin: float")
    .Output("d_qkv: T")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      tensorflow::shape_inference::ShapeHandle gradient;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &gradient));
      tensorflow::shape_inference::DimensionHandle width;
      TF_RETURN_IF_ERROR(c->Multiply(c->Dim(gradient, 1), c->Dim(gradient, 3), &width));
      TF_RETURN_IF_ERROR(c->Multiply(width, 3, &width));
      c->set_output(0, c->MakeShape({c->Dim(gradient, 0), c->Dim(gradient, 2), width}));
      return absl::OkStatus();
    });

#define TFPROT_REGISTER_HEADS(T)                                                          \
  REGISTER_KERNEL_BUILDER(                                                                \
      Name("TfprotHeads").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),          \
      tfprot::HeadsOp<T>);                                                                \
  REGISTER_KERNEL_BUILDER(                                                                \
      Name("TfprotHeadsGrad").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),      \
      tfprot::HeadsGradOp<T>);

TFPROT_REGISTER_HEADS(float)
TFPROT_REGISTER_HEADS(tensorflow::bfloat16)
