// A small shim over oneDNN's C API (Debian libdnnl-dev): one primitive per TunFleet task,
// behind the generated kernels' argument order, so the agent times oneDNN as a second CPU
// vendor baseline. Only the agent links it.
#ifndef TF_ONEDNN_H
#define TF_ONEDNN_H
#include <stddef.h>

typedef struct tf_dnnl tf_dnnl;

// Each constructor returns NULL and writes a reason into err when oneDNN has no
// implementation for the problem. Layouts are the tasks' (TaskSpec.tensors); the
// primitive picks its own for weights (and activations where it prefers them).
tf_dnnl *tf_dnnl_matmul(long batch, long m, long n, long k, int bias, int act, int threads, char *err, size_t errlen);
tf_dnnl *tf_dnnl_conv(long n, long c, long h, long w, long k, long r, long s, long stride, long pad, long dil,
                      long groups, int nhwc, int depthwise, long p, long q, int threads, char *err, size_t errlen);
tf_dnnl *tf_dnnl_softmax(long rows, long cols, int threads, char *err, size_t errlen);
tf_dnnl *tf_dnnl_elementwise(long n, int chain, int threads, char *err, size_t errlen);

// Binds the user's buffers and reorders inputs into the primitive's layouts: what a
// deployed model does once (weights) or once per layer boundary (activations). Not timed.
int tf_dnnl_prepare(tf_dnnl *op, float *const *args);
// The primitive alone: what is timed.
int tf_dnnl_execute(tf_dnnl *op);
// Reorders the output back into the user's layout (after a verified run).
int tf_dnnl_finish(tf_dnnl *op);
// The implementation oneDNN chose (e.g. "brgemm:avx512_core"), and the library version.
const char *tf_dnnl_impl(const tf_dnnl *op);
const char *tf_dnnl_version(void);
void tf_dnnl_free(tf_dnnl *op);

#endif
