// ESM's exact GELU for tfprot on CPUs, y = x·Φ(x), and its gradient: one pass through memory each
// (TensorFlow's computation in float32 from bfloat16 is a cast, erfc, two products and a cast
// forward, twice that backward). The arithmetic is in kernel.cc.

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

// Splits `count` elements over TensorFlow's intra-op threads, in blocks of 16.
template <typename F>
void parallel_elements(OpKernelContext* context, int64_t count, F&& work) {
  auto* pool = context->device()->tensorflow_cpu_worker_threads()->workers;
  const int64_t blocks = (count + 15) / 16;
  pool->ParallelFor(blocks, 16 * 40, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * 16;
    work(first, std::min(end * 16, count) - first);
  });
}

template <typename T>
class GeluOp : public OpKernel {
 public:
  explicit GeluOp(OpKernelConstruction* construction) : OpKernel(construction) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    Tensor* y = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &y));
    const T* in = x.flat<T>().data();
    T* out = y->flat<T>().data();
    parallel_elements(context, x.NumElements(), [&](int64_t first, int64_t count) {
      gelu_forward(element_of<T>(), in + first, out + first, count);
    });
  }
};

template <typename T>
class GeluGradOp : public OpKernel {
 public:
  explicit GeluGradOp(OpKernelConstruction* construction) : OpKernel(construction) {}

  void Compute(OpKernelContext* context) override {
    const Tensor& x = context->input(0);
    const Tensor& dy = context->input(1);
    OP_REQUIRES(context, x.shape() == dy.shape(),
                absl::InvalidArgumentError("x and its gradient differ in shape"));
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &dx));
    const T* in = x.flat<T>().data();
    const T* gradient = dy.flat<T>().data();
    T* out = dx->flat<T>().data();
    parallel_elements(context, x.NumElements(), [&](int64_t first, int64_t count) {
      gelu_backward(element_of<T>(), in + first, gradient + first, out + first, count);
    });
  }
};

}  // namespace
}  // namespace tfprot

REGISTER_OP("TfprotGelu")
    .Attr("T: {float, bfloat16}")
    .Input("x: T")
    .Output("y: T")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    });

REGISTER_OP("TfprotGeluGrad")
    .Attr("T: {float, bfloat16}")
    .Input("x: T")
    .Input("dy: T")
    .Output("dx: T")
    .SetShapeFn([](tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    });

#define TFPROT_REGISTER_GELU(T)                                                          \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("TfprotGelu").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),          \
      tfprot::GeluOp<T>);                                                                \
  REGISTER_KERNEL_BUILDER(                                                               \
      Name("TfprotGeluGrad").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),      \
      tfprot::GeluGradOp<T>);

TFPROT_REGISTER_GELU(float)
TFPROT_REGISTER_GELU(tensorflow::bfloat16)
