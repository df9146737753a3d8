/* The package's C kernels (recbole_losses/native.py builds this file once per process and loads it
 * with ctypes; docs/performance.md). Built with -fopenmp, the loops run on OpenMP threads, which
 * are torch's own where torch ships the same libgomp.so.1; every kernel gives the same result for
 * any number of threads.
 *
 * draw_negatives: uniform negatives for the sampled batch mode, drawn and checked in one pass.
 * Row b of the [B, num] output has its own random stream: wyrand (a Weyl sequence of step P0
 * through a 128-bit multiply-fold) started at state s_b = mix(seed + b * G) (SplitMix64's mixer
 * and Weyl constant G), each 64-bit number used as two 32-bit halves, low half first. Each half
 * becomes an integer in [0, range) by Lemire's multiply-shift with rejection (exactly uniform;
 * n_items < 2^32). An entry takes the first draw from the items 1..n_items-1
 * that is not a training positive of the row's user (a bit set of the user's training items,
 * built per row); after max_rounds rejected draws it takes an exact draw from the complement: the
 * r-th free item is 1 + r + #{k : q_k <= r}, q_k = free_keys[k] - user * n_items the number of
 * free items below the user's k-th training item (binary search).
 *
 * draw_positives: the M sampled positives of each row, uniform with replacement over the user's
 * training items, on the same kind of row stream.
 *
 * group_by_item: a stable counting sort of the [B, K] candidate items, the grouping behind the
 * item gradient of the fused candidate scoring (recbole_losses/scoring.py): the same permutation
 * as a stable sort by (item, row). */
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif

#define P0 0xa0761d6478bd642fULL
#define P1 0xe7037ed1a0b428dbULL

static inline uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A row's stream: wyrand's 64-bit numbers, served as two 32-bit halves (low half first). */
typedef struct {
    uint64_t state;
    uint32_t spare;
    int has_spare;
} stream_t;

