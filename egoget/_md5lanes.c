/* MD5 of many independent streams at once, one stream per SIMD lane.
 *
 * Every S3 ETag egoget checks is an MD5 (of the object, or of each multipart part), and one MD5
 * stream cannot be sped up: each 64-byte block depends on the one before. But a download has
 * many streams in flight (one per part per worker), so 16 (AVX-512) or 8 (AVX2) of them advance
 * together, block by block, in the lanes of one vector register. On the benchmark machine that
 * is several times the throughput of OpenSSL's MD5 on one core.
 *
 * The state of a stream is a small bytearray owned by Python (see egoget/transfer/md5.py);
 * update_many() advances a set of distinct states with the GIL released. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t h[4];
    uint64_t length;
    uint32_t tail_len;
    uint32_t reserved;
    uint8_t tail[64];
} md5_state;

static inline uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

#define MD5_F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define MD5_G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))

/* The 64 steps of RFC 1321, for any STEP(f, a, b, c, d, word, constant, shift). */
#define MD5_ROUNDS(STEP, X)                                                                     \
    STEP(MD5_F, a, b, c, d, X[0], 0xd76aa478u, 7)                                              \
    STEP(MD5_F, d, a, b, c, X[1], 0xe8c7b756u, 12)                                             \
    STEP(MD5_F, c, d, a, b, X[2], 0x242070dbu, 17)                                             \
    STEP(MD5_F, b, c, d, a, X[3], 0xc1bdceeeu, 22)                                             \
    STEP(MD5_F, a, b, c, d, X[4], 0xf57c0fafu, 7)                                              \
    STEP(MD5_F, d, a, b, c, X[5], 0x4787c62au, 12)                                             \
    STEP(MD5_F, c, d, a, b, X[6], 0xa8304613u, 17)                                             \
    STEP(MD5_F, b, c, d, a, X[7], 0xfd469501u, 22)                                             \
    STEP(MD5_F, a, b, c, d, X[8], 0x698098d8u, 7)                                              \
    STEP(MD5_F, d, a, b, c, X[9], 0x8b44f7afu, 12)                                             \
    STEP(MD5_F, c, d, a, b, X[10], 0xffff5bb1u, 17)                                            \
    STEP(MD5_F, b, c, d, a, X[11], 0x895cd7beu, 22)                                            \
    STEP(MD5_F, a, b, c, d, X[12], 0x6b901122u, 7)                                             \
    STEP(MD5_F, d, a, b, c, X[13], 0xfd987193u, 12)                                            \
    STEP(MD5_F, c, d, a, b, X[14], 0xa679438eu, 17)                                            \
    STEP(MD5_F, b, c, d, a, X[15], 0x49b40821u, 22)                                            \
    STEP(MD5_G, a, b, c, d, X[1], 0xf61e2562u, 5)                                              \
    STEP(MD5_G, d, a, b, c, X[6], 0xc040b340u, 9)                                              \
    STEP(MD5_G, c, d, a, b, X[11], 0x265e5a51u, 14)                                            \
    STEP(MD5_G, b, c, d, a, X[0], 0xe9b6c7aau, 20)                                             \
    STEP(MD5_G, a, b, c, d, X[5], 0xd62f105du, 5)                                              \
    STEP(MD5_G, d, a, b, c, X[10], 0x02441453u, 9)                                             \
    STEP(MD5_G, c, d, a, b, X[15], 0xd8a1e681u, 14)                                            \
    STEP(MD5_G, b, c, d, a, X[4], 0xe7d3fbc8u, 20)                                             \
    STEP(MD5_G, a, b, c, d, X[9], 0x21e1cde6u, 5)                                              \
    STEP(MD5_G, d, a, b, c, X[14], 0xc33707d6u, 9)                                             \
    STEP(MD5_G, c, d, a, b, X[3], 0xf4d50d87u, 14)                                             \
    STEP(MD5_G, b, c, d, a, X[8], 0x455a14edu, 20)                                             \
    STEP(MD5_G, a, b, c, d, X[13], 0xa9e3e905u, 5)                                             \
    STEP(MD5_G, d, a, b, c, X[2], 0xfcefa3f8u, 9)                                              \
    STEP(MD5_G, c, d, a, b, X[7], 0x676f02d9u, 14)                                             \
    STEP(MD5_G, b, c, d, a, X[12], 0x8d2a4c8au, 20)                                            \
    STEP(MD5_H, a, b, c, d, X[5], 0xfffa3942u, 4)                                              \
    STEP(MD5_H, d, a, b, c, X[8], 0x8771f681u, 11)                                             \
    STEP(MD5_H, c, d, a, b, X[11], 0x6d9d6122u, 16)                                            \
    STEP(MD5_H, b, c, d, a, X[14], 0xfde5380cu, 23)                                            \
    STEP(MD5_H, a, b, c, d, X[1], 0xa4beea44u, 4)                                              \
    STEP(MD5_H, d, a, b, c, X[4], 0x4bdecfa9u, 11)                                             \
    STEP(MD5_H, c, d, a, b, X[7], 0xf6bb4b60u, 16)                                             \
    STEP(MD5_H, b, c, d, a, X[10], 0xbebfbc70u, 23)                                            \
    STEP(MD5_H, a, b, c, d, X[13], 0x289b7ec6u, 4)                                             \
    STEP(MD5_H, d, a, b, c, X[0], 0xeaa127fau, 11)                                             \
    STEP(MD5_H, c, d, a, b, X[3], 0xd4ef3085u, 16)                                             \
    STEP(MD5_H, b, c, d, a, X[6], 0x04881d05u, 23)                                             \
    STEP(MD5_H, a, b, c, d, X[9], 0xd9d4d039u, 4)                                              \
    STEP(MD5_H, d, a, b, c, X[12], 0xe6db99e5u, 11)                                            \
    STEP(MD5_H, c, d, a, b, X[15], 0x1fa27cf8u, 16)                                            \
    STEP(MD5_H, b, c, d, a, X[2], 0xc4ac5665u, 23)                                             \
    STEP(MD5_I, a, b, c, d, X[0], 0xf4292244u, 6)                                              \
    STEP(MD5_I, d, a, b, c, X[7], 0x432aff97u, 10)                                             \
    STEP(MD5_I, c, d, a, b, X[14], 0xab9423a7u, 15)                                            \
    STEP(MD5_I, b, c, d, a, X[5], 0xfc93a039u, 21)                                             \
    STEP(MD5_I, a, b, c, d, X[12], 0x655b59c3u, 6)                                             \
    STEP(MD5_I, d, a, b, c, X[3], 0x8f0ccc92u, 10)                                             \
    STEP(MD5_I, c, d, a, b, X[10], 0xffeff47du, 15)                                            \
    STEP(MD5_I, b, c, d, a, X[1], 0x85845dd1u, 21)                                             \
    STEP(MD5_I, a, b, c, d, X[8], 0x6fa87e4fu, 6)                                              \
    STEP(MD5_I, d, a, b, c, X[15], 0xfe2ce6e0u, 10)                                            \
    STEP(MD5_I, c, d, a, b, X[6], 0xa3014314u, 15)                                             \
    STEP(MD5_I, b, c, d, a, X[13], 0x4e0811a1u, 21)                                            \
    STEP(MD5_I, a, b, c, d, X[4], 0xf7537e82u, 6)                                              \
    STEP(MD5_I, d, a, b, c, X[11], 0xbd3af235u, 10)                                            \
    STEP(MD5_I, c, d, a, b, X[2], 0x2ad7d2bbu, 15)                                             \
    STEP(MD5_I, b, c, d, a, X[9], 0xeb86d391u, 21)

