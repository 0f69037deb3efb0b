#include "tf_onednn.h"
#include <oneapi/dnnl/dnnl.h>
// libgomp (oneDNN's threading runtime in Debian): declared here so no compiler's omp.h is needed.
extern void omp_set_num_threads(int);
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// One tensor of the task: the user's memory (its pointer bound in prepare) and, where the
// primitive wants another layout, the primitive's own memory plus the reorder between them.
typedef struct {
    int arg;          // DNNL_ARG_*
    int user_index;   // index into the task's argument array
    int is_output;
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder;
} slot;

struct tf_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    // Post-ops of the primitive (bias activation, elementwise chains); owned, freed with it.
    dnnl_post_ops_t post_ops;
    dnnl_primitive_attr_t attr;
    int threads;
    int nslots;
    slot slots[6];
    dnnl_exec_arg_t exec[6];
    char impl[128];
};

#define CHECK(call, what)                                                                      \
    do {                                                                                       \
        dnnl_status_t st_ = (call);                                                            \
        if (st_ != dnnl_success) {                                                             \
            if (err) snprintf(err, errlen, "%s: oneDNN status %d", what, (int)st_);            \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

static tf_dnnl *op_new(int threads, char *err, size_t errlen) {
    tf_dnnl *op = calloc(1, sizeof *op);
    if (!op) { snprintf(err, errlen, "out of memory"); return NULL; }
    op->threads = threads > 0 ? threads : 1;
    // oneDNN sizes a primitive's parallel work by the thread count when it is created: set
    // it first. (Created at the default of every core and run pinned to one, a primitive's
    // OpenMP threads took turns on that core: 8 ms scheduler slices in a 0.1 ms kernel.)
    omp_set_num_threads(op->threads);
    if (dnnl_engine_create(&op->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&op->stream, op->engine, dnnl_stream_default_flags) != dnnl_success) {
        snprintf(err, errlen, "no oneDNN CPU engine");
        tf_dnnl_free(op);
        return NULL;
    }
    return op;
}

// Creates the primitive from `desc` (with `op->attr`, null for none), then one slot per tensor: the user's layout `user_md`,
// the primitive's layout queried for `arg`; a reorder where they differ.
static int op_finish_build(tf_dnnl *op, const void *desc, int n,
                           const int *args, const int *user_index, const int *is_output,
                           const dnnl_memory_desc_t *user_md, char *err, size_t errlen) {
    CHECK(dnnl_primitive_desc_create(&op->pd, desc, op->attr, op->engine, NULL), "primitive descriptor");
    CHECK(dnnl_primitive_create(&op->prim, op->pd), "primitive");
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(op->pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(op->impl, sizeof op->impl, "%s", impl);
    for (int i = 0; i < n; i++) {
        slot *s = &op->slots[op->nslots++];
        s->arg = args[i]; s->user_index = user_index[i]; s->is_output = is_output[i];
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(op->pd, dnnl_query_exec_arg_md, args[i]);
        if (!want || want->ndims == 0) want = &user_md[i];
        CHECK(dnnl_memory_create(&s->user, &user_md[i], op->engine, DNNL_MEMORY_NONE), "user memory");
        if (!dnnl_memory_desc_equal(want, &user_md[i])) {
            CHECK(dnnl_memory_create(&s->prim, want, op->engine, DNNL_MEMORY_ALLOCATE), "layout memory");
            dnnl_primitive_desc_t rpd = NULL;
            const dnnl_memory_desc_t *from = s->is_output ? want : &user_md[i];
            const dnnl_memory_desc_t *to = s->is_output ? &user_md[i] : want;
            CHECK(dnnl_reorder_primitive_desc_create(&rpd, from, op->engine, to, op->engine, NULL), "reorder descriptor");
            dnnl_status_t st = dnnl_primitive_create(&s->reorder, rpd);
            dnnl_primitive_desc_destroy(rpd);
            CHECK(st, "reorder");
        }
        op->exec[i].arg = s->arg;
        op->exec[i].memory = s->prim ? s->prim : s->user;
    }
    return 0;
fail:
    return -1;
}

static int run_reorder(tf_dnnl *op, slot *s) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, s->is_output ? s->prim : s->user}, {DNNL_ARG_TO, s->is_output ? s->user : s->prim}};
    if (dnnl_primitive_execute(s->reorder, op->stream, 2, a) != dnnl_success) return 1;
    return dnnl_stream_wait(op->stream) == dnnl_success ? 0 : 1;
}

int tf_dnnl_prepare(tf_dnnl *op, float *const *args) {
    omp_set_num_threads(op->threads);
    for (int i = 0; i < op->nslots; i++) {
        slot *s = &op->slots[i];
        if (dnnl_memory_set_data_handle(s->user, args[s->user_index]) != dnnl_success) return 1;
        if (s->reorder && !s->is_output && run_reorder(op, s)) return 1;
    }
    return 0;
}