/* wyrand's next 64-bit number (its state only counts up by P0, so `state -= P0` gives it back). */
static inline uint64_t next64(stream_t *s) {
    s->state += P0;
    const __uint128_t t = (__uint128_t)s->state * (s->state ^ P1);
    return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

static inline uint32_t next32(stream_t *s) {
    if (s->has_spare) {
        s->has_spare = 0;
        return s->spare;
    }
    const uint64_t x = next64(s);
    s->spare = (uint32_t)(x >> 32);
    s->has_spare = 1;
    return (uint32_t)x;
}

/* Row b's stream: wyrand started at mix(seed + b * G), G SplitMix64's Weyl constant. */
static inline stream_t row_stream(uint64_t seed, int64_t b) {
    const stream_t stream = {mix(seed + (uint64_t)b * 0x9e3779b97f4a7c15ULL), 0, 0};
    return stream;
}

/* The next integer of the stream, uniform in [0, range), 1 <= range < 2^32 (Lemire: the high half
 * of a 32 x 32-bit product, rejecting the low halves below 2^32 mod range). */
static inline uint32_t bounded(stream_t *s, uint32_t range) {
    uint64_t m = (uint64_t)next32(s) * range;
    if ((uint32_t)m < range) {
        const uint32_t threshold = (0u - range) % range;
        while ((uint32_t)m < threshold) m = (uint64_t)next32(s) * range;
    }
    return (uint32_t)(m >> 32);
}

static inline int is_set(const uint64_t *bits, int64_t i) { return (bits[i >> 6] >> (i & 63)) & 1; }

/* How many entries of the ascending run [first, first + n) are <= value. */
static inline int64_t count_at_most(const int64_t *first, int64_t n, int64_t value) {
    const int64_t *lo = first;
    while (n > 0) {
        const int64_t half = n / 2;
        if (lo[half] <= value) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo - first;
}

/* The [rows, num] negatives of users[0..rows) into out, rows split over OpenMP threads when there are
 * at least min_parallel_entries entries; returns 0, or -1 where the bit sets cannot be allocated. */
int draw_negatives(int64_t *out, const int64_t *users, int64_t rows, int64_t num, const int64_t *indptr,
                   const int64_t *indices, const int64_t *free_keys, int64_t n_items, uint64_t seed,
                   int64_t max_rounds, int64_t min_parallel_entries) {
    const int parallel = rows * num >= min_parallel_entries;
    const int threads = parallel ? omp_get_max_threads() : 1;
    const size_t words = (size_t)(n_items + 63) / 64;
    uint64_t *bit_sets = calloc((size_t)threads * words, sizeof(uint64_t));
    if (bit_sets == NULL) return -1;
#pragma omp parallel for schedule(static) num_threads(threads) if (parallel)
    for (int64_t b = 0; b < rows; b++) {
        uint64_t *is_positive = bit_sets + (size_t)omp_get_thread_num() * words;
        const int64_t user = users[b], first = indptr[user], degree = indptr[user + 1] - first;
        const int64_t *positives = indices + first;
        for (int64_t k = 0; k < degree; k++) is_positive[positives[k] >> 6] |= 1ULL << (positives[k] & 63);
        stream_t stream = row_stream(seed, b);
        int64_t *row = out + b * num;
        const uint32_t range = (uint32_t)(n_items - 1);
        for (int64_t j = 0; j < num; j++) {
            /* The usual case, two draws from one 64-bit number: both halves pass Lemire's test
             * without its threshold and neither is a positive, so both first rounds accept.
             * Otherwise the number is given back and the draw goes the general way below: the
             * stream is the same either way. */
            if (max_rounds > 0 && !stream.has_spare && j + 1 < num) {
                const uint64_t x = next64(&stream);
                const uint64_t m0 = (x & 0xffffffffULL) * range, m1 = (x >> 32) * range;
                const int64_t c0 = 1 + (int64_t)(m0 >> 32), c1 = 1 + (int64_t)(m1 >> 32);
                if ((uint32_t)m0 >= range && (uint32_t)m1 >= range && !is_set(is_positive, c0) &&
                    !is_set(is_positive, c1)) {
                    row[j] = c0;
                    row[++j] = c1;
                    continue;
                }
                stream.state -= P0;
            }
            int64_t item = -1;
            for (int64_t round = 0; round < max_rounds; round++) {
                const int64_t candidate = 1 + (int64_t)bounded(&stream, range);
                if (!is_set(is_positive, candidate)) {
                    item = candidate;
                    break;
                }
            }
            if (item < 0) {
                const int64_t r = (int64_t)bounded(&stream, (uint32_t)(n_items - 1 - degree));
                item = 1 + r + count_at_most(free_keys + first, degree, user * n_items + r);
            }
            row[j] = item;
        }
        for (int64_t k = 0; k < degree; k++) is_positive[positives[k] >> 6] = 0;
    }
    free(bit_sets);
    return 0;
}

/* The [rows, num] positives of users[0..rows): draws with replacement from each user's training
 * items indices[indptr[u]..indptr[u+1]), row b on the stream of draw_negatives (from its own seed).
 * Returns 0, or -2 where a user has no training items (nothing is drawn then). */
int draw_positives(int64_t *out, const int64_t *users, int64_t rows, int64_t num, const int64_t *indptr,
                   const int64_t *indices, uint64_t seed) {
    for (int64_t b = 0; b < rows; b++)
        if (indptr[users[b] + 1] == indptr[users[b]]) return -2;
    for (int64_t b = 0; b < rows; b++) {
        const int64_t first = indptr[users[b]], degree = indptr[users[b] + 1] - first;
        stream_t stream = row_stream(seed, b);
        for (int64_t j = 0; j < num; j++) out[b * num + j] = indices[first + bounded(&stream, (uint32_t)degree)];
    }
    return 0;
}

/* Stable counting sort of items [rows, cols] (values in [0, n_items)) by item: order[p] is the
 * flat index of the p-th candidate and row_of[p] its row, items ascending and flat indices
 * ascending within an item; offsets[i] is where item i's run starts (int32: rows * cols < 2^31).
 * Threads take row blocks, so thread t's candidates of an item follow those of threads < t.
 * Returns 0, or -1 without memory. */
int group_by_item(const int64_t *items, int64_t rows, int64_t cols, int64_t n_items, int32_t *offsets,
                  int32_t *order, int32_t *row_of, int64_t min_parallel_entries) {
    const int parallel = rows * cols >= min_parallel_entries;
    const int threads = parallel ? omp_get_max_threads() : 1;
    int32_t *next = calloc((size_t)threads * (size_t)n_items, sizeof(int32_t));
    if (next == NULL) return -1;
#pragma omp parallel num_threads(threads) if (parallel)
    {
        const int t = omp_get_thread_num(), used = omp_get_num_threads();
        const int64_t first = rows * t / used, last = rows * (t + 1) / used;
        int32_t *count = next + (size_t)t * (size_t)n_items;
        for (int64_t e = first * cols; e < last * cols; e++) count[items[e]]++;
#pragma omp barrier
#pragma omp single
        {
            int32_t start = 0;
            for (int64_t i = 0; i < n_items; i++) {
                offsets[i] = start;
                for (int u = 0; u < used; u++) {
                    const int32_t c = next[(size_t)u * (size_t)n_items + i];
                    next[(size_t)u * (size_t)n_items + i] = start;
                    start += c;
                }
            }
        }
        for (int64_t b = first; b < last; b++) {
            for (int64_t k = 0; k < cols; k++) {
                const int64_t e = b * cols + k;
                const int32_t p = count[items[e]]++;
                order[p] = (int32_t)e;
                row_of[p] = (int32_t)b;
            }
        }
    }
    free(next);
    return 0;
}

/* The fused candidate scoring's three passes (recbole_losses/scoring.py, SampledScores), for a
 * row-major user [rows, dim], table [n_items, dim] and items [rows, cols], with the candidates
 * grouped by item by group_by_item (offsets, order, row_of). The forward and the item gradient go
 * item by item, so a table row is read once and the user rows they meet stay in cache; the user
 * gradient goes row by row. Every output entry is computed by one thread in a fixed order, so the
 * results are the same for any number of threads.
 *
 * sampled_dot: scores[order[p]] = <user[row_of[p]], table[i]> for the run p of each item i; the
 *   products are summed in vectors of LANES lanes (one vector per LANES dimensions, added in
 *   order), the lanes folded in halves (fold_*), then the dimensions past the last full vector.
 * user_gradient: out[b] = sum_k grad[b, k] * table[items[b, k]], k ascending.
 * item_gradient: out[i] = sum over the run p of item i of grad[order[p]] * user[row_of[p]], p
 *   ascending (flat index ascending); rows of items without candidates are zero.
 * normalize_rows: y = x / max(||x||, eps) row by row, with each row's norm; normalize_rows_backward:
 *   grad_x = (grad - y <grad, y>) / max(||x||, eps), the projection 0 on rows whose norm is below eps.
 * csr_matmul: P = A @ dense for a CSR A (indptr, indices, values), each row's products summed in
 *   order (graph propagation, recbole_losses/models/graph.py), stored in out unless out is NULL;
 *   where total is not NULL, also total = ((base if not NULL, else total) + P) / divisor, entry by
 *   entry (the division skipped where divisor is 1): a layer sum and its mean in the same pass.
 * Each returns 0. */
#ifndef __has_builtin
#define __has_builtin(x) 0
#endif
#define VECTOR_BYTES 64
#define BLOCK 64 /* dimensions a gradient pass accumulates at once (in registers for a full block) */

typedef float vec_f32 __attribute__((vector_size(VECTOR_BYTES)));
typedef double vec_f64 __attribute__((vector_size(VECTOR_BYTES)));

/* The lanes of v added in halves: lane l += lane l + 8, then l + 4, l + 2, l + 1. */
static inline float fold_f32(vec_f32 v) {
#if __has_builtin(__builtin_shufflevector)
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    v += __builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    return v[0];
#else
    for (int half = 8; half > 0; half /= 2)
        for (int l = 0; l < half; l++) v[l] += v[l + half];
    return v[0];
#endif
}

static inline double fold_f64(vec_f64 v) {
#if __has_builtin(__builtin_shufflevector)
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3);
    v += __builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1);
    return v[0];
#else
    for (int half = 4; half > 0; half /= 2)
        for (int l = 0; l < half; l++) v[l] += v[l + half];
    return v[0];
#endif
}