static void md5_blocks_scalar(uint32_t h[4], const uint8_t *p, size_t nblocks)
{
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (size_t block = 0; block < nblocks; block++, p += 64) {
        uint32_t x[16];
        for (int i = 0; i < 16; i++)
            x[i] = load_le32(p + 4 * i);
        uint32_t aa = a, bb = b, cc = c, dd = d;
#define S_STEP(f, a, b, c, d, x, t, s)                                                          \
    a += f(b, c, d) + (x) + (t);                                                                \
    a = (a << (s)) | (a >> (32 - (s)));                                                         \
    a += b;
        MD5_ROUNDS(S_STEP, x)
#undef S_STEP
        a += aa;
        b += bb;
        c += cc;
        d += dd;
    }
    h[0] = a;
    h[1] = b;
    h[2] = c;
    h[3] = d;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_X86_KERNELS 1
#define KERNEL_NAME md5_blocks_x16
#define KERNEL_LANES 16
#define KERNEL_TARGET __attribute__((target("avx512f")))
#include "_md5lanes_kernel.h"
#define KERNEL_NAME md5_blocks_x8
#define KERNEL_LANES 8
#define KERNEL_TARGET __attribute__((target("avx2")))
#include "_md5lanes_kernel.h"
#else
#define HAVE_X86_KERNELS 0
/* Elsewhere (aarch64: NEON) the compiler's baseline vectors carry 8 lanes. */
#define KERNEL_NAME md5_blocks_x8
#define KERNEL_LANES 8
#define KERNEL_TARGET
#include "_md5lanes_kernel.h"
#endif

#define MAX_LANES 16

static int lanes_available = 1; /* set once at import: 16, 8 or 1 */

typedef struct {
    md5_state *state;
    const uint8_t *blocks;
    size_t nblocks;
} pending;

static const uint8_t idle_block[64];

/* Advance up to `width` streams with the widest kernel, by as many blocks as the shortest has. */
static void run_lanes(pending *work[], int count, int width)
{
    uint32_t idle_state[4];
    uint32_t *h[MAX_LANES];
    const uint8_t *ptr[MAX_LANES];
    size_t stride[MAX_LANES];
    size_t nblocks = SIZE_MAX;
    for (int l = 0; l < width; l++) {
        if (l < count) {
            h[l] = work[l]->state->h;
            ptr[l] = work[l]->blocks;
            stride[l] = 64;
            if (work[l]->nblocks < nblocks)
                nblocks = work[l]->nblocks;
        } else {
            h[l] = idle_state;
            ptr[l] = idle_block;
            stride[l] = 0;
        }
    }
#if HAVE_X86_KERNELS
    if (width == 16)
        md5_blocks_x16(h, ptr, stride, nblocks);
    else
#endif
        md5_blocks_x8(h, ptr, stride, nblocks);
    for (int l = 0; l < count; l++) {
        work[l]->blocks += 64 * nblocks;
        work[l]->nblocks -= nblocks;
    }
}

static void hash_pending(pending *items, Py_ssize_t n)
{
    pending *work[MAX_LANES];
    for (;;) {
        int count = 0;
        for (Py_ssize_t i = 0; i < n && count < lanes_available; i++)
            if (items[i].nblocks)
                work[count++] = &items[i];
        if (count == 0)
            return;
        if (count == 1 || lanes_available == 1) {
            /* One stream left: one scalar lane beats a mostly idle vector. */
            md5_blocks_scalar(work[0]->state->h, work[0]->blocks, work[0]->nblocks);
            work[0]->nblocks = 0;
        } else {
            run_lanes(work, count, count > 8 ? 16 : 8);
        }
    }
}

/* Feed the bytes that complete a stream's partial block; the rest waits as whole blocks. */
static void take_bytes(pending *item, md5_state *state, const uint8_t *data, size_t len)
{
    state->length += len;
    item->state = state;
    item->nblocks = 0;
    if (state->tail_len) {
        size_t take = 64 - state->tail_len < len ? 64 - state->tail_len : len;
        memcpy(state->tail + state->tail_len, data, take);
        state->tail_len += (uint32_t)take;
        data += take;
        len -= take;
        if (state->tail_len < 64)
            return;
        md5_blocks_scalar(state->h, state->tail, 1);
        state->tail_len = 0;
    }
    item->blocks = data;
    item->nblocks = len / 64;
    memcpy(state->tail, data + 64 * item->nblocks, len % 64);
    state->tail_len = (uint32_t)(len % 64);
}

static md5_state *state_of(Py_buffer *view)
{
    if (view->len != (Py_ssize_t)sizeof(md5_state)) {
        PyErr_Format(PyExc_ValueError, "an MD5 lane state is %zu bytes, not %zd",
                     sizeof(md5_state), view->len);
        return NULL;
    }
    return (md5_state *)view->buf;
}

static PyObject *py_init(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE) < 0)
        return NULL;
    md5_state *state = state_of(&view);
    if (state) {
        memset(state, 0, sizeof *state);
        state->h[0] = 0x67452301u;
        state->h[1] = 0xefcdab89u;
        state->h[2] = 0x98badcfeu;
        state->h[3] = 0x10325476u;
    }
    PyBuffer_Release(&view);
    if (!state)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *py_update_many(PyObject *self, PyObject *args)
{
    PyObject *states_arg, *datas_arg;
    if (!PyArg_ParseTuple(args, "OO:update_many", &states_arg, &datas_arg))
        return NULL;
    PyObject *states = PySequence_Fast(states_arg, "states must be a sequence");
    if (!states)
        return NULL;
    PyObject *datas = PySequence_Fast(datas_arg, "datas must be a sequence");
    if (!datas) {
        Py_DECREF(states);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(states);
    PyObject *result = NULL;
    Py_buffer *views = NULL;
    pending *items = NULL;
    Py_ssize_t acquired = 0;
    if (PySequence_Fast_GET_SIZE(datas) != n) {
        PyErr_SetString(PyExc_ValueError, "one data buffer per state");
        goto done;
    }
    views = PyMem_Calloc(2 * (size_t)n + 1, sizeof(Py_buffer));
    items = PyMem_Calloc((size_t)n + 1, sizeof(pending));
    if (!views || !items) {
        PyErr_NoMemory();
        goto done;
    }
    for (; acquired < n; acquired++) {
        Py_buffer *state_view = &views[2 * acquired], *data_view = &views[2 * acquired + 1];
        PyObject *state_obj = PySequence_Fast_GET_ITEM(states, acquired);
        PyObject *data_obj = PySequence_Fast_GET_ITEM(datas, acquired);
        if (PyObject_GetBuffer(state_obj, state_view, PyBUF_WRITABLE) < 0)
            goto done;
        if (PyObject_GetBuffer(data_obj, data_view, PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(state_view);
            goto done;
        }
        if (!state_of(state_view)) {
            PyBuffer_Release(state_view);
            PyBuffer_Release(data_view);
            goto done;
        }
        for (Py_ssize_t j = 0; j < acquired; j++) {
            if (views[2 * j].buf == state_view->buf) {
                PyErr_SetString(PyExc_ValueError, "a state appears twice in one update_many");
                PyBuffer_Release(state_view);
                PyBuffer_Release(data_view);
                goto done;
            }
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        take_bytes(&items[i], (md5_state *)views[2 * i].buf, views[2 * i + 1].buf,
                   (size_t)views[2 * i + 1].len);
    hash_pending(items, n);
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    for (Py_ssize_t i = 0; i < acquired; i++) {
        PyBuffer_Release(&views[2 * i]);
        PyBuffer_Release(&views[2 * i + 1]);
    }
    PyMem_Free(views);
    PyMem_Free(items);
    Py_DECREF(states);
    Py_DECREF(datas);
    return result;
}

static PyObject *py_digest(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (view.len != (Py_ssize_t)sizeof(md5_state)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "not an MD5 lane state");
        return NULL;
    }
    md5_state state;
    memcpy(&state, view.buf, sizeof state);
    PyBuffer_Release(&view);

    uint8_t final[128] = {0};
    size_t tail = state.tail_len, padded = tail < 56 ? 64 : 128;
    memcpy(final, state.tail, tail);
    final[tail] = 0x80;
    uint64_t bits = state.length * 8;
    for (int i = 0; i < 8; i++)
        final[padded - 8 + i] = (uint8_t)(bits >> (8 * i));
    md5_blocks_scalar(state.h, final, padded / 64);

    uint8_t out[16];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(state.h[i] >> (8 * j));
    return PyBytes_FromStringAndSize((const char *)out, 16);
}

static PyObject *py_set_lanes(PyObject *self, PyObject *arg)
{
    long want = PyLong_AsLong(arg);
    if (want == -1 && PyErr_Occurred())
        return NULL;
    int best = 1;
#if HAVE_X86_KERNELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        best = 16;
    else if (__builtin_cpu_supports("avx2"))
        best = 8;
#else
    best = 8;
#endif
    lanes_available = (want > 0 && want < best) ? (want >= 8 ? 8 : 1) : best;
    return PyLong_FromLong(lanes_available);
}

static PyMethodDef methods[] = {
    {"init", py_init, METH_O, "init(state): reset a state bytearray to MD5's initial value."},
    {"update_many", py_update_many, METH_VARARGS,
     "update_many(states, datas): advance each distinct state by its data, in SIMD lanes."},
    {"digest", py_digest, METH_O, "digest(state) -> bytes: the MD5 so far; the state is kept."},
    {"set_lanes", py_set_lanes, METH_O,
     "set_lanes(n) -> int: use at most n lanes (0: the widest this CPU has); returns the width."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "egoget._md5lanes", "MD5 of many streams in SIMD lanes.", -1, methods,
};

PyMODINIT_FUNC PyInit__md5lanes(void)
{
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddIntConstant(m, "STATE_SIZE", (long)sizeof(md5_state)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *zero = PyLong_FromLong(0);
    PyObject *width = zero ? py_set_lanes(m, zero) : NULL;
    Py_XDECREF(zero);
    if (!width) {
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(width);
    return m;
}