int tf_dnnl_execute(tf_dnnl *op) {
    omp_set_num_threads(op->threads);
    if (dnnl_primitive_execute(op->prim, op->stream, op->nslots, op->exec) != dnnl_success) return 1;
    return dnnl_stream_wait(op->stream) == dnnl_success ? 0 : 1;
}

int tf_dnnl_finish(tf_dnnl *op) {
    for (int i = 0; i < op->nslots; i++) {
        slot *s = &op->slots[i];
        if (s->reorder && s->is_output && run_reorder(op, s)) return 1;
    }
    return 0;
}

const char *tf_dnnl_impl(const tf_dnnl *op) { return op->impl; }

const char *tf_dnnl_version(void) {
    static char text[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(text, sizeof text, "%d.%d.%d", v->major, v->minor, v->patch);
    return text;
}

void tf_dnnl_free(tf_dnnl *op) {
    if (!op) return;
    for (int i = 0; i < op->nslots; i++) {
        slot *s = &op->slots[i];
        if (s->reorder) dnnl_primitive_destroy(s->reorder);
        if (s->prim) dnnl_memory_destroy(s->prim);
        if (s->user) dnnl_memory_destroy(s->user);
    }
    if (op->prim) dnnl_primitive_destroy(op->prim);
    if (op->attr) dnnl_primitive_attr_destroy(op->attr);
    if (op->post_ops) dnnl_post_ops_destroy(op->post_ops);
    if (op->pd) dnnl_primitive_desc_destroy(op->pd);
    if (op->stream) dnnl_stream_destroy(op->stream);
    if (op->engine) dnnl_engine_destroy(op->engine);
    free(op);
}

static dnnl_status_t md(dnnl_memory_desc_t *d, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
    return dnnl_memory_desc_init_by_tag(d, ndims, dims, dnnl_f32, tag);
}

tf_dnnl *tf_dnnl_matmul(long batch, long m, long n, long k, int bias, int act, int threads, char *err, size_t errlen) {
    tf_dnnl *op = op_new(threads, err, errlen);
    if (!op) return NULL;
    int nd = batch > 0 ? 3 : 2;
    dnnl_dims_t a = {m, k}, b = {k, n}, c = {m, n}, bb = {1, n};
    if (nd == 3) {
        a[0] = batch; a[1] = m; a[2] = k; b[0] = batch; b[1] = k; b[2] = n; c[0] = batch; c[1] = m; c[2] = n;
    }
    dnnl_format_tag_t plain = nd == 3 ? dnnl_abc : dnnl_ab;
    dnnl_memory_desc_t user[4], wany, bias_md;
    CHECK(md(&user[0], nd, a, plain), "A");
    CHECK(md(&user[1], nd, b, plain), "B");
    CHECK(md(&wany, nd, b, dnnl_format_tag_any), "B any");
    int i = 2;
    if (bias) { CHECK(md(&bias_md, 2, bb, dnnl_ab), "bias"); user[i++] = bias_md; }
    CHECK(md(&user[i], nd, c, plain), "C");
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &user[0], &wany, bias ? &bias_md : NULL, &user[i]), "matmul");
    CHECK(dnnl_primitive_attr_create(&op->attr), "attr");
    if (act) {
        CHECK(dnnl_post_ops_create(&op->post_ops), "post-ops");
        CHECK(dnnl_post_ops_append_eltwise(op->post_ops, 1.0f, act == 1 ? dnnl_eltwise_relu : dnnl_eltwise_gelu_tanh, 0, 0), "activation");
        CHECK(dnnl_primitive_attr_set_post_ops(op->attr, op->post_ops), "set post-ops");
    }
    int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    int index[4] = {0, 1, 2, 3}, out[4] = {0, 0, 0, 1};
    if (!bias) { args[2] = DNNL_ARG_DST; out[2] = 1; }
    if (op_finish_build(op, &desc, bias ? 4 : 3, args, index, out, user, err, errlen)) goto fail;
    return op;
fail:
    tf_dnnl_free(op);
    return NULL;
}