#define FLOAT_KERNELS(T, S)                                                                                  \
    enum { LANES_##S = VECTOR_BYTES / sizeof(T) };                                                           \
                                                                                                             \
    static inline vec_##S load_##S(const T *p) {                                                             \
        vec_##S v;                                                                                           \
        __builtin_memcpy(&v, p, sizeof v);                                                                   \
        return v;                                                                                            \
    }                                                                                                        \
                                                                                                             \
    static inline __attribute__((always_inline)) T dot_##S(const T *a, const T *b, int64_t n) {              \
        vec_##S acc = {0};                                                                                   \
        int64_t j = 0;                                                                                       \
        for (; j + LANES_##S <= n; j += LANES_##S) acc += load_##S(a + j) * load_##S(b + j);                 \
        T sum = fold_##S(acc);                                                                               \
        for (; j < n; j++) sum += a[j] * b[j];                                                               \
        return sum;                                                                                          \
    }                                                                                                        \
                                                                                                             \
    /* Item i's scores; n = dim, a constant where the caller passes BLOCK (the loop then unrolls). */        \
    static inline __attribute__((always_inline)) void item_scores_##S(                                       \
        T *scores, const T *user, const T *item, const int32_t *order, const int32_t *row_of,                \
        int64_t first, int64_t last, int64_t n) {                                                            \
        for (int64_t p = first; p < last; p++)                                                               \
            scores[order[p]] = dot_##S(user + (int64_t)row_of[p] * n, item, n);                              \
    }                                                                                                        \
                                                                                                             \
    /* out[0 .. n) = sum_p       weights[p'] * sources[s(p)][j0 .. j0 + n), p in [first, last), with         \
     * p' = weight_index[p] (p without an index) and s(p) = source_index[p] (or source_index32[p]).          \
     * n <= BLOCK; where the caller passes n = BLOCK the accumulators stay in registers. */                  \
    static inline __attribute__((always_inline)) void accumulate_run_##S(                                    \
        T *out, const T *weights, const int32_t *weight_index, const T *sources,                             \
        const int64_t *source_index, const int32_t *source_index32, int64_t first, int64_t last,             \
        int64_t dim, int64_t j0, int64_t n) {                                                                \
        vec_##S acc[BLOCK / LANES_##S] = {{0}};                                                              \
        T tail[LANES_##S] = {0};                                                                             \
        const int64_t whole = n / LANES_##S;                                                                 \
        for (int64_t p = first; p < last; p++) {                                                             \
            const T w = weights[weight_index ? weight_index[p] : p];                                         \
            const T *x = sources + (source_index ? source_index[p] : source_index32[p]) * dim + j0;          \
            for (int64_t v = 0; v < whole; v++) acc[v] += w * load_##S(x + v * LANES_##S);                   \
            for (int64_t j = whole * LANES_##S; j < n; j++) tail[j - whole * LANES_##S] += w * x[j];         \
        }                                                                                                    \
        for (int64_t v = 0; v < whole; v++)                                                                  \
            __builtin_memcpy(out + v * LANES_##S, &acc[v], sizeof acc[v]);                                   \
        for (int64_t j = whole * LANES_##S; j < n; j++) out[j] = tail[j - whole * LANES_##S];                \
    }                                                                                                        \
                                                                                                             \
    /* out[0 .. dim) = sum_p weights[p'] * sources[s(p)], block by block (accumulate_run). */                \
    static inline __attribute__((always_inline)) void accumulate_row_##S(                                    \
        T *out, const T *weights, const int32_t *weight_index, const T *sources,                             \
        const int64_t *source_index, const int32_t *source_index32, int64_t first, int64_t last,             \
        int64_t dim) {                                                                                       \
        for (int64_t j0 = 0; j0 < dim; j0 += BLOCK) {                                                        \
            if (dim - j0 >= BLOCK)                                                                           \
                accumulate_run_##S(out + j0, weights, weight_index, sources, source_index, source_index32,   \
                                   first, last, dim, j0, BLOCK);                                             \
            else                                                                                             \
                accumulate_run_##S(out + j0, weights, weight_index, sources, source_index, source_index32,   \
                                   first, last, dim, j0, dim - j0);                                          \
        }                                                                                                    \
    }                                                                                                        \
                                                                                                             \
    int sampled_dot_##S(T *scores, const T *user, const T *table, const int32_t *offsets,                    \
                        const int32_t *order, const int32_t *row_of, int64_t n_items, int64_t entries,       \
                        int64_t dim, int64_t min_parallel_entries) {                                         \
        _Pragma("omp parallel for schedule(dynamic, 32) if (entries >= min_parallel_entries)")               \
        for (int64_t i = 0; i < n_items; i++) {                                                              \
            const int64_t last = i + 1 < n_items ? offsets[i + 1] : entries;                                 \
            if (dim == BLOCK)                                                                                \
                item_scores_##S(scores, user, table + i * dim, order, row_of, offsets[i], last, BLOCK);      \
            else                                                                                             \
                item_scores_##S(scores, user, table + i * dim, order, row_of, offsets[i], last, dim);        \
        }                                                                                                    \
        return 0;                                                                                            \
    }                                                                                                        \
                                                                                                             \
    int user_gradient_##S(T *out, const T *grad, const T *table, const int64_t *items, int64_t rows,         \
                          int64_t cols, int64_t dim, int64_t min_parallel_entries) {                         \
        _Pragma("omp parallel for schedule(static) if (rows * cols >= min_parallel_entries)")                \
        for (int64_t b = 0; b < rows; b++)                                                                   \
            accumulate_row_##S(out + b * dim, grad + b * cols, NULL, table, items + b * cols, NULL, 0, cols, \
                               dim);                                                                         \
        return 0;                                                                                            \
    }                                                                                                        \
                                                                                                             \
    int item_gradient_##S(T *out, const T *grad, const T *user, const int32_t *offsets,                      \
                          const int32_t *order, const int32_t *row_of, int64_t n_items, int64_t entries,     \
                          int64_t dim, int64_t min_parallel_entries) {                                       \
        _Pragma("omp parallel for schedule(dynamic, 32) if (entries >= min_parallel_entries)")               \
        for (int64_t i = 0; i < n_items; i++) {                                                              \
            const int64_t first = offsets[i], last = i + 1 < n_items ? offsets[i + 1] : entries;             \
            accumulate_row_##S(out + i * dim, grad, order, user, NULL, row_of, first, last, dim);            \
        }                                                                                                    \
        return 0;                                                                                            \
    }                                                                                                        \
                                                                                                             \
    int csr_matmul_##S(T *out, T *total, const T *base, const int64_t *indptr, const int64_t *indices,       \
                       const T *values, const T *dense, int64_t rows, int64_t dim, T divisor,                \
                       int64_t min_parallel_entries) {                                                       \
        _Pragma("omp parallel for schedule(dynamic, 64) if (indptr[rows] >= min_parallel_entries)")          \
        for (int64_t r = 0; r < rows; r++) {                                                                 \
            for (int64_t j0 = 0; j0 < dim; j0 += BLOCK) {                                                    \
                const int64_t n = dim - j0 < BLOCK ? dim - j0 : BLOCK;                                       \
                T product[BLOCK];                                                                            \
                if (n == BLOCK)                                                                              \
                    accumulate_run_##S(product, values, NULL, dense, indices, NULL, indptr[r],               \
                                       indptr[r + 1], dim, j0, BLOCK);                                       \
                else                                                                                         \
                    accumulate_run_##S(product, values, NULL, dense, indices, NULL, indptr[r],               \
                                       indptr[r + 1], dim, j0, n);                                           \
                if (out)                                                                                     \
                    for (int64_t j = 0; j < n; j++) out[r * dim + j0 + j] = product[j];                      \
                if (total)                                                                                   \
                    for (int64_t j = 0; j < n; j++) {                                                        \
                        const int64_t e = r * dim + j0 + j;                                                  \
                        const T sum = (base ? base[e] : total[e]) + product[j];                              \
                        total[e] = divisor == 1 ? sum : sum / divisor;                                       \
                    }                                                                                        \
            }                                                                                                \
        }                                                                                                    \
        return 0;                                                                                            \
    }                                                                                                        \
                                                                                                             \
    int normalize_rows_##S(T *y, T *norms, const T *x, int64_t rows, int64_t dim, T eps,                     \
                           int64_t min_parallel_entries) {                                                   \
        _Pragma("omp parallel for schedule(static) if (rows * dim >= min_parallel_entries)")                 \
        for (int64_t r = 0; r < rows; r++) {                                                                 \
            const T *row = x + r * dim;                                                                      \
            const T norm = sqrt(dot_##S(row, row, dim)), denominator = norm < eps ? eps : norm;              \
            norms[r] = norm;                                                                                 \
            for (int64_t j = 0; j < dim; j++) y[r * dim + j] = row[j] / denominator;                         \
        }                                                                                                    \
        return 0;                                                                                            \
    }                                                                                                        \
                                                                                                             \
    int normalize_rows_backward_##S(T *grad_x, const T *grad, const T *y, const T *norms, int64_t rows,      \
                                    int64_t dim, T eps, int64_t min_parallel_entries) {                      \
        _Pragma("omp parallel for schedule(static) if (rows * dim >= min_parallel_entries)")                 \
        for (int64_t r = 0; r < rows; r++) {                                                                 \
            const T *g = grad + r * dim, *yr = y + r * dim;                                                  \
            const T projection = norms[r] < eps ? 0 : dot_##S(g, yr, dim);                                   \
            const T denominator = norms[r] < eps ? eps : norms[r];                                           \
            for (int64_t j = 0; j < dim; j++)                                                                \
                grad_x[r * dim + j] = (g[j] - yr[j] * projection) / denominator;                             \
        }                                                                                                    \
        return 0;                                                                                            \
    }

FLOAT_KERNELS(float, f32)
FLOAT_KERNELS(double, f64)
