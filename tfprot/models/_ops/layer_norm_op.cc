// Layer normalisation over the last axis for tfprot on CPUs, and its gradient: one pass through
// memory each way (Keras' computation from bfloat16 is casts, moments, and batch_normalization's
// products, each a pass, and as many again for the gradient). The arithmetic is in kernel.cc.

#include <algorithm>
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

// Rows and width of x; checks gamma (and beta) are [width].
bool shape_of(OpKernelContext* context, const Tensor& x, const Tensor& gamma, int64_t* rows,
              int64_t* width, TensorShape* row_shape) {
  if (x.dims() < 1 || x.dim_size(x.dims() - 1) == 0) {
    context->CtxFailure(absl::InvalidArgumentError("x must have a non-empty last axis"));
    return false;
  }
  *width = x.dim_size(x.dims() - 1);
  *rows = x.NumElements() / *width;
  if (gamma.dims() != 1 || gamma.dim_size(0) != *width) {
    context->CtxFailure(absl::InvalidArgumentError("gamma and beta must be [width of x]"));
    return false;
  }
  *row_shape = x.shape();
  row_shape->RemoveLastDims(1);
  return true;
}

template <typename T>
class LayerNormOp : public OpKernel {
 public:
  explicit LayerNormOp(OpKernelConstruction* construction) : OpKernel(construction) {
    OP_REQUIRES_OK(construction, construction->GetAttr("epsilon", &epsilon_));
  }

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& gamma = context->input(1);
    const Tensor& beta = context->input(2);
    int64_t rows = 0, width = 0;
    TensorShape row_shape;
    if (!shape_of(context, x, gamma, &rows, &width, &row_shape)) return;
    OP_REQUIRES(context, beta.shape() == gamma.shape(),
                absl::InvalidArgumentError("gamma and beta must be [width of x]"));
    Tensor *y = nullptr, *mean = nullptr, *rstd = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &y));
    OP_REQUIRES_OK(context, context->allocate_output(1, row_shape, &mean));
    OP_REQUIRES_OK(context, context->allocate_output(2, row_shape, &rstd));
    const T* in = x.flat<T>().data();
    T* out = y->flat<T>().data();
    float* means = mean->flat<float>().data();
    float* rstds = rstd->flat<float>().data();
    auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
    pool->ParallelFor(rows, width * 12, [&](int64_t begin, int64_t end) {
      layer_norm_forward(element_of<T>(), in + begin * width, gamma.flat<float>().data(),
                         beta.flat<float>().data(), epsilon_, end - begin, width,
                         out + begin * width, means + begin, rstds + begin);
    });
  }

 private:
  float epsilon_;
};

template <typename T>
class LayerNormGradOp : public OpKernel {
 public:
  explicit LayerNormGradOp(OpKernelConstruction* construction) : OpKernel(construction) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& gamma = context->input(1);
    const Tensor& mean = context->input(2);
    const Tensor& rstd = context->input(3);
    const Tensor& dy = context->input(4);
    int64_t rows = 0, width = 0;
    TensorShape row_shape;
    if (!shape_of(context, x, gamma, &rows, &width, &row_shape)) return;
    OP_REQUIRES(context, dy.shape() == x.shape() && mean.NumElements() == rows &&
                             rstd.NumElements() == rows,
                absl::InvalidArgumentError("dy, mean or rstd do not match x"));
    Tensor *dx = nullptr, *d_gamma = nullptr, *d_beta = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(context, context->allocate_output(1, gamma.shape(), &d_gamma));
    OP_REQUIRES_OK(context, context->allocate_output(2, gamma.shape(), &d_beta));
    // Fixed blocks of rows, each with its own partial sums for d_gamma and d_beta (added up
    // after, in block order: the result does not depend on the thread schedule).
    auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
    const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(rows, 4 * pool->NumThreads()));
    std::vector<float> partial(2 * blocks * width, 0.0f);
    const T* in = x.flat<T>().data();
    const T* d_in = dy.flat<T>().data();
    T* out = dx->flat<T>().data();
    pool->ParallelFor(blocks, rows / blocks * width * 20, [&](int64_t begin, int64_t end) {
      for (int64_t block = begin; block < end; ++block) {
        const int64_t first = block * rows / blocks, last = (block + 1) * rows / blocks;
        layer_norm_backward(element_of<T>(), in + first * width, gamma.flat<float>().data(),
                            mean.flat<float>().data() + first, rstd.flat<float>().data() + first,
                            d_in + first * width, last - first, width, out + first * width,
                            partial.data() + 2 * block * width,
                            partial.data() + (2 * block + 1) * width);
      }
    });
    float* gamma_out = d_gamma->flat<float>().data();
    float* beta_out = d_beta->flat<float>().data();
    std::fill(gamma_out, gamma_out + width, 0.0f);
    std::fill(beta_out, beta_out + width, 0.0f);
    for (int64_t block = 0; block < blocks; ++block)
      for (int64_t j = 0; j < width; ++j) {
        gamma_out[j] += partial[2 * block * width + j];
        beta_out[j] += partial[(2 * block + 1) * width + j];
      }
  }
};

}  // namespace
}  // namespace tfprot

REGISTER_OP("TfprotLayerNorm")
    .Attr("T: {float, bfloat16}")
    .Attr("epsilon: float")
    .Input("x: T")
    .Input("gamma: float")
    .Input("beta: float")
    .Output("y: T")
    .Output("mean: float")
    .Output("rstd: float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      tensorflow::shape_inference::ShapeHandle rows;
      TF_RETURN_IF_ERROR(c->Subshape(c->input(0), 0, -1, &rows));
      c->set_output(0, c->input(0));
      c->set_output(1, rows);
      c->set_output(2, rows);
      return absl::OkStatus();
    });

REGISTER_OP("TfprotLayerNormGrad")
    .Attr("T: {float, bfloat16}")
    .Input("x: T")
    .Input("gamma: float")
    .Input("mean: float")
    .Input("rstd: float")
    .Input("dy: T")
    .Output("dx: T")
    .Output("d_gamma: float")
    .Output("d_beta: float")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      c->set_output(1, c->input(1));
      c->set_output(2, c->input(1));
      return absl::OkStatus();
    });

#define TFPROT_REGISTER_LAYER_NORM(T)                                                        \
  REGISTER_KERNEL_BUILDER(                                                                   \
      Name("TfprotLayerNorm").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),         \
      tfprot::LayerNormOp<T>);                                                               \
  REGISTER_KERNEL_BUILDER(                                                                   \
      Name("TfprotLayerNormGrad").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),     \
      tfprot::LayerNormGradOp<T>);

TFPROT_REGISTER_LAYER_NORM(float)
TFPROT_REGISTER_LAYER_NORM(tensorflow::bfloat16)