tf_dnnl *tf_dnnl_conv(long n, long c, long h, long w, long k, long r, long s, long stride, long pad, long dil,
                      long groups, int nhwc, int depthwise, long p, long q, int threads, char *err, size_t errlen) {
    tf_dnnl *op = op_new(threads, err, errlen);
    if (!op) return NULL;
    dnnl_dims_t src = {n, c, h, w}, dst = {n, k, p, q};
    dnnl_memory_desc_t user[3], src_any, w_any, dst_any;
    CHECK(md(&user[0], 4, src, nhwc ? dnnl_nhwc : dnnl_nchw), "input");
    CHECK(md(&user[2], 4, dst, nhwc ? dnnl_nhwc : dnnl_nchw), "output");
    if (groups == 1) {
        dnnl_dims_t wd = {k, c, r, s};
        CHECK(md(&user[1], 4, wd, nhwc ? dnnl_ohwi : dnnl_oihw), "weight");
        CHECK(md(&w_any, 4, wd, dnnl_format_tag_any), "weight any");
    } else {
        dnnl_dims_t wd = {groups, k / groups, c / groups, r, s};
        // Depthwise NHWC weights are R,S,C (hwigo with i = o = 1); grouped NHWC are K,R,S,C/g.
        dnnl_format_tag_t tag = !nhwc ? dnnl_goihw : depthwise ? dnnl_hwigo : dnnl_gohwi;
        CHECK(md(&user[1], 5, wd, tag), "weight");
        CHECK(md(&w_any, 5, wd, dnnl_format_tag_any), "weight any");
    }
    CHECK(md(&src_any, 4, src, dnnl_format_tag_any), "input any");
    CHECK(md(&dst_any, 4, dst, dnnl_format_tag_any), "output any");
    long ext_h = (r - 1) * dil + 1, ext_w = (s - 1) * dil + 1;
    dnnl_dims_t strides = {stride, stride}, dilates = {dil - 1, dil - 1}, pl = {pad, pad};
    dnnl_dims_t pr = {(p - 1) * stride + ext_h - h - pad, (q - 1) * stride + ext_w - w - pad};
    dnnl_convolution_desc_t desc;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_auto, &src_any, &w_any,
                                                     NULL, &dst_any, strides, dilates, pl, pr), "convolution");
    int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, index[3] = {0, 1, 2}, out[3] = {0, 0, 1};
    if (op_finish_build(op, &desc, 3, args, index, out, user, err, errlen)) goto fail;
    return op;
fail:
    tf_dnnl_free(op);
    return NULL;
}

tf_dnnl *tf_dnnl_softmax(long rows, long cols, int threads, char *err, size_t errlen) {
    tf_dnnl *op = op_new(threads, err, errlen);
    if (!op) return NULL;
    dnnl_dims_t d = {rows, cols};
    dnnl_memory_desc_t user[2];
    CHECK(md(&user[0], 2, d, dnnl_ab), "x");
    user[1] = user[0];
    dnnl_softmax_desc_t desc;
    CHECK(dnnl_softmax_forward_desc_init(&desc, dnnl_forward_inference, &user[0], 1), "softmax");
    int args[2] = {DNNL_ARG_SRC, DNNL_ARG_DST}, index[2] = {0, 1}, out[2] = {0, 1};
    if (op_finish_build(op, &desc, 2, args, index, out, user, err, errlen)) goto fail;
    return op;
fail:
    tf_dnnl_free(op);
    return NULL;
}

// Chains: 0 x+y, 1 relu(x+y), 2 tanh(x*y+x), 3 gelu(x+y) (tanh form), as one binary
// primitive with post-ops.
tf_dnnl *tf_dnnl_elementwise(long n, int chain, int threads, char *err, size_t errlen) {
    tf_dnnl *op = op_new(threads, err, errlen);
    if (!op) return NULL;
    dnnl_dims_t d = {n};
    dnnl_memory_desc_t user[4];
    CHECK(md(&user[0], 1, d, dnnl_a), "x");
    user[1] = user[0]; user[2] = user[0]; user[3] = user[0];
    dnnl_binary_desc_t desc;
    CHECK(dnnl_binary_desc_init(&desc, chain == 2 ? dnnl_binary_mul : dnnl_binary_add, &user[0], &user[1], &user[2]), "binary");
    CHECK(dnnl_primitive_attr_create(&op->attr), "attr");
    CHECK(dnnl_post_ops_create(&op->post_ops), "post-ops");
    if (chain == 2) CHECK(dnnl_post_ops_append_binary(op->post_ops, dnnl_binary_add, &user[0]), "x*y+x");
    if (chain == 1 || chain == 2 || chain == 3) {
        dnnl_alg_kind_t alg = chain == 1 ? dnnl_eltwise_relu : chain == 2 ? dnnl_eltwise_tanh : dnnl_eltwise_gelu_tanh;
        CHECK(dnnl_post_ops_append_eltwise(op->post_ops, 1.0f, alg, 0, 0), "activation");
    }
    CHECK(dnnl_primitive_attr_set_post_ops(op->attr, op->post_ops), "set post-ops");
    int args[4] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1};
    int index[4] = {0, 1, 2, 0}, out[4] = {0, 0, 1, 0};
    // The post-op's x (user[3], argument 0) is bound like the other tensors (never
    // reordered: same layout).
    if (op_finish_build(op, &desc, chain == 2 ? 4 : 3, args, index, out, user, err, errlen)) goto fail;
    return op;
fail:
    tf_dnnl_free(op);
    return NULL;
}
